// Causal ring load balance: per-rank attention work of basic, zigzag and stripe, summed over the
// ring steps of one layer's forward, against hand-computed values.
#include <vector>

#include "spsim/strategy.h"
#include "test_util.h"

namespace spsim {
namespace {

// tiny model: 16 heads of d_h 64. s = 64 over r = 4: c = 16 tokens per rank.
constexpr int64_t kSeq = 64, kRing = 4;
constexpr double kC = 16;

JobConfig ring_job(const char* variant) {
  JobConfig job;
  job.strategy = "ring";
  job.num_gpus = kRing;
  job.ring_degree = kRing;
  job.seq_length = kSeq;
  job.ring_variant = variant;
  job.causal = true;
  return job;
}

// Attention FLOP each ring position does in the forward of one layer.
std::vector<double> per_rank_work(const char* variant) {
  const LoweredStep step = make_strategy("ring")->lower(test::tiny_model(), ring_job(variant));
  std::vector<double> work(kRing, 0.0);
  for (const auto& seg : step.graph.segments) {
    if (std::string(seg.name) != "layer_fwd") continue;
    for (const auto& task : seg.tasks) {
      if (std::string(task.name) != "ring_attn_step") continue;
      for (int i = 0; i < kRing; ++i) {
        work[i] += task.flops * (task.work_scale.empty() ? 1.0 : task.work_scale[i]);
      }
    }
  }
  return work;
}

// One full c x c block: 4 b c^2 heads d_h = 4 x 16^2 x 16 x 64 = 1,048,576 FLOP.
constexpr double kBlock = 4.0 * kC * kC * 16 * 64;

TEST(RingBalance, BasicImbalanceByHand) {
  // Basic causal: rank i computes its diagonal half block at step 0 and a full block at each step
  // k = 1..i: (1/2 + i) blocks. Rank 3 / rank 0 = 3.5 / 0.5 = 7 ("GPU3 nearly 7 times GPU0",
  // USP Fig. 3 on 4 GPUs).
  const auto w = per_rank_work("basic");
  for (int i = 0; i < kRing; ++i) EXPECT_DOUBLE_EQ(w[i], (0.5 + i) * kBlock) << i;
  EXPECT_DOUBLE_EQ(w[3] / w[0], 7.0);
}

TEST(RingBalance, ZigzagIsExactlyBalanced) {
  // Every step is half a block on every rank: r/2 = 2 blocks each.
  for (double v : per_rank_work("zigzag")) EXPECT_DOUBLE_EQ(v, 2.0 * kBlock);
}

TEST(RingBalance, StripeWithinOneOverCOfZigzag) {
  // Stripe: step k on rank i covers c(c+1)/2 pairs if k <= i else c(c-1)/2. Rank i sums to
  // c^2/2 · [r + (2i + 2 - r)/c] pairs, i.e. zigzag's r c^2/2 plus c(2i+2-r)/2.
  // Stated bound: |stripe_i / zigzag_i - 1| = |2i+2-r|/(r c) <= 1/c for every i (here 1/16).
  const auto zig = per_rank_work("zigzag");
  const auto str = per_rank_work("stripe");
  for (int i = 0; i < kRing; ++i) {
    const double expected = zig[i] * (1.0 + (2.0 * i + 2 - kRing) / (kRing * kC));
    EXPECT_NEAR(str[i], expected, 1e-9 * expected) << i;
    EXPECT_LE(std::abs(str[i] / zig[i] - 1.0), 1.0 / kC + 1e-12) << i;
  }
  // By hand for rank 0: steps k=1..3 are (c-1)/c, step 0 (c+1)/c: (17 + 3·15)/16 / 2 blocks
  // = 62/32 blocks = 1.9375 blocks.
  EXPECT_DOUBLE_EQ(str[0], 1.9375 * kBlock);
  // Rank 3: every step (c+1)/c: 4 x 17/32 = 2.125 blocks.
  EXPECT_DOUBLE_EQ(str[3], 2.125 * kBlock);
}

TEST(RingBalance, StripeNeedsNoZigzagPadding) {
  // Zigzag needs s % (2 r) == 0; stripe only s % r == 0: s = 36, r = 4.
  JobConfig job = ring_job("stripe");
  job.seq_length = 36;
  EXPECT_NO_THROW(make_strategy("ring")->lower(test::tiny_model(), job));
  job.ring_variant = "zigzag";
  EXPECT_THROW_MSG(make_strategy("ring")->lower(test::tiny_model(), job), InputError,
                   "zigzag needs seq_length divisible by 2 x ring_degree");
}

TEST(RingBalance, StripeIsAcceptedInJobJson) {
  const auto json = nlohmann::json::parse(R"({"ring_variant": "stripe"})");
  EXPECT_EQ(job_from_json(json, "x.json").ring_variant, "stripe");
  const auto bad = nlohmann::json::parse(R"({"ring_variant": "striped"})");
  EXPECT_THROW_MSG(job_from_json(bad, "x.json"), InputError, "basic, zigzag or stripe");
}

}  // namespace
}  // namespace spsim
