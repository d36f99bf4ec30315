// Pure logic shared by spsim calibrate and spsim-microbench: no GPU needed.
#include <gtest/gtest.h>

#include "spsim/calibrate.h"
#include "spsim/units.h"
#include "test_util.h"

namespace spsim {
namespace {

TEST(BusbwFactor, MatchesNcclTestsDefinitions) {
  // nccl-tests *GetBw: AR 2(n-1)/n, AG/RS/A2A (n-1)/n, sendrecv 1.
  EXPECT_DOUBLE_EQ(busbw_factor("all_reduce", 8), 14.0 / 8.0);   // 2*7/8 = 1.75
  EXPECT_DOUBLE_EQ(busbw_factor("all_gather", 8), 7.0 / 8.0);    // 0.875
  EXPECT_DOUBLE_EQ(busbw_factor("reduce_scatter", 4), 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(busbw_factor("all_to_all", 2), 0.5);
  EXPECT_DOUBLE_EQ(busbw_factor("send_recv", 8), 1.0);
  EXPECT_DOUBLE_EQ(busbw_factor("all_reduce", 1), 0.0);  // one rank moves nothing
}

TEST(BusbwFactor, RejectsUnknownKindAndBadRanks) {
  EXPECT_THROW_MSG(busbw_factor("broadcast", 8), InputError, "unknown collective \"broadcast\"");
  EXPECT_THROW_MSG(busbw_factor("all_gather", 0), InputError, "must be >= 1 (got 0)");
}

TEST(MessageSize, RoundsPerRankChunkTo16BytesLikeNcclTests) {
  // calibration.md §1.2: 32 MiB all_gather over 80 ranks of float prints 33553920:
  // 33554432/4 = 8388608 elements; /80 = 104857 per rank; & ~3 (16 B / 4 B) = 104856;
  // bytes = 104856 * 4 * 80 = 33553920.
  const MessageSize ag = nccl_tests_message_size("all_gather", 33554432, 80, 4);
  EXPECT_EQ(ag.count, 104856);
  EXPECT_EQ(ag.bytes, 33553920);
  // all_reduce keeps the whole vector: 1000 B of float = 250 elements.
  const MessageSize ar = nccl_tests_message_size("all_reduce", 1000, 8, 4);
  EXPECT_EQ(ar.count, 250);
  EXPECT_EQ(ar.bytes, 1000);
  // all_to_all 8 ranks, bf16, 1 KiB: 512 elements / 8 = 64 per peer (multiple of 8) -> 1024 B.
  const MessageSize a2a = nccl_tests_message_size("all_to_all", 1024, 8, 2);
  EXPECT_EQ(a2a.count, 64);
  EXPECT_EQ(a2a.bytes, 1024);
}

TEST(SizeLadder, OneKiBToFourGiBDoubling) {
  const auto sizes = size_ladder(1024, 4 * int64_t{1} << 30, 2, "--sizes");
  ASSERT_EQ(sizes.size(), 23u);  // 2^10 .. 2^32
  EXPECT_EQ(sizes.front(), 1024);
  EXPECT_EQ(sizes[1], 2048);
  EXPECT_EQ(sizes.back(), int64_t{1} << 32);
  // A max that is not on the ladder stops below it: 1,4,16 <= 20.
  EXPECT_EQ(size_ladder(1, 20, 4, "x"), (std::vector<int64_t>{1, 4, 16}));
}

TEST(SizeLadder, ArgumentErrorsNameTheFlag) {
  EXPECT_THROW_MSG(size_ladder(0, 10, 2, "--min-bytes"), InputError, "minimum size must be >= 1");
  EXPECT_THROW_MSG(size_ladder(64, 8, 2, "--max-bytes"), InputError, "below the minimum");
  EXPECT_THROW_MSG(size_ladder(8, 64, 1, "--step-factor"), InputError, "step factor must be >= 2");
  try {
    size_ladder(8, 64, 1, "--step-factor");
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), "--step-factor");
  }
}

TEST(TimingSpread, MedianAndNearestRankPercentiles) {
  double median = 0;
  // Sorted: 1 2 3 4 5 6 7 8 9 10. Median (5+6)/2 = 5.5; p10 = 1st value, p90 = 9th value.
  const Spread s = timing_spread({10, 2, 3, 4, 5, 6, 7, 8, 9, 1}, &median);
  EXPECT_DOUBLE_EQ(median, 5.5);
  EXPECT_DOUBLE_EQ(s.min_us, 1);
  EXPECT_DOUBLE_EQ(s.max_us, 10);
  EXPECT_DOUBLE_EQ(s.p10_us, 1);
  EXPECT_DOUBLE_EQ(s.p90_us, 9);
  EXPECT_EQ(s.iterations, 10);
  timing_spread({3, 1, 2}, &median);
  EXPECT_DOUBLE_EQ(median, 2);
  EXPECT_THROW_MSG(timing_spread({}, &median), InputError, "no samples");
}

TEST(AttentionFlops, FlashAttentionConvention) {
  AttentionPoint a;
  a.batch = 2, a.heads = 16, a.head_dim = 128, a.seq_q = 4096, a.seq_kv = 4096;
  a.direction = "fwd";
  // 4 * 2 * 4096 * 4096 * 16 * 128 = 274877906944.
  EXPECT_DOUBLE_EQ(a.flops(), 274877906944.0);
  a.causal = true;
  EXPECT_DOUBLE_EQ(a.flops(), 137438953472.0);
  a.direction = "bwd";
  EXPECT_DOUBLE_EQ(a.flops(), 2.5 * 137438953472.0);
}

}  // namespace
}  // namespace spsim
