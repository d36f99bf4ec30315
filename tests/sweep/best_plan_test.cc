// The best-plan search: never returns a plan that breaks a rule or does not fit, and finds the
// optimum where it is known by hand.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "spsim/strategy.h"
#include "spsim/sweep.h"
#include "spsim/topology.h"
#include "spsim/units.h"
#include "test_util.h"

namespace spsim {
namespace {

JobConfig base_job(int64_t gpus, int64_t seq) {
  JobConfig job;
  job.num_gpus = gpus;
  job.seq_length = seq;
  job.framework_reserve_bytes = kDefaultFrameworkReserveBytes;
  return job;
}

JobConfig job_of(const SweepRow& row) {
  JobConfig job = base_job(row.gpus, row.seq_length);
  job.strategy = row.strategy;
  return job_of_row(row, job);
}

TEST(BestPlanTest, NeverViolatesAConstraintOrMemory) {
  const ModelSpec model = test::llama3_8b();
  const Topology topology = load_topology("dgx-h100");
  for (const char* name : {"ulysses", "megatron-sp", "ring", "usp"}) {
    const auto strategy = make_strategy(name);
    for (int64_t gpus : {8, 16}) {
      for (int64_t seq : {32768, 262144, 1048576}) {
        const SweepRow row = search_best_plan(model, topology, *strategy, base_job(gpus, seq), {}, "analytic");
        SCOPED_TRACE(fmt::format("{} {} GPUs {} tokens: {} {}", name, gpus, seq, row.status, row.reason));
        EXPECT_GT(row.plans_searched, 0);
        if (row.status != "ok") {
          EXPECT_EQ(row.plans_fit, 0);  // "oom"/"invalid" only when nothing fits
          continue;
        }
        // The plan lowers without an InputError (every rule holds) and fits in HBM.
        const LoweredStep lowered = strategy->lower(model, job_of(row));
        EXPECT_LE(lowered.memory.peak(), topology.gpu.hbm_bytes);
        EXPECT_DOUBLE_EQ(row.mem_peak, lowered.memory.peak());
        EXPECT_TRUE(row.fits_in_memory);
        EXPECT_EQ(row.gpus, row.tensor_parallel * row.ulysses_degree * row.ring_degree * row.data_parallel);
      }
    }
  }
}

TEST(BestPlanTest, MatchesExhaustiveEvaluationOnASmallCase) {
  // Every candidate evaluated one by one (evaluate_row): the search must return the fastest that
  // fits, and keep the first in visiting order on ties. USP's own plans only: u = 1 is ring's
  // plan and r = 1 Ulysses', which those schemes' searches find (one plan, one name).
  const ModelSpec model = test::tiny_model();
  const Topology topology = load_topology("dgx-h100");
  const auto strategy = make_strategy("usp");
  const JobConfig base = base_job(8, 65536);
  const SweepRow best = search_best_plan(model, topology, *strategy, base, {}, "analytic");
  ASSERT_EQ(best.status, "ok") << best.reason;
  double fastest = 0;
  int64_t legal = 0;
  for (int64_t t : {1, 2, 4, 8}) {
  for (int64_t u : {1, 2, 4, 8}) {
    for (int64_t r : {1, 2, 4, 8}) {
      if (8 % (t * u * r) != 0 || u == 1 || r == 1) continue;
      for (int zero = 0; zero <= 3; ++zero) {
        for (int64_t mbs : {1, 2, 4}) {
          for (const char* rc : {"none", "selective", "full"}) {
            JobConfig job = base;
            job.tensor_parallel = t;
            job.ulysses_degree = u;
            job.ring_degree = r;
            job.data_parallel = 8 / (t * u * r);
            job.zero_stage = zero;
            job.micro_batch_size = mbs;
            job.recompute = parse_recompute(rc, "test");
            const SweepRow row = evaluate_row(model, topology, *strategy, job, "analytic");
            if (row.status != "invalid") ++legal;
            if (row.status == "ok") fastest = std::max(fastest, row.tokens_per_s);
          }
        }
      }
    }
  }
  }
  EXPECT_EQ(best.tokens_per_s, fastest);
  EXPECT_GT(legal, 0);
}

TEST(BestPlanTest, OnlyLegalDegreeIsChosen) {
  // tiny model: 16 query heads, 4 KV heads. On 3 GPUs Ulysses could only use u = 1 (3 divides
  // neither 16 nor 4), which is plain data parallelism: Ulysses has no plan of its own there (the
  // reason counts the ulysses_degree rejections), and the dp strategy finds dp3.
  const ModelSpec model = test::tiny_model();
  const Topology topology = load_topology("dgx-h100");
  const SweepRow row =
      search_best_plan(model, topology, *make_strategy("ulysses"), base_job(3, 3 * 4096), {}, "analytic");
  EXPECT_EQ(row.status, "invalid");
  EXPECT_NE(row.reason.find("ulysses_degree"), std::string::npos) << row.reason;
  const SweepRow dp = search_best_plan(model, topology, *make_strategy("dp"), base_job(3, 3 * 4096), {}, "analytic");
  ASSERT_EQ(dp.status, "ok") << dp.reason;
  EXPECT_EQ(dp.ulysses_degree, 1);
  EXPECT_EQ(dp.data_parallel, 3);
}

TEST(BestPlanTest, MegatronTensorDegreeDividesHeadsAndStaysInNode) {
  // tiny model: t must divide gcd(16 heads, 4 KV heads) = 4 and be >= 2, so t in {2, 4} on 8 GPUs.
  const ModelSpec model = test::tiny_model();
  const Topology topology = load_topology("dgx-h100");
  const SweepRow row =
      search_best_plan(model, topology, *make_strategy("megatron-sp"), base_job(8, 32768), {}, "analytic");
  ASSERT_EQ(row.status, "ok") << row.reason;
  EXPECT_TRUE(row.tensor_parallel == 2 || row.tensor_parallel == 4) << row.tensor_parallel;
  EXPECT_NE(row.reason.find("tensor_model_parallel_size"), std::string::npos) << row.reason;
}

TEST(BestPlanTest, NothingFitsOnOneGpuReportsOomByHowMuch) {
  // Llama-3-8B has 8,030,261,248 parameters; mixed-precision Adam keeps 2 + 2 + 12 = 16 bytes
  // each = 128.5e9 bytes = 119.7 GiB on a single GPU whatever the ZeRO stage (no group to shard
  // over) > 80 GiB of H100 HBM, so no plan fits; the row is the closest miss, status "oom".
  const ModelSpec model = test::llama3_8b();
  const Topology topology = load_topology("dgx-h100");
  const SweepRow row =
      search_best_plan(model, topology, *make_strategy("dp"), base_job(1, 8192), {}, "analytic");
  EXPECT_EQ(row.status, "oom");
  EXPECT_EQ(row.plans_fit, 0);
  EXPECT_GT(row.mem_peak, 119.0 * kGiB);
  EXPECT_NE(row.reason.find("no plan fits"), std::string::npos) << row.reason;
  EXPECT_NE(row.reason.find("over by"), std::string::npos) << row.reason;
}

TEST(BestPlanTest, ClusterThatCannotHostTheJobIsInvalid) {
  // 12 GPUs on 8-GPU nodes is not a whole number of nodes.
  const SweepRow row = search_best_plan(test::tiny_model(), load_topology("dgx-h100"),
                                        *make_strategy("ring"), base_job(12, 8192), {}, "analytic");
  EXPECT_EQ(row.status, "invalid");
  EXPECT_NE(row.reason.find("whole number of 8-GPU nodes"), std::string::npos) << row.reason;
}

TEST(BestPlanTest, SearchSpaceRestrictsTheCandidates) {
  SearchSpace space;
  space.zero_stage = {3};
  space.micro_batch_size = {2};
  space.recompute = {Recompute::kFull};
  const SweepRow row = search_best_plan(test::tiny_model(), load_topology("dgx-h100"),
                                        *make_strategy("ring"), base_job(8, 65536), space, "analytic");
  ASSERT_EQ(row.status, "ok") << row.reason;
  EXPECT_EQ(row.zero_stage, 3);
  EXPECT_EQ(row.micro_batch_size, 2);
  EXPECT_EQ(row.recompute, "full");
  // p over the divisors of 8 that divide the tiny model's 4 layers (1, 2, 4); then (t, r) with
  // p x t x r dividing 8, t within the 8-GPU node, r > 1 (r = 1 is another scheme's plan).
  // p1: t1 r2/4/8, t2 r2/4, t4 r2; p2: t1 r2/4, t2 r2; p4: t1 r2.
  EXPECT_EQ(row.plans_searched, (3 + 2 + 1) + (2 + 1) + 1);
  // Listing the pipeline degrees restricts them too.
  space.pipeline_parallel = {1};
  const SweepRow flat = search_best_plan(test::tiny_model(), load_topology("dgx-h100"),
                                         *make_strategy("ring"), base_job(8, 65536), space, "analytic");
  EXPECT_EQ(flat.plans_searched, 3 + 2 + 1);
  EXPECT_EQ(flat.pipeline_parallel, 1);
}

}  // namespace
}  // namespace spsim
