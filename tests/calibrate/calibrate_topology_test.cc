// Calibrated topologies: what calibrate_topology writes, that it loads, that `spsim run` uses the
// fitted numbers, and that the shipped calibrated topology is reproducible byte for byte.
#include <cstdio>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "calibrate/calibrate_files.h"
#include "spsim/calibrate.h"
#include "spsim/collective.h"
#include "spsim/topology.h"
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

namespace fs = std::filesystem;

std::string repo_path(const std::string& rel) { return std::string(SPSIM_SOURCE_DATA_DIR) + "/" + rel; }

CalibrationInputs inputs_from(const std::vector<std::string>& logs) {
  CalibrationInputs in;
  for (const auto& name : logs) {
    const std::string path = test::data_path("nccl-tests/" + name);
    for (auto& run : read_nccl_tests_log(test::read_text(path), path)) in.collectives.push_back(run);
  }
  return in;
}

TEST(CalibrateTopology, ReplacesEfficienciesWithFittedBusbwOverLineRate) {
  const std::string base = test::read_text(repo_path("topologies/dgx-h100.json"));
  const CalibrationReport report = calibrate_topology(
      base, "dgx-h100", inputs_from({"h100-sxm-ndr400_alltoall_1node_8gpu.log",
                                     "h100-sxm-ndr400_allreduce_1node_8gpu.log"}));
  const Topology t = parse_topology(report.json, "calibrated");
  ASSERT_EQ(t.fits.size(), 2u);
  // Sorted by kind: all_reduce, then all_to_all.
  EXPECT_EQ(t.fits[0].kind, "all_reduce");
  EXPECT_EQ(t.fits[1].kind, "all_to_all");
  EXPECT_EQ(t.fits[1].scope, "intra_node");
  EXPECT_EQ(t.fits[1].group_size, 8);
  // alltoall busbw plateaus at 348.03 GB/s (16 GiB row); the fit is within 1%.
  EXPECT_NEAR(t.fits[1].busbw / kGB, 348.0, 3.5);
  EXPECT_DOUBLE_EQ(t.fits[1].max_bytes, 17179869184.0);
  // The efficiency is fitted busbw / 450 GB/s NVLink4 line rate, rounded to 3 decimals.
  const double expected = std::round(t.fits[1].busbw / (450 * kGB) * 1000) / 1000;
  EXPECT_DOUBLE_EQ(t.efficiency.collective.at("intra_node").at("all_to_all"), expected);
  ASSERT_EQ(t.replaced.size(), 1u);
  EXPECT_EQ(t.replaced[0].key, "collective_efficiency.intra_node.all_to_all");
  EXPECT_DOUBLE_EQ(t.replaced[0].datasheet, 0.77);
  EXPECT_DOUBLE_EQ(t.replaced[0].fitted, expected);
  // all_reduce busbw 482 GB/s > 450 GB/s line rate (NVLS): fit kept, efficiency not replaced.
  EXPECT_DOUBLE_EQ(t.efficiency.collective.at("intra_node").at("all_reduce"), 0.8);
  bool warned = false;
  for (const auto& w : report.warnings) warned |= w.find("exceeds the line rate") != std::string::npos;
  EXPECT_TRUE(warned);
  // Everything else is the base topology.
  Topology base_t = parse_topology(base, "dgx-h100");
  EXPECT_EQ(t.gpu, base_t.gpu);
  EXPECT_EQ(t.nic_bandwidth, base_t.nic_bandwidth);
  EXPECT_NE(t.provenance.find("spsim calibrate on base dgx-h100"), std::string::npos);
}

TEST(CalibrateTopology, InterNodeRingEfficiencyUsesRanksPerNodeTimesNic) {
  // Snellius: 2 nodes x 4 GPUs, one HDR 200 Gb/s (25 GB/s) NIC per GPU. Base: a copy of
  // dgx-h100 with 4 GPUs and 4 x 200 Gb/s NICs per node. Ring line rate = 4 x 25 = 100 GB/s,
  // so the efficiency is the fitted busbw (~97.6 GB/s) / 100 GB/s.
  auto base = nlohmann::json::parse(test::read_text(repo_path("topologies/dgx-h100.json")));
  base["node"]["gpus"] = 4;
  base["network"]["nics_per_node"] = 4;
  base["network"]["nic_bandwidth_Gbps"] = 200;
  const CalibrationReport report = calibrate_topology(
      base.dump(), "h100x4", inputs_from({"h100-4gpu-nvlink-ib200x4_allgather_2node_8gpu.log"}));
  const Topology t = parse_topology(report.json, "calibrated");
  ASSERT_EQ(t.fits.size(), 1u);
  EXPECT_EQ(t.fits[0].scope, "inter_node");
  const double eff = t.efficiency.collective.at("inter_node").at("all_gather");
  EXPECT_DOUBLE_EQ(eff, std::round(t.fits[0].busbw / (100 * kGB) * 1000) / 1000);
  EXPECT_NEAR(eff, 0.976, 0.01);
}

TEST(CalibrateTopology, MoreRanksOnAHostThanTheBaseNodeIsAnError) {
  // 8 ranks on one host cannot have run on a 4-GPU node: the base is the wrong machine (issue 16,
  // S11). Before, the fit was left out with a warning and the rest written.
  auto base = nlohmann::json::parse(test::read_text(repo_path("topologies/dgx-h100.json")));
  base["node"]["gpus"] = 4;
  base["network"]["nics_per_node"] = 4;
  EXPECT_INPUT_ERROR(
      calibrate_topology(base.dump(), "h100x4", inputs_from({"h100-sxm-ndr400_allgather_1node_8gpu.log"})),
      "8 ranks ran on one host, but --base h100x4 has 4 GPUs per node");
}

TEST(CalibrateTopology, InterNodeRanksPerHostMustBeTheBaseNode) {
  // The study's case: Snellius' 2 x 4 GPUs on dgx-h100 (8 GPUs, 8 x 400 Gb/s per node) gave an
  // inter-node all-gather efficiency of 0.485 instead of 0.970 without a word.
  const std::string base = test::read_text(repo_path("topologies/dgx-h100.json"));
  EXPECT_INPUT_ERROR(calibrate_topology(base, "dgx-h100",
                                        inputs_from({"h100-4gpu-nvlink-ib200x4_allgather_2node_8gpu.log"})),
                     "h100-4gpu-nvlink-ib200x4_allgather_2node_8gpu.log: 4 ranks per host across 2 hosts, "
                     "but --base dgx-h100 has 8 GPUs per node");
  // A single node of 4 on the 8-GPU base is a subset of its NVSwitch: allowed.
  const CalibrationReport one_node =
      calibrate_topology(base, "dgx-h100", inputs_from({"h100-4gpu-nvlink-ib200x4_allgather_1node_4gpu.log"}));
  EXPECT_EQ(parse_topology(one_node.json, "c").fits.size(), 1u);
}

TEST(CalibrateTopology, GpuOfTheLogMustBeTheBaseGpu) {
  const std::string h100 = test::read_text(repo_path("topologies/dgx-h100.json"));
  CalibrationInputs a100_log = inputs_from({"h100-sxm-ndr400_allgather_1node_8gpu.log"});
  for (auto& run : a100_log.collectives) run.gpu_name = "NVIDIA A100-SXM4-80GB";
  EXPECT_INPUT_ERROR(calibrate_topology(h100, "dgx-h100", a100_log),
                     "the ranks ran on NVIDIA A100-SXM4-80GB, but --base dgx-h100 has H100-SXM5-80GB GPUs");
  const std::string a100 = test::read_text(repo_path("topologies/dgx-a100-80gb.json"));
  EXPECT_NO_THROW(calibrate_topology(a100, "dgx-a100-80gb", a100_log));
  // The shipped logs' own names: "NVIDIA H100 80GB HBM3" on H100-SXM5-80GB.
  EXPECT_NO_THROW(calibrate_topology(h100, "dgx-h100", inputs_from({"h100-sxm-ndr400_allgather_1node_8gpu.log"})));
  // A PCIe card is not the SXM part of the same model.
  CalibrationInputs pcie = inputs_from({"h100-sxm-ndr400_allgather_1node_8gpu.log"});
  for (auto& run : pcie.collectives) run.gpu_name = "NVIDIA H100 PCIe";
  EXPECT_INPUT_ERROR(calibrate_topology(h100, "dgx-h100", pcie), "ranks ran on NVIDIA H100 PCIe");
  // NVIDIA's device names read as the datasheet names: "NVIDIA GB200" on B200-GB200-186GB.
  CalibrationInputs gb200 = inputs_from({"h100-sxm-ndr400_allgather_1node_8gpu.log"});
  for (auto& run : gb200.collectives) run.gpu_name = "NVIDIA GB200";
  const std::string nvl72 = test::read_text(repo_path("topologies/gb200-nvl72.json"));
  EXPECT_NO_THROW(calibrate_topology(nvl72, "gb200-nvl72", gb200));
}

TEST(CalibrateTopology, SaysWhichEfficienciesStayTheBases) {
  const std::string base = test::read_text(repo_path("topologies/dgx-h100.json"));
  const CalibrationReport r =
      calibrate_topology(base, "dgx-h100", inputs_from({"h100-sxm-ndr400_allgather_1node_8gpu.log"}));
  const auto has = [&](const std::string& line) {
    return std::find(r.lines.begin(), r.lines.end(), line) != r.lines.end();
  };
  EXPECT_TRUE(has("not calibrated, efficiencies kept from dgx-h100: intra_node all_to_all, reduce_scatter, "
                  "all_reduce, send_recv"));
  EXPECT_TRUE(has("not calibrated, efficiencies kept from dgx-h100: inter_node all_to_all, all_gather, "
                  "reduce_scatter, all_reduce, send_recv"));
}

TEST(CalibrateTopology, KernelEfficienciesFromMicrobenchPoints) {
  // GEMM: 2*8192^3 FLOP = 1.0995e12 in 1.4 ms = 785.4 TFLOP/s; / 989.5 peak = 0.794.
  // Memory: 1 GiB copied (2 GiB moved) in 0.7 ms = 3.068 TB/s; / 3.35 TB/s = 0.916.
  CalibrationInputs in;
  GemmPoint g;
  g.dtype = "bf16";
  g.m = g.n = g.k = 8192;
  g.time_us = 1400;
  in.gemm = {g};
  MemoryPoint m;
  m.bytes = int64_t{1} << 30;
  m.time_us = 700;
  in.memory = {m};
  const CalibrationReport report =
      calibrate_topology(test::read_text(repo_path("topologies/dgx-h100.json")), "dgx-h100", in);
  const Topology t = parse_topology(report.json, "c");
  EXPECT_DOUBLE_EQ(t.efficiency.kernels.gemm.at("bf16").efficiency, 0.794);
  EXPECT_DOUBLE_EQ(t.efficiency.kernels.elementwise.at("fused").efficiency, 0.916);
  ASSERT_EQ(t.replaced.size(), 2u);
  EXPECT_EQ(t.replaced[0].key, "gpu.kernels.elementwise.fused.efficiency");
  EXPECT_DOUBLE_EQ(t.replaced[0].datasheet, 0.77);  // gpus/h100-sxm.json
  EXPECT_EQ(t.replaced[1].key, "gpu.kernels.gemm.bf16.efficiency");
  EXPECT_DOUBLE_EQ(t.replaced[1].datasheet, 0.718);
  // One GEMM size is no curve: the scalar says the same.
  EXPECT_TRUE(t.efficiency.gemm_curve.empty());
}

TEST(CalibrateTopology, ErrorsAreOneLineAndNameTheInput) {
  EXPECT_INPUT_ERROR(calibrate_topology("{", "base.json", inputs_from({"h100-sxm-ndr400_alltoall_1node_8gpu.log"})), "base.json");
  EXPECT_INPUT_ERROR(calibrate_topology(test::read_text(repo_path("topologies/dgx-h100.json")), "b", {}), "no measurements given");
}

// --- The shipped calibrated topologies.

/// One shipped calibrated topology: its base, the fixture logs it was fitted to (in the order
/// topologies/calibrated/README.md lists them) and how many fits it holds.
struct Shipped {
  std::string file;  // under topologies/calibrated/
  std::string base;  // under topologies/
  std::vector<std::string> logs;
  size_t fits;
};

const std::vector<Shipped> kShipped = {
    {"dgx-h100-nccl-tests.json", "dgx-h100.json",
     {"h100-sxm-ndr400_allgather_1node_8gpu.log", "h100-sxm-ndr400_allreduce_1node_8gpu.log",
      "h100-sxm-ndr400_alltoall_1node_8gpu.log", "h100-sxm-ndr400_reducescatter_1node_8gpu.log",
      "h100-sxm-ndr400_sendrecv_1node_8gpu.log"},
     5},
    {"hgx-h100-4gpu-nccl-tests.json", "hgx-h100-4gpu.json",
     {"h100-4gpu-nvlink-ib200x4_allgather_1node_4gpu.log", "h100-4gpu-nvlink-ib200x4_allgather_2node_8gpu.log",
      "h100-4gpu-nvlink-ib200x4_allreduce_1node_4gpu.log", "h100-4gpu-nvlink-ib200x4_allreduce_2node_8gpu.log",
      "h100-4gpu-nvlink-ib200x4_reducescatter_1node_4gpu.log",
      "h100-4gpu-nvlink-ib200x4_reducescatter_2node_8gpu.log"},
     6},
};

TEST(ShippedCalibratedTopology, RegeneratingGivesIdenticalBytes) {
  for (const Shipped& shipped : kShipped) {
    SCOPED_TRACE(shipped.file);
    // The command in topologies/calibrated/README.md, run from the repository root.
    std::string args = "calibrate --base topologies/" + shipped.base;
    for (const auto& log : shipped.logs) args += " --nccl-tests tests/data/nccl-tests/" + log;
    char dir_template[] = "/tmp/spsim_calib_XXXXXX";
    const std::string out = std::string(mkdtemp(dir_template)) + "/out.json";
    const auto r = test::run_spsim(args + " -o " + out, std::string(SPSIM_SOURCE_DATA_DIR));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(test::read_text(out), test::read_text(repo_path("topologies/calibrated/" + shipped.file)));
    // It prints each fit with its residuals.
    EXPECT_NE(r.out.find("all_gather"), std::string::npos);
    EXPECT_NE(r.out.find("rel err max"), std::string::npos);
    fs::remove_all(fs::path(out).parent_path());
  }
}

TEST(ShippedCalibratedTopology, LoadsByNameAndRecordsEveryReplacement) {
  for (const Shipped& shipped : kShipped) {
    SCOPED_TRACE(shipped.file);
    const Topology t = load_topology(repo_path("topologies/calibrated/" + shipped.file));
    EXPECT_EQ(t.fits.size(), shipped.fits);
    EXPECT_FALSE(t.replaced.empty());
    for (const auto& r : t.replaced) EXPECT_NE(r.source.find("nccl-tests"), std::string::npos) << r.key;
    for (const auto& f : t.fits) EXPECT_NE(f.source.find("# SOURCE:"), std::string::npos) << f.kind;
  }
}

TEST(ShippedCalibratedTopology, FourGpuNodesUseTheInterNodeFitsAndEfficiencies) {
  // hgx-h100-4gpu fitted to the Snellius logs (2 nodes x 4 H100, one 200 Gb/s NIC per GPU).
  const Topology base = load_topology(repo_path("topologies/hgx-h100-4gpu.json"));
  const Topology cal = load_topology(repo_path("topologies/calibrated/hgx-h100-4gpu-nccl-tests.json"));
  const CollectiveFit* ag = nullptr;
  for (const auto& f : cal.fits) {
    if (f.kind == "all_gather" && f.scope == "inter_node") ag = &f;
  }
  ASSERT_NE(ag, nullptr);
  ASSERT_EQ(ag->group_size, 8);
  // The log's busbw plateau is 97.3-97.7 GB/s from 2 GiB up; the fit sits on it.
  EXPECT_NEAR(ag->busbw / kGB, 97.5, 1.0);

  // 8 ranks on 2 nodes, 1 GiB per GPU (nccl-tests size 8 GiB, inside the fit's range): the time
  // is exactly the fit's alpha + bytes / busbw.
  GroupPlacement two_nodes;
  two_nodes.size = 8;
  two_nodes.ranks_per_node = 4;
  two_nodes.nodes = 2;
  const double bytes = 1073741824.0 * 7 / 8;  // an all-gather of 1 GiB: each GPU sends 7/8
  EXPECT_DOUBLE_EQ(collective_time_s(CommKind::kAllGather, bytes, two_nodes, cal),
                   ag->alpha_s + bytes / ag->busbw);
  // The log itself: 8 GiB all_gather took 76968 us; the fit predicts it within 1%.
  EXPECT_NEAR(collective_time_s(CommKind::kAllGather, 8589934592.0 * 7 / 8, two_nodes, cal), 76968e-6,
              0.01 * 76968e-6);

  // 16 ranks on 4 nodes has no fit of its size: the ring runs at the replaced efficiency,
  // 4 ranks/node x 25 GB/s x eff, so the bandwidth term scales by eff_datasheet / eff_fitted.
  GroupPlacement four_nodes;
  four_nodes.size = 16;
  four_nodes.ranks_per_node = 4;
  four_nodes.nodes = 4;
  const double eff_base = base.efficiency.for_collective("inter_node", "all_gather");
  const double eff_cal = cal.efficiency.for_collective("inter_node", "all_gather");
  EXPECT_DOUBLE_EQ(eff_base, 0.94);
  EXPECT_DOUBLE_EQ(eff_cal, std::round(ag->busbw / (100 * kGB) * 1000) / 1000);
  const double hop_s = base.nic_latency_s + 2 * base.switch_latency_s;
  const double t_base = collective_time_s(CommKind::kAllGather, bytes, four_nodes, base) - 15 * hop_s;
  const double t_cal = collective_time_s(CommKind::kAllGather, bytes, four_nodes, cal) - 15 * hop_s;
  EXPECT_NEAR(t_base, bytes / (4 * 25 * kGB * eff_base), 1e-12);
  EXPECT_NEAR(t_base / t_cal, eff_cal / eff_base, 1e-9);
}

TEST(CalibrateFiles, MicrobenchJsonFeedsCollectiveFitsAndKernelEfficiencies) {
  // A microbenchmark file as spsim-microbench writes it: an all_gather over 2 nodes x 8 GPUs
  // (rail-free "full" group) following t = 30 us + S x (15/16) / 40 GB/s, and one GEMM.
  MicrobenchResults r;
  CollectiveRun run;
  run.kind = "all_gather";
  run.ranks = 16;
  run.hosts = {"n1", "n2"};
  run.ranks_per_node = 8;
  for (int64_t s = 1024; s <= (int64_t{1} << 30); s *= 2) {
    CollectivePoint p;
    p.bytes = s;
    p.count = s / 2 / 16;
    p.type = "bf16";
    p.time_us = 30 + double(s) * 15 / 16 / 40e9 * 1e6;
    p.spread = {p.time_us, p.time_us, p.time_us, p.time_us, 20};
    run.points.push_back(p);
  }
  r.collectives = {run};
  GemmPoint g;
  g.dtype = "bf16";
  g.m = g.n = g.k = 8192;
  g.time_us = 1400;  // 785.4 TFLOP/s / 989.5 = 0.794
  r.gemm = {g};
  MicrobenchProvenance prov;
  prov.tool = "spsim-microbench test";
  prov.gpu_name = "NVIDIA H100 80GB HBM3";
  char dir_template[] = "/tmp/spsim_calib_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  std::ofstream(dir + "/mb.json") << write_microbench_json(prov, r);
  detail::CalibrateRequest request;
  request.base_path = repo_path("topologies/dgx-h100.json");
  request.base_name = "dgx-h100";
  request.microbench = {dir + "/mb.json"};
  request.output = dir + "/out.json";
  detail::calibrate_files(request);
  const Topology t = load_topology(dir + "/out.json");
  ASSERT_EQ(t.fits.size(), 1u);
  EXPECT_EQ(t.fits[0].scope, "inter_node");
  EXPECT_EQ(t.fits[0].group_size, 16);
  EXPECT_DOUBLE_EQ(t.fits[0].alpha_s, 30e-6);
  EXPECT_DOUBLE_EQ(t.fits[0].busbw, 40e9);
  EXPECT_DOUBLE_EQ(t.fits[0].min_bytes, 1024);
  // Ring across nodes: line rate = 8 ranks/node x 50 GB/s per-GPU NIC (8 x 400 Gb/s NICs / 8
  // GPUs) = 400 GB/s (below NVLink's 450); efficiency = 40 / 400 = 0.1.
  EXPECT_DOUBLE_EQ(t.efficiency.collective.at("inter_node").at("all_gather"), 0.1);
  EXPECT_DOUBLE_EQ(t.efficiency.kernels.gemm.at("bf16").efficiency, 0.794);
  EXPECT_NE(t.provenance.find("NVIDIA H100 80GB HBM3"), std::string::npos);
  fs::remove_all(dir);
}

// Issue 16, S11: a cluster shape no shipped topology has. --gpus-per-node / --nics / --nic-gbps
// on dgx-h100 give Snellius' 2 x 4 H100 log the line rate of 4 GPUs x one 200 Gb/s NIC each
// (100 GB/s a ring), so the efficiency is the shipped 4-GPU base's 0.97, not 0.485, and the
// written file carries the shape.
TEST(CalibrateFiles, NodeShapeFlagsDescribeAClusterThatIsNotShipped) {
  char dir_template[] = "/tmp/spsim_calib_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  detail::CalibrateRequest request;
  request.base_path = repo_path("topologies/dgx-h100.json");
  request.base_name = "dgx-h100";
  request.nccl_tests = {test::data_path("nccl-tests/h100-4gpu-nvlink-ib200x4_allgather_2node_8gpu.log")};
  request.output = dir + "/out.json";
  request.gpus_per_node = 4;
  request.nics = 4;
  request.nic_gbps = 200;
  const CalibrationReport report = detail::calibrate_files(request);
  const Topology t = load_topology(dir + "/out.json");
  EXPECT_EQ(t.gpus_per_node, 4);
  EXPECT_EQ(t.nics_per_node, 4);
  EXPECT_DOUBLE_EQ(t.nic_bandwidth, 25e9);
  EXPECT_DOUBLE_EQ(t.efficiency.collective.at("inter_node").at("all_gather"), 0.97);
  ASSERT_FALSE(report.lines.empty());
  EXPECT_NE(report.lines.front().find("GPUs per node 4 (base 8), NICs per node 4 (base 8), Gb/s per NIC 200"),
            std::string::npos) << report.lines.front();
  // Only --gpus-per-node: the 8 x 400 Gb/s NICs now serve 4 GPUs (100 GB/s each, a ring 400 GB/s),
  // so the fit reaches 24 % of that line rate, and the output says which flags would fix it.
  request.nics = 0;
  request.nic_gbps = 0;
  const CalibrationReport fast_nics = detail::calibrate_files(request);
  bool warned = false;
  for (const auto& w : fast_nics.warnings) {
    warned = warned || (w.find("24 % of the line rate") != std::string::npos &&
                        w.find("give --nics / --nic-gbps") != std::string::npos);
  }
  EXPECT_TRUE(warned);
  fs::remove_all(dir);
}

// Issue 16, S11: logs whose "# Rank" device lines are elided (only rank 0 printed). The rank
// count comes from busbw/algbw (an 8-rank all-gather: 7/8) or --ranks, the hosts from --base,
// and the fit is the full log's.
TEST(CalibrateFiles, ElidedDeviceLinesTakeTheRankCountFromTheBusFactor) {
  char dir_template[] = "/tmp/spsim_calib_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string full = test::read_text(test::data_path("nccl-tests/h100-4gpu-nvlink-ib200x4_allgather_2node_8gpu.log"));
  std::string elided;
  std::istringstream in(full);
  for (std::string line; std::getline(in, line);) {
    const bool other_rank = line.find("#  Rank ") == 0 && line.find("#  Rank  0 ") != 0;
    if (!other_rank) elided += line + "\n";
  }
  ASSERT_LT(elided.size(), full.size());
  std::ofstream(dir + "/elided.log") << elided;
  const auto runs = read_nccl_tests_log(elided, "elided.log");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].ranks, 8);
  EXPECT_EQ(runs[0].listed_ranks, 1);
  EXPECT_EQ(runs[0].ranks_per_node, 0);  // unknown until a base lays them out
  detail::CalibrateRequest request;
  request.base_path = repo_path("topologies/hgx-h100-4gpu.json");
  request.base_name = "hgx-h100-4gpu";
  request.nccl_tests = {dir + "/elided.log"};
  request.output = dir + "/out.json";
  const CalibrationReport report = detail::calibrate_files(request);
  EXPECT_DOUBLE_EQ(load_topology(dir + "/out.json").efficiency.collective.at("inter_node").at("all_gather"), 0.97);
  bool said = false;
  for (const auto& line : report.lines) said = said || line.find("lists 1 of 8 ranks' device lines; taken as 4 per host") != std::string::npos;
  EXPECT_TRUE(said);
  // --ranks gives the count; one that the bus factor contradicts is the usual one-line error,
  // which now names --ranks.
  EXPECT_EQ(read_nccl_tests_log(elided, "elided.log", "", 8)[0].ranks, 8);
  EXPECT_INPUT_ERROR(read_nccl_tests_log(elided, "elided.log", "", 4), "spsim calibrate --ranks N");
  EXPECT_INPUT_ERROR(read_nccl_tests_log(full, "full.log", "", 4), "the log lists ranks up to 7, but --ranks says 4");
  fs::remove_all(dir);
}

TEST(CalibrateCli, BadLogIsOneLineNamingFileAndLineAndWritesNothing) {
  char dir_template[] = "/tmp/spsim_calib_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  std::string log = test::read_text(test::data_path("nccl-tests/h100-sxm-ndr400_alltoall_1node_8gpu.log"));
  log.replace(log.find("124.79"), 6, "12x.79");  // first data row, line 21 of the file
  std::ofstream(dir + "/bad.log") << log;
  const auto r = test::run_spsim("calibrate --base dgx-h100 --nccl-tests bad.log -o out.json", dir);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("bad.log:21: column \"time\": expected a non-negative number (got \"12x.79\")"),
            std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(dir + "/out.json"));
  EXPECT_FALSE(fs::exists(dir + "/out.json.tmp"));
  fs::remove_all(dir);
}

// --- spsim run uses the fitted numbers.

double ulysses_a2a_seconds(const std::string& topology_path) {
  const auto r = test::run_spsim("run --strategy ulysses -u 8 --gpus 8 --seq 1M --json -T " + topology_path);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return 0;
  return nlohmann::json::parse(r.out)["breakdown"]["comm_s"]["ulysses_a2a"].get<double>();
}

TEST(ShippedCalibratedTopology, RunTimesFollowTheFittedBusbw) {
  // Ulysses u=8 on one DGX H100 at 1M tokens: every all-to-all message (K/V 131072 tokens x 1024
  // x 2 B = 256 MiB, Q/O 1 GiB per GPU, nccl-tests size convention) lies in the alltoall fit's
  // range (256 MiB..16 GiB),
  // so each call costs alpha + bytes_per_gpu / busbw. With alpha set to 0, halving busbw must
  // exactly double the all-to-all time, and the time must equal what the fitted busbw says.
  const std::string shipped = repo_path("topologies/calibrated/dgx-h100-nccl-tests.json");
  auto doc = nlohmann::json::parse(test::read_text(shipped));
  auto& fits = doc["calibration"]["collective_fits"];
  nlohmann::json* a2a = nullptr;
  for (auto& f : fits) {
    if (f["kind"] == "all_to_all") a2a = &f;
  }
  ASSERT_NE(a2a, nullptr);
  ASSERT_LE((*a2a)["min_bytes"].get<double>(), 268435456.0);
  const double busbw = (*a2a)["busbw_GBps"].get<double>();
  char dir_template[] = "/tmp/spsim_calib_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  (*a2a)["alpha_us"] = 0;
  std::ofstream(dir + "/full.json") << doc.dump(2);
  (*a2a)["busbw_GBps"] = busbw / 2;
  std::ofstream(dir + "/half.json") << doc.dump(2);
  const double full = ulysses_a2a_seconds(dir + "/full.json");
  const double half = ulysses_a2a_seconds(dir + "/half.json");
  ASSERT_GT(full, 0);
  EXPECT_NEAR(half / full, 2.0, 1e-9);
  // And the datasheet topology (efficiency 0.77 x 450 = 346.5 GB/s, plus per-call latency)
  // differs from the calibrated file: the calibrated topology is what the run used.
  const double datasheet = ulysses_a2a_seconds("dgx-h100");
  const double calibrated = ulysses_a2a_seconds(shipped);
  EXPECT_NE(datasheet, calibrated);
  // By hand: per layer and direction 4 all-to-alls (Q, K, V, O) moving (1 GiB + 256 MiB + 256 MiB
  // + 1 GiB) x 7/8 = 2,348,810,240 B per GPU; 32 layers x fwd+bwd = 256 calls and
  // 150,323,855,360 B. Time = 256 alpha + bytes / busbw (122.35 us, 348.38 GB/s: 0.4628 s).
  const double alpha_s = nlohmann::json::parse(test::read_text(shipped))["calibration"]["collective_fits"][2]["alpha_us"].get<double>() * 1e-6;
  EXPECT_NEAR(calibrated, 256 * alpha_s + 150323855360.0 / (busbw * 1e9), 1e-6 * calibrated);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace spsim
