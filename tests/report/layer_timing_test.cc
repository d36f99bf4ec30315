// Per-layer timing block of run --json: the layer's time is its compute plus the waits, every
// communication kind splits into exposed + hidden, and a layer without communication is exactly
// its compute.
#include "report/layer_timing.h"

#include "spsim/engine.h"
#include "spsim/report.h"
#include "test_util.h"

namespace spsim {
namespace {

RunReport report_for(const JobConfig& job) {
  const auto engine = make_engine("analytic");
  return evaluate(test::llama3_8b(), load_topology("dgx-h100"), job, *engine);
}

double sum_exposed(const nlohmann::json& pass) {
  double total = 0;
  for (const auto& [kind, v] : pass["comm"].items()) total += v["exposed_s"].get<double>();
  return total;
}

TEST(LayerTiming, TimeIsComputePlusWaitsAndBusySplitsIntoExposedAndHidden) {
  JobConfig job;
  job.strategy = "usp";
  job.num_gpus = 16;
  job.ulysses_degree = 8;
  job.ring_degree = 2;
  job.zero_stage = 3;
  job.seq_length = 65536;
  const auto j = layer_timing_json(report_for(job));
  for (const char* pass : {"forward", "backward"}) {
    const auto& p = j[pass];
    const double time = p["time_s"].get<double>();
    // The compute stream is busy (compute_total_s, plus compute_slowed_by_comm_s next to
    // collectives) or idle waiting (compute_wait_s, exposed_s).
    EXPECT_NEAR(time, p["compute_total_s"].get<double>() + p["compute_slowed_by_comm_s"].get<double>() +
                          p["compute_wait_s"].get<double>() + sum_exposed(p), 1e-7 * time) << pass;
    // dgx-h100's kernel model slows compute next to NCCL: ZeRO-3 gathers and gradient
    // reduce-scatters run under the backward's kernels.
    if (std::string(pass) == "backward") {
      EXPECT_GT(p["compute_slowed_by_comm_s"].get<double>(), 0.0);
    }
    // compute_total_s is the sum of the op categories.
    EXPECT_NEAR(p["compute_total_s"].get<double>(),
                p["compute_s"]["attention_core"].get<double>() + p["compute_s"]["gemm"].get<double>() +
                    p["compute_s"]["elementwise_norm"].get<double>(), 1e-7 * time) << pass;
    for (const auto& [kind, v] : p["comm"].items()) {
      const double busy = v["busy_s"].get<double>();
      const double exposed = v["exposed_s"].get<double>();
      const double hidden = v["hidden_s"].get<double>();
      EXPECT_GE(hidden, 0.0) << kind;
      EXPECT_NEAR(hidden, std::max(0.0, busy - exposed), 1e-7 * time + 1e-15) << kind;
    }
    // USP has both kinds of sequence-parallel traffic in every layer.
    EXPECT_GT(p["comm"]["ulysses_a2a"]["busy_s"].get<double>(), 0.0) << pass;
    EXPECT_GT(p["comm"]["ring_p2p"]["busy_s"].get<double>(), 0.0) << pass;
    EXPECT_GT(p["compute_s"]["attention_core"].get<double>(), 0.0) << pass;
  }
  // The gradient reduce-scatter runs only in the backward.
  EXPECT_EQ(j["forward"]["comm"]["dp_grad"]["busy_s"].get<double>(), 0.0);
  EXPECT_GT(j["backward"]["comm"]["dp_grad"]["busy_s"].get<double>(), 0.0);
}

TEST(LayerTiming, OneGpuLayerIsExactlyItsCompute) {
  JobConfig job;
  job.strategy = "ulysses";
  job.num_gpus = 1;
  job.seq_length = 4096;
  const auto j = layer_timing_json(report_for(job));
  for (const char* pass : {"forward", "backward"}) {
    const auto& p = j[pass];
    EXPECT_NEAR(p["time_s"].get<double>(), p["compute_total_s"].get<double>(),
                1e-8 * p["time_s"].get<double>()) << pass;
    EXPECT_EQ(sum_exposed(p), 0.0) << pass;
  }
}

TEST(LayerTiming, RunJsonCarriesTheBlock) {
  const auto r = test::run_spsim("run -s ring -r 8 --gpus 8 --seq 64K --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("per_layer"));
  EXPECT_GT(j["per_layer"]["forward"]["comm"]["ring_p2p"]["busy_s"].get<double>(), 0.0);
  EXPECT_GT(j["per_layer"]["backward"]["time_s"].get<double>(),
            j["per_layer"]["forward"]["time_s"].get<double>());
}

}  // namespace
}  // namespace spsim
