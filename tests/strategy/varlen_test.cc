// Variable-length batches through the lowering, the FLOP conventions and the CLI: the attention
// core's FLOP take the busiest rank's per-document work, nothing else changes, and a distribution
// of one document per sample is exactly the fixed-length job.
#include <fstream>
#include <memory>
#include <string>

#include "spsim/flops.h"
#include "spsim/strategy.h"
#include "test_util.h"

namespace spsim {
namespace {

std::shared_ptr<const SequenceDistribution> docs(std::vector<int64_t> lengths) {
  auto d = std::make_shared<SequenceDistribution>();
  d->source = "test";
  d->doc_lengths = std::move(lengths);
  return d;
}

JobConfig job_of(const char* strategy, int64_t u, int64_t r) {
  JobConfig job;
  job.strategy = strategy;
  job.num_gpus = u * r;
  job.ulysses_degree = u;
  job.ring_degree = r;
  job.seq_length = 64;
  return job;
}

// Attention FLOP and every other task's FLOP of one layer's forward and backward.
std::pair<double, double> layer_flops(const LoweredStep& step) {
  double attention = 0, other = 0;
  for (const auto& seg : step.graph.segments) {
    if (std::string(seg.name).rfind("layer_", 0) != 0) continue;
    for (const auto& task : seg.tasks) {
      if (task.kind != TaskKind::kCompute) continue;
      (task.op_class == OpClass::kAttention ? attention : other) += task.flops;
    }
  }
  return {attention, other};
}

TEST(Varlen, OneDocumentPerSampleIsTheFixedLengthJob) {
  for (const auto& [name, u, r] : {std::tuple{"ulysses", 4, 1}, {"ring", 1, 4}, {"usp", 2, 2}}) {
    JobConfig job = job_of(name, u, r);
    const auto fixed = layer_flops(make_strategy(name)->lower(test::tiny_model(), job));
    job.seq_dist = docs({64, 64, 64});
    const auto varlen = layer_flops(make_strategy(name)->lower(test::tiny_model(), job));
    EXPECT_DOUBLE_EQ(varlen.first, fixed.first) << name;
    EXPECT_DOUBLE_EQ(varlen.second, fixed.second) << name;
  }
}

TEST(Varlen, UlyssesAttentionScalesByTheDocumentsPairs) {
  // Four documents of 16 in a sample of 64: 4 x 16·17/2 = 544 pairs of 64·65/2 = 2080.
  JobConfig job = job_of("ulysses", 4, 1);
  const auto fixed = layer_flops(make_strategy("ulysses")->lower(test::tiny_model(), job));
  job.seq_dist = docs({16, 16, 16, 16});
  const auto varlen = layer_flops(make_strategy("ulysses")->lower(test::tiny_model(), job));
  EXPECT_DOUBLE_EQ(varlen.first, fixed.first * 544.0 / 2080.0);
  EXPECT_DOUBLE_EQ(varlen.second, fixed.second);  // GEMMs and norms: every token as before
  EXPECT_DOUBLE_EQ(job_varlen_balance(job).imbalance, 1.0);
}

TEST(Varlen, ZigzagRingIsPacedByItsBusiestRank) {
  // s = 64 over r = 2 zigzag (chunks of 16): documents [16, 48]. Rank 0 holds positions 0-15
  // (document A: 1+...+16 = 136) and 48-63 (B p 32-47: 33+...+48 = 648): 784. Rank 1 holds
  // B p 0-31: 528. One document: each rank 1040. Scale 784 / 1040; imbalance 784 / 656.
  JobConfig job = job_of("ring", 1, 2);
  const auto fixed = layer_flops(make_strategy("ring")->lower(test::tiny_model(), job));
  job.seq_dist = docs({16, 48});
  const VarlenBalance v = job_varlen_balance(job);
  EXPECT_DOUBLE_EQ(v.work_scale, 784.0 / 1040.0);
  EXPECT_DOUBLE_EQ(v.imbalance, 784.0 / 656.0);
  const auto varlen = layer_flops(make_strategy("ring")->lower(test::tiny_model(), job));
  EXPECT_DOUBLE_EQ(varlen.first, fixed.first * 784.0 / 1040.0);
  EXPECT_DOUBLE_EQ(varlen.second, fixed.second);
}

TEST(Varlen, ModelFlopCountTheDocumentsAttentionOnly) {
  JobConfig job = job_of("ulysses", 4, 1);
  job.global_batch_size = 1;
  const StepFlops fixed = step_flops(test::tiny_model(), job);
  job.seq_dist = docs({16, 16, 16, 16});
  const StepFlops varlen = step_flops(test::tiny_model(), job);
  EXPECT_LT(varlen.model, fixed.model);
  EXPECT_LT(varlen.hardware, fixed.hardware);
  EXPECT_DOUBLE_EQ(varlen.megatron_deepspeed, fixed.megatron_deepspeed);  // a formula of s only
}

TEST(Varlen, CliReportsTheDistributionAndRejectsBadFiles) {
  const std::string dir = test::temp_dir("varlen_cli");
  std::ofstream(dir + "/lengths.txt") << "# four documents\n4096\n8192\n2048\n2048\n";
  std::ofstream(dir + "/bad.txt") << "4096\nlots\n";
  const auto run = test::run_spsim("run -s ring --gpus 8 --seq 16K --seq-dist lengths.txt", dir);
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("varlen: ring"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("zigzag split over 8 ranks"), std::string::npos) << run.out;
  const auto json = test::run_spsim("run -s ulysses --gpus 8 --seq 16K --seq-dist lengths.txt --json", dir);
  EXPECT_EQ(json.exit_code, 0) << json.err;
  EXPECT_NE(json.out.find("\"cp_imbalance\": 1.0"), std::string::npos) << json.out;
  EXPECT_NE(json.out.find("\"seq_dist\": \"lengths.txt\""), std::string::npos) << json.out;
  test::expect_one_line_error(test::run_spsim("run --seq-dist bad.txt", dir), "bad.txt:2:");
  test::expect_one_line_error(test::run_spsim("run --seq 1M --seq-dist lengths.txt", dir),
                              "less than one sequence");
  const auto sweep = test::run_spsim("sweep --best --gpus 8 --seq 16K --seq-dist lengths.txt", dir);
  EXPECT_EQ(sweep.exit_code, 0) << sweep.err;
}

}  // namespace
}  // namespace spsim
