// The robust alpha-beta fit: exact recovery on synthetic data, robustness to small-message noise,
// and prediction of the public logs' large-message times.
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "spsim/calibrate.h"
#include "spsim/units.h"
#include "test_util.h"

namespace spsim {
namespace {

/// Like EXPECT_THROW_MSG for InputError, on "where: what" (the line the CLI prints).
#define EXPECT_INPUT_ERROR(statement, substring)                                   \
  do {                                                                             \
    try {                                                                          \
      statement;                                                                   \
      ADD_FAILURE() << "expected InputError containing \"" << (substring) << "\""; \
    } catch (const InputError& e) {                                                \
      EXPECT_NE(e.full().find(substring), std::string::npos) << e.full();          \
    }                                                                              \
  } while (0)

// t(S) = alpha + S * factor / busbw over 1 KiB .. 1 GiB (x2).
std::vector<SizeTime> synthetic(double alpha_s, double busbw, double factor) {
  std::vector<SizeTime> points;
  for (double s = 1024; s <= double(1 << 30); s *= 2) points.push_back({s, alpha_s + s * factor / busbw});
  return points;
}

TEST(AlphaBetaFit, RecoversAlphaAndBetaFromExactData) {
  // all_gather over 8 ranks: factor 7/8. alpha 20 us, busbw 100 GB/s.
  const double factor = busbw_factor("all_gather", 8);
  const AlphaBetaFit fit = fit_alpha_beta(synthetic(20e-6, 100e9, factor), factor);
  EXPECT_TRUE(fit.alpha_measured);
  EXPECT_NEAR(fit.alpha_s, 20e-6, 1e-12);
  EXPECT_NEAR(fit.busbw / 100e9, 1.0, 1e-9);
  // Exact data: the fit holds everywhere, errors ~0.
  EXPECT_DOUBLE_EQ(fit.min_bytes, 1024);
  EXPECT_DOUBLE_EQ(fit.max_bytes, double(1 << 30));
  EXPECT_EQ(fit.points_in_range, 21);
  EXPECT_LT(fit.max_rel_err, 1e-9);
  EXPECT_TRUE(fit.warnings.empty());
  // Hand check of predict_time_s: 1 GiB x 7/8 / 100e9 = 9.395 ms, + 20 us.
  EXPECT_NEAR(predict_time_s(fit, double(1 << 30), factor), 20e-6 + 1073741824.0 * 0.875 / 100e9, 1e-12);
}

TEST(AlphaBetaFit, RobustToSmallMessageNoiseAndOneOutlier) {
  // all_reduce over 16 ranks (factor 2*15/16), alpha 35 us, busbw 180 GB/s; small sizes get a
  // fixed +-4% jitter and the 16 KiB row is 4x slow (like 90.85 us in the Snellius log).
  const double factor = busbw_factor("all_reduce", 16);
  auto points = synthetic(35e-6, 180e9, factor);
  for (size_t i = 0; i < points.size(); ++i) {
    if (points[i].bytes <= 65536) points[i].time_s *= (i % 2 == 0 ? 1.04 : 0.96);
    if (points[i].bytes == 16384) points[i].time_s *= 4;
  }
  const AlphaBetaFit fit = fit_alpha_beta(points, factor);
  EXPECT_TRUE(fit.alpha_measured);
  EXPECT_NEAR(fit.alpha_s / 35e-6, 1.0, 0.04);
  EXPECT_NEAR(fit.busbw / 180e9, 1.0, 0.005);
  EXPECT_DOUBLE_EQ(fit.max_bytes, double(1 << 30));
  // The 16 KiB outlier is outside the range and reported.
  ASSERT_FALSE(fit.warnings.empty());
  EXPECT_NE(fit.warnings[0].find("worst 76% at 16KiB"), std::string::npos) << fit.warnings[0];
}

TEST(AlphaBetaFit, WithoutSmallSizesAlphaIsTheInterceptAndSaysSo) {
  const double factor = 1.0;
  std::vector<SizeTime> points;
  for (double s = 128.0 * (1 << 20); s <= 4.0 * (1 << 30); s *= 2) points.push_back({s, 50e-6 + s / 200e9});
  const AlphaBetaFit fit = fit_alpha_beta(points, factor);
  EXPECT_FALSE(fit.alpha_measured);
  EXPECT_NEAR(fit.alpha_s, 50e-6, 1e-9);
  EXPECT_NEAR(fit.busbw / 200e9, 1.0, 1e-9);
  ASSERT_FALSE(fit.warnings.empty());
  EXPECT_NE(fit.warnings[0].find("alpha not measured"), std::string::npos);
}

TEST(AlphaBetaFit, ErrorsOnTooFewSizesOrFlatTimes) {
  EXPECT_INPUT_ERROR(fit_alpha_beta({{1024, 1e-5}, {1024, 1.1e-5}}, 1.0),
                   "at least 2 distinct nonzero message sizes (got 1)");
  EXPECT_INPUT_ERROR(fit_alpha_beta({{0, 1e-7}, {1 << 20, 1e-5}}, 1.0), "(got 1)");
  EXPECT_INPUT_ERROR(fit_alpha_beta({{1 << 20, 2e-5}, {1 << 21, 1e-5}}, 1.0),
                   "do not grow with size");
}

// Every fixture log: the fit predicts that log's large-message times (sizes >= 1/16 of the largest,
// the region the bandwidth is fitted on, and inside the fit's stated range) within 10% (the
// default tolerance), and within 5% for the logs whose sweep reaches the bandwidth plateau
// (largest size >= 1 GiB); the stated range always ends at the largest size.
TEST(AlphaBetaFit, PredictsEveryFixtureLogsLargeMessageTimes) {
  int logs = 0;
  for (const auto& e : std::filesystem::directory_iterator(test::data_path("nccl-tests"))) {
    const std::string path = e.path().string();
    SCOPED_TRACE(path);
    const CollectiveRun run = read_nccl_tests_log(test::read_text(path), path).at(0);
    const double factor = busbw_factor(run.kind, run.ranks);
    std::vector<SizeTime> samples;
    double largest = 0;
    for (const auto& p : run.points) {
      samples.push_back({double(p.bytes), p.time_us * 1e-6});
      largest = std::max(largest, double(p.bytes));
    }
    const AlphaBetaFit fit = fit_alpha_beta(samples, factor);
    EXPECT_DOUBLE_EQ(fit.max_bytes, largest);
    EXPECT_LE(fit.max_rel_err, 0.10);
    for (const auto& s : samples) {
      if (s.bytes < largest / 16 || s.bytes < fit.min_bytes) continue;
      const double bound = largest >= double(1 << 30) ? 0.05 : 0.10;
      EXPECT_NEAR(predict_time_s(fit, s.bytes, factor) / s.time_s, 1.0, bound) << s.bytes;
    }
    ++logs;
  }
  EXPECT_EQ(logs, 12);
}

TEST(AlphaBetaFit, SnelliusTwoNodeAllGatherNumbers) {
  // 8 ranks on 2 nodes, 4x HDR 200 Gb/s per node: busbw plateaus at 97.65 GB/s (8 GiB row);
  // the small-size floor is ~16 us (128 B .. 1 KiB rows: 16.59 16.13 16.15 16.06 and in-place).
  const std::string path = test::data_path("nccl-tests/h100-4gpu-nvlink-ib200x4_allgather_2node_8gpu.log");
  const CollectiveRun run = read_nccl_tests_log(test::read_text(path), path).at(0);
  std::vector<SizeTime> samples;
  for (const auto& p : run.points) samples.push_back({double(p.bytes), p.time_us * 1e-6});
  const AlphaBetaFit fit = fit_alpha_beta(samples, busbw_factor("all_gather", 8));
  EXPECT_TRUE(fit.alpha_measured);
  EXPECT_NEAR(fit.alpha_s * 1e6, 16.1, 0.5);
  // The bandwidth region is 512 MiB .. 8 GiB (>= 1/16 of the largest), whose printed busbw
  // ranges 95.49 (1 GiB) .. 97.65 (8 GiB): the fit lies inside that range.
  EXPECT_GE(fit.busbw / 1e9, 95.49);
  EXPECT_LE(fit.busbw / 1e9, 97.65);
}

}  // namespace
}  // namespace spsim
