// Calibrated kernel-efficiency curves: interpolation by hand, the roofline reading
// the curve at one kernel's size, `--set` of the scalar dropping the curve, and `spsim calibrate`
// writing a curve from microbenchmark points (the file rules are in topology_loader_test.cc).
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "spsim/calibrate.h"
#include "spsim/engine.h"
#include "spsim/error.h"
#include "spsim/job.h"
#include "spsim/model.h"
#include "spsim/strategy.h"
#include "spsim/topology.h"
#include "spsim/units.h"
#include "test_util.h"

namespace spsim {
namespace {

EfficiencyCurve three_points() {
  EfficiencyCurve c;
  c.points = {{1, 0.4}, {4, 0.6}, {16, 0.8}};
  c.dtype = "bf16";
  c.source = "test";
  return c;
}

TEST(EfficiencyCurve, InterpolatesInLogSizeAndHoldsTheEnds) {
  const EfficiencyCurve c = three_points();
  EXPECT_DOUBLE_EQ(c.at(1), 0.4);
  EXPECT_DOUBLE_EQ(c.at(4), 0.6);
  EXPECT_DOUBLE_EQ(c.at(16), 0.8);
  // 2 is halfway between 1 and 4 in log size; 8 halfway between 4 and 16.
  EXPECT_NEAR(c.at(2), 0.5, 1e-12);
  EXPECT_NEAR(c.at(8), 0.7, 1e-12);
  // A quarter of the way in log size from 1 to 4: 4^0.25 = sqrt(2).
  EXPECT_NEAR(c.at(std::sqrt(2.0)), 0.45, 1e-12);
  // Outside the measured sizes: the end values, no extrapolation.
  EXPECT_DOUBLE_EQ(c.at(0.001), 0.4);
  EXPECT_DOUBLE_EQ(c.at(1e6), 0.8);
}

Topology h100_with_curve() {
  Topology t = load_topology("dgx-h100");
  t.efficiency.gemm_curve = three_points();
  return t;
}

TEST(EfficiencyCurveRoofline, GemmTimeReadsTheCurveAtOneKernelsSize) {
  Topology t = load_topology("dgx-h100");
  t.efficiency.gemm_curve = three_points();
  const double peak = 989.5e12;
  // Forward GEMM of 2 GFLOP: efficiency 0.5.
  Task fwd = Task::compute("qkv_proj", Phase::kForward, OpClass::kGemm, 2e9, 0);
  EXPECT_NEAR(compute_time_s(fwd, t, Precision::kBf16), 2e9 / (peak * 0.5), 1e-15);
  // Its backward as one task (dgrad + wgrad, 4 GFLOP): two 2-GFLOP kernels, still 0.5 —
  // not the 0.6 a single 4-GFLOP kernel would reach.
  Task bwd = Task::compute("qkv_proj", Phase::kBackward, OpClass::kGemm, 4e9, 0);
  bwd.kernels = 2;
  EXPECT_NEAR(compute_time_s(bwd, t, Precision::kBf16), 4e9 / (peak * 0.5), 1e-15);
  // Attention has no curve here: the kernel model's cuDNN forward applies (gpus/h100-sxm.json:
  // 20.1 us + work at 0.703 of the peak).
  Task attn = Task::compute("attention_core", Phase::kForward, OpClass::kAttention, 2e9, 0);
  EXPECT_NEAR(compute_time_s(attn, t, Precision::kBf16), 20.1e-6 + 2e9 / (peak * 0.703), 1e-15);
  // An attention curve is used for attention kernels only.
  t.efficiency.attention_curve = three_points();
  EXPECT_NEAR(compute_time_s(attn, t, Precision::kBf16), 2e9 / (peak * 0.5), 1e-15);
  // fp8 GEMMs take the same fraction of the fp8 peak.
  EXPECT_NEAR(compute_time_s(fwd, t, Precision::kFp8), 2e9 / (1979e12 * 0.5), 1e-15);
}

TEST(EfficiencyCurveRoofline, LoweredBackwardGemmsAreTwoKernels) {
  // Every whole-op backward GEMM the lowering emits (no TP) stands for dgrad + wgrad.
  JobConfig job;
  job.num_gpus = 8;
  job.seq_length = 32768;
  job.ulysses_degree = 8;
  const ModelSpec model = load_model("llama-3-8b");
  const LoweredStep step = make_strategy("ulysses")->lower(model, job);
  int gemm_bwd = 0;
  for (const auto& segment : step.graph.segments) {
    for (const auto& task : segment.tasks) {
      if (task.kind != TaskKind::kCompute || task.op_class != OpClass::kGemm) continue;
      if (task.phase == Phase::kBackward) {
        EXPECT_EQ(task.kernels, 2) << segment.name << "/" << task.name;
        ++gemm_bwd;
      } else {
        EXPECT_EQ(task.kernels, 1) << segment.name << "/" << task.name;
      }
    }
  }
  EXPECT_GE(gemm_bwd, 4);  // qkv, out, mlp up, mlp down (+ gate, LM head)
}

TEST(EfficiencyCurveOverride, SettingTheScalarDropsTheCurve) {
  Topology t = h100_with_curve();
  apply_override(t, "gpu.attention_efficiency=0.6");
  EXPECT_FALSE(t.efficiency.gemm_curve.empty());  // the other class keeps its curve
  apply_override(t, "gpu.gemm_efficiency=0.7");
  EXPECT_TRUE(t.efficiency.gemm_curve.empty());
  EXPECT_DOUBLE_EQ(t.efficiency.kernels.gemm.at("bf16").efficiency, 0.7);
  Task fwd = Task::compute("qkv_proj", Phase::kForward, OpClass::kGemm, 2e9, 0);
  apply_override(t, "gpu.kernel_overhead_us=0");
  EXPECT_NEAR(compute_time_s(fwd, t, Precision::kBf16), 2e9 / (989.5e12 * 0.7), 1e-15);
}

TEST(EfficiencyCurveCalibrate, BinsMicrobenchPointsByFactorTwoOfSize) {
  // bf16 GEMMs on an H100 (989.5 TF): square shapes from 0.27 to 1100 GFLOP, efficiency by hand
  // rising from 0.30 by 0.05 per doubling of work, capped at 0.80, with one slow outlier in the
  // largest bin (the median ignores it).
  CalibrationInputs in;
  std::vector<double> expected_eff;
  for (int n = 512; n <= 8192; n *= 2) {
    for (int variant = 0; variant < 3; ++variant) {
      GemmPoint g;
      g.dtype = "bf16";
      g.m = n;
      g.n = n;
      g.k = n + 64 * variant;  // three shapes per bin, within a factor of 2 of each other
      const double gflop = 2.0 * g.m * g.n * g.k / 1e9;
      const double eff = std::min(0.80, 0.30 + 0.05 * std::log2(gflop / 0.268435456));
      const double slow = (n == 8192 && variant == 2) ? 0.5 : 1.0;
      g.time_us = gflop * 1e9 / (989.5e12 * eff * slow) * 1e6;
      in.gemm.push_back(g);
    }
  }
  const CalibrationReport report =
      calibrate_topology(test::read_text(std::string(SPSIM_SOURCE_DATA_DIR) + "/topologies/dgx-h100.json"),
                         "dgx-h100", in);
  const Topology t = parse_topology(report.json, "c.json");
  const EfficiencyCurve& c = t.efficiency.gemm_curve;
  ASSERT_EQ(c.points.size(), 5u);  // n = 512 .. 8192: five doublings of n, 8x in work each
  EXPECT_EQ(c.dtype, "bf16");
  for (size_t i = 0; i < c.points.size(); ++i) {
    const double n = 512.0 * std::pow(2.0, static_cast<double>(i));
    const double gflop = 2.0 * n * n * (n + 64) / 1e9;  // the middle shape of the bin
    EXPECT_NEAR(c.points[i].gflop, gflop, gflop * 1e-3) << i;
    const double eff = std::min(0.80, 0.30 + 0.05 * std::log2(gflop / 0.268435456));
    EXPECT_NEAR(c.points[i].efficiency, eff, 0.0005 + 0.002) << i;  // rounding + in-bin spread
  }
  // The curve rises, and the scalar is still written (median of the larger half).
  EXPECT_LT(c.points.front().efficiency, c.points.back().efficiency);
  EXPECT_GT(t.efficiency.kernels.gemm.at("bf16").efficiency, 0.5);
  EXPECT_NE(c.source.find("factor-2 size bin of 15 gemm points"), std::string::npos) << c.source;
  // Attention was not measured: no curve, the base's kernel model stays.
  EXPECT_TRUE(t.efficiency.attention_curve.empty());
  EXPECT_DOUBLE_EQ(t.efficiency.kernels.attention.at("cudnn").fwd.efficiency, 0.703);
}

}  // namespace
}  // namespace spsim
