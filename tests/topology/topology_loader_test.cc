// Shipped topologies, --set overrides and malformed files.
#include "spsim/topology.h"

#include <nlohmann/json.hpp>

#include "spsim/units.h"
#include "test_util.h"

namespace spsim {
namespace {

TEST(ShippedTopologies, TenDatasheetFilesLoad) {
  const std::vector<std::string> expected = {
      "dgx-a100-40gb", "dgx-a100-80gb", "dgx-b200", "dgx-h100", "dgx-h200",
      "gb200-nvl72",   "hgx-a800",      "hgx-h100-4gpu", "hgx-h800", "l20-pcie-8x"};
  EXPECT_EQ(list_topologies(), expected);
}

TEST(ShippedTopologies, EveryConstantHasASourceAndASaneValue) {
  for (const auto& name : list_topologies()) {
    SCOPED_TRACE(name);
    const Topology t = load_topology(name);
    EXPECT_EQ(t.name, name);
    EXPECT_FALSE(t.gpu.source.empty());
    EXPECT_FALSE(t.intra_node_source.empty());
    EXPECT_FALSE(t.network_source.empty());
    EXPECT_FALSE(t.efficiency.kernels.source.empty());
    EXPECT_FALSE(t.efficiency.kernels.name.empty()) << "shipped topologies use a gpus/*.json kernel model";
    EXPECT_FALSE(t.efficiency.collective_source.empty());
    EXPECT_EQ(t.provenance, "datasheet");
    EXPECT_TRUE(t.fits.empty());
    // Dense bf16 peaks between 100 and 3000 TFLOP/s, HBM 24..200 GiB, 0.5..10 TB/s.
    EXPECT_GT(t.gpu.peak(Precision::kBf16), 100e12);
    EXPECT_LT(t.gpu.peak(Precision::kBf16), 3000e12);
    EXPECT_GE(t.gpu.hbm_bytes, 24 * kGiB);
    EXPECT_LE(t.gpu.hbm_bytes, 200 * kGiB);
    EXPECT_GT(t.gpu.hbm_bandwidth, 0.5e12);
    EXPECT_LT(t.gpu.hbm_bandwidth, 10e12);
    // Efficiencies are fractions, never folded into the peaks (FlashAttention-2 on Blackwell
    // reaches 0.14 of the peak: the lowest shipped), and latencies are microseconds, not more.
    std::vector<KernelTiming> timings;
    for (const auto& [k, v] : t.efficiency.kernels.gemm) timings.push_back(v);
    for (const auto& [k, v] : t.efficiency.kernels.elementwise) timings.push_back(v);
    for (const auto& [k, v] : t.efficiency.kernels.attention) {
      for (const KernelTiming& call : {v.fwd, v.fwd_causal, v.bwd, v.bwd_causal}) timings.push_back(call);
    }
    // Compute next to NCCL: the published average slowdown (arXiv 2507.03114), not a tuned value.
    EXPECT_DOUBLE_EQ(t.efficiency.kernels.comm_slowdown, 0.189);
    for (const KernelTiming& timing : timings) {
      EXPECT_GT(timing.efficiency, 0.1);
      EXPECT_LE(timing.efficiency, 1.0);
      EXPECT_GE(timing.latency_s, 0.0);
      EXPECT_LT(timing.latency_s, 1e-3);
    }
    for (const char* scope : {"intra_node", "inter_node"}) {
      for (const char* kind : {"all_to_all", "all_gather", "reduce_scatter", "all_reduce", "send_recv"}) {
        const double e = t.efficiency.for_collective(scope, kind);
        EXPECT_GT(e, 0.0);
        EXPECT_LE(e, 1.0);
      }
    }
    // The file survives a write/read round trip unchanged.
    EXPECT_EQ(parse_topology(topology_to_json(t), t.path), t);
  }
}

TEST(ShippedTopologies, DatasheetNumbersOfDgxH100) {
  // H100 SXM5 datasheet: 989.5 dense bf16 TFLOP/s (1979 with sparsity), 3.35 TB/s, 80 GB;
  // NVLink4 900 GB/s bidirectional = 450 GB/s per direction; ConnectX-7 400 Gb/s = 50 GB/s.
  const Topology t = load_topology("dgx-h100");
  EXPECT_DOUBLE_EQ(t.gpu.peak(Precision::kBf16), 989.5e12);
  EXPECT_DOUBLE_EQ(t.gpu.hbm_bandwidth, 3.35e12);
  EXPECT_DOUBLE_EQ(t.intra_node_bandwidth, 450e9);
  EXPECT_DOUBLE_EQ(t.nic_bandwidth, 50e9);
  EXPECT_DOUBLE_EQ(t.nic_bandwidth_per_gpu(), 50e9);
  EXPECT_DOUBLE_EQ(t.intra_node_latency_s, 3.4e-6);
  // A800 / H800 are the reduced-NVLink export SKUs (spec §6.9): 400 GB/s bidirectional.
  EXPECT_DOUBLE_EQ(load_topology("hgx-a800").intra_node_bandwidth, 200e9);
  EXPECT_DOUBLE_EQ(load_topology("hgx-h800").intra_node_bandwidth, 200e9);
  EXPECT_EQ(load_topology("gb200-nvl72").gpus_per_node, 72);
  EXPECT_EQ(load_topology("l20-pcie-8x").intra_node_kind, "pcie");
}

TEST(ShippedTopologies, UnknownNameSuggests) {
  EXPECT_THROW_MSG(load_topology("dgx-h10"), InputError, "dgx-h100");
}

// ---------------------------------------------------------------------------------------------
// --set

void expect_set_error(const std::string& assignment, const std::string& where,
                      const std::string& fragment) {
  Topology t = load_topology("dgx-h100");
  const Topology before = t;
  try {
    apply_override(t, assignment);
    ADD_FAILURE() << "expected InputError for " << assignment;
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), where) << e.full();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.full();
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
  EXPECT_EQ(t, before) << "a rejected override must leave the topology unchanged";
}

TEST(TopologyOverride, SetsEfficiency) {
  Topology t = load_topology("dgx-h100");
  apply_override(t, "gpu.kernels.gemm.fp8.efficiency=0.75");
  EXPECT_DOUBLE_EQ(t.efficiency.kernels.gemm.at("fp8").efficiency, 0.75);
  apply_override(t, "gpu.kernels.attention.flash2.bwd.latency_us=7");
  EXPECT_DOUBLE_EQ(t.efficiency.kernels.attention.at("flash2").bwd.latency_s, 7e-6);
  // Everything else unchanged.
  Topology fresh = load_topology("dgx-h100");
  fresh.efficiency.kernels.gemm["fp8"].efficiency = 0.75;
  fresh.efficiency.kernels.attention["flash2"].bwd.latency_s = 7e-6;
  EXPECT_EQ(t, fresh);
}

TEST(TopologyOverride, ClassShortcutsSetEveryTimingOfTheClass) {
  Topology t = load_topology("dgx-h100");
  apply_override(t, "gpu.gemm_efficiency=0.5");
  for (const auto& [dtype, timing] : t.efficiency.kernels.gemm) EXPECT_DOUBLE_EQ(timing.efficiency, 0.5) << dtype;
  apply_override(t, "gpu.attention_efficiency=0.4");
  for (const auto& [impl, calls] : t.efficiency.kernels.attention) {
    for (const KernelTiming& call : {calls.fwd, calls.fwd_causal, calls.bwd, calls.bwd_causal}) {
      EXPECT_DOUBLE_EQ(call.efficiency, 0.4) << impl;
    }
  }
  apply_override(t, "gpu.kernel_overhead_us=2");
  EXPECT_DOUBLE_EQ(t.efficiency.kernels.elementwise.at("eager").latency_s, 2e-6);
  EXPECT_DOUBLE_EQ(t.efficiency.kernels.gemm.at("bf16").latency_s, 2e-6);
  EXPECT_DOUBLE_EQ(t.efficiency.kernels.elementwise.at("eager").efficiency, 0.33);  // untouched
}

TEST(TopologyLoader, KernelModelIsNamedOrInlineNeverBoth) {
  // A legacy file (one efficiency per class) still loads, as a uniform kernel model.
  nlohmann::json legacy = nlohmann::json::parse(test::read_text(std::string(SPSIM_SOURCE_DATA_DIR) + "/topologies/dgx-h100.json"));
  legacy["gpu"].erase("kernels");
  legacy["gpu"]["gemm_efficiency"] = 0.7;
  legacy["gpu"]["attention_efficiency"] = 0.5;
  legacy["gpu"]["memory_efficiency"] = 0.9;
  legacy["gpu"]["kernel_overhead_us"] = 4;
  legacy["gpu"]["efficiency_source"] = "test";
  const Topology t = parse_topology(legacy.dump(), "legacy.json");
  EXPECT_DOUBLE_EQ(t.efficiency.kernels.gemm_for("fp8").efficiency, 0.7);
  EXPECT_DOUBLE_EQ(t.efficiency.kernels.attention_for("flash2").bwd_causal.efficiency, 0.5);
  EXPECT_DOUBLE_EQ(t.efficiency.kernels.elementwise_for("eager").latency_s, 4e-6);
  // Both: the file would say two things; one line naming the key.
  nlohmann::json both = legacy;
  both["gpu"]["kernels"] = "h100-sxm";
  EXPECT_THROW_MSG(parse_topology(both.dump(), "both.json"), InputError, "gemm_efficiency");
  // A kernel model missing an implementation is refused, not filled in.
  nlohmann::json inline_model = nlohmann::json::parse(test::read_text(std::string(SPSIM_SOURCE_DATA_DIR) + "/gpus/h100-sxm.json"));
  inline_model["attention"].erase("flash2");
  nlohmann::json partial = legacy;
  for (const char* key : {"gemm_efficiency", "attention_efficiency", "memory_efficiency", "kernel_overhead_us",
                          "efficiency_source"}) {
    partial["gpu"].erase(key);
  }
  partial["gpu"]["kernels"] = inline_model;
  EXPECT_THROW_MSG(parse_topology(partial.dump(), "partial.json"), InputError, "flash2");
  nlohmann::json unknown = partial;
  unknown["gpu"]["kernels"] = "h100-sxn";
  EXPECT_THROW_MSG(parse_topology(unknown.dump(), "unknown.json"), InputError, "h100-sxm");
}

TEST(TopologyOverride, ConvertsUnitsOfTheKeyName) {
  Topology t = load_topology("dgx-h100");
  apply_override(t, "network.nic_bandwidth_Gbps=200");  // 200 Gbit/s = 25 GB/s
  EXPECT_DOUBLE_EQ(t.nic_bandwidth, 25e9);
  apply_override(t, "node.latency_us=2");
  EXPECT_DOUBLE_EQ(t.intra_node_latency_s, 2e-6);
  apply_override(t, "collective_efficiency.inter_node.all_to_all=0.7");
  EXPECT_DOUBLE_EQ(t.efficiency.for_collective("inter_node", "all_to_all"), 0.7);
  apply_override(t, "network.rail_optimized=false");
  EXPECT_FALSE(t.rail_optimized);
  apply_override(t, "gpu.peak_tflops.bf16=1000");
  EXPECT_DOUBLE_EQ(t.gpu.peak(Precision::kBf16), 1000e12);
}

TEST(TopologyOverride, UnknownKeySuggests) {
  expect_set_error("gpu.gemm_efficency=0.8", "--set gpu.gemm_efficency",
                   "did you mean \"gpu.gemm_efficiency\"");
  expect_set_error("zzzz=1", "--set zzzz", "unknown topology key");
}

TEST(TopologyOverride, RejectsOutOfRange) {
  expect_set_error("gpu.gemm_efficiency=1.5", "--set gpu.gemm_efficiency", "(0, 1]");
  expect_set_error("gpu.gemm_efficiency=0", "--set gpu.gemm_efficiency", "(0, 1]");
  expect_set_error("node.bandwidth_GBps=-5", "--set node.bandwidth_GBps", "greater than 0");
  expect_set_error("network.oversubscription=0.5", "--set network.oversubscription", "at least 1");
  expect_set_error("node.gpus=0", "--set node.gpus", "between 1 and");
}

TEST(TopologyOverride, RejectsNonNumbers) {
  expect_set_error("gpu.gemm_efficiency=fast", "--set gpu.gemm_efficiency", "expected a number");
  expect_set_error("gpu.gemm_efficiency=", "--set gpu.gemm_efficiency", "expected a number");
  expect_set_error("gpu.gemm_efficiency=0.8x", "--set gpu.gemm_efficiency", "expected a number");
  expect_set_error("gpu.gemm_efficiency=nan", "--set gpu.gemm_efficiency", "expected a number");
  expect_set_error("gpu.gemm_efficiency=inf", "--set gpu.gemm_efficiency", "expected a number");
  expect_set_error("node.gpus=7.5", "--set node.gpus", "whole number");
  expect_set_error("network.rail_optimized=1", "--set network.rail_optimized", "true or false");
  expect_set_error("gpu.gemm_efficiency", "--set", "not key=value");
  expect_set_error("gpu.name=X", "--set gpu.name", "only numeric and boolean fields");
}

// ---------------------------------------------------------------------------------------------
// Malformed files: the message names the file and the field (JSON pointer), the rule and a fix.

nlohmann::json h100_json() { return nlohmann::json::parse(topology_to_json(load_topology("dgx-h100"))); }

void expect_file_error(const nlohmann::json& json, const std::string& fragment) {
  try {
    parse_topology(json.dump(2), "my/cluster.json");
    ADD_FAILURE() << "expected InputError containing " << fragment;
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), "my/cluster.json") << e.full();
    EXPECT_NE(e.full().find(fragment), std::string::npos) << e.full();
  }
}

TEST(TopologyFile, SyntaxErrorHasLineAndColumn) {
  try {
    parse_topology("{\n  \"name\": \"x\",\n  oops\n}", "my/cluster.json");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), "my/cluster.json");
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("column"), std::string::npos) << e.what();
  }
}

TEST(TopologyFile, MissingField) {
  auto j = h100_json();
  j["gpu"].erase("hbm_gib");
  expect_file_error(j, "/gpu/hbm_gib: missing required field");
}

TEST(TopologyFile, UnknownKeySuggests) {
  auto j = h100_json();
  j["node"]["bandwidth_GBs"] = 450;
  expect_file_error(j, "bandwidth_GBps");
}

TEST(TopologyFile, WrongType) {
  auto j = h100_json();
  j["network"]["nic_bandwidth_Gbps"] = "400";
  expect_file_error(j, "/network/nic_bandwidth_Gbps: expected a number");
}

TEST(TopologyFile, EmptySource) {
  auto j = h100_json();
  j["node"]["source"] = "";
  expect_file_error(j, "/node/source: is empty");
}

TEST(TopologyFile, EfficiencyAboveOne) {
  auto j = h100_json();
  j["collective_efficiency"]["intra_node"]["all_gather"] = 1.2;
  expect_file_error(j, "/collective_efficiency/intra_node/all_gather: an efficiency must be in (0, 1]");
}

TEST(TopologyFile, UnknownInterconnect) {
  auto j = h100_json();
  j["node"]["interconnect"] = "infinityfabric";
  expect_file_error(j, "/node/interconnect: unknown interconnect");
}

TEST(TopologyFile, NicsMustShareEvenly) {
  auto j = h100_json();
  j["network"]["nics_per_node"] = 3;
  expect_file_error(j, "/network/nics_per_node: must divide node.gpus=8");
}

TEST(TopologyFile, NoPeaks) {
  auto j = h100_json();
  j["gpu"]["peak_tflops"] = nlohmann::json::object();
  expect_file_error(j, "/gpu/peak_tflops: lists no precision");
}

TEST(TopologyFile, MissingPrecisionPeakIsAnInputErrorWhenUsed) {
  Topology t = load_topology("l20-pcie-8x");
  t.gpu.peak_flops.erase("fp8");
  EXPECT_THROW_MSG(t.gpu.peak(Precision::kFp8), InputError, "gpu.peak_tflops.fp8");
}

nlohmann::json h100_with_curve() {
  Topology t = load_topology("dgx-h100");
  t.efficiency.gemm_curve.points = {{1, 0.4}, {4, 0.6}, {16, 0.8}};
  t.efficiency.gemm_curve.dtype = "bf16";
  t.efficiency.gemm_curve.source = "test";
  return nlohmann::json::parse(topology_to_json(t));
}

TEST(TopologyFile, EfficiencyCurveRoundTripsAndIsOptional) {
  const nlohmann::json j = h100_with_curve();
  ASSERT_TRUE(j["gpu"].contains("gemm_efficiency_curve"));
  EXPECT_FALSE(j["gpu"].contains("attention_efficiency_curve"));  // absent when empty
  const Topology t = parse_topology(j.dump(), "x.json");
  EXPECT_EQ(t.efficiency.gemm_curve.points.size(), 3u);
  EXPECT_DOUBLE_EQ(t.efficiency.gemm_curve.points[1].gflop, 4);
  EXPECT_DOUBLE_EQ(t.efficiency.gemm_curve.points[1].efficiency, 0.6);
  EXPECT_TRUE(t.efficiency.attention_curve.empty());
  EXPECT_EQ(parse_topology(topology_to_json(t), "x.json"), t);
}

TEST(TopologyFile, BadEfficiencyCurvesNameTheFieldAndTheFix) {
  auto j = h100_with_curve();
  j["gpu"]["gemm_efficiency_curve"]["points"][1]["gflop"] = 0.5;
  expect_file_error(j, "/gpu/gemm_efficiency_curve/points/1/gflop: must be larger than the previous point's 1");
  j = h100_with_curve();
  j["gpu"]["gemm_efficiency_curve"]["points"][2]["efficiency"] = 1.3;
  expect_file_error(j, "/gpu/gemm_efficiency_curve/points/2/efficiency: an efficiency must be in (0, 1]");
  j = h100_with_curve();
  j["gpu"]["gemm_efficiency_curve"]["points"][0]["gflop"] = -1;
  expect_file_error(j, "/gpu/gemm_efficiency_curve/points/0/gflop: must be greater than 0");
  j = h100_with_curve();
  j["gpu"]["gemm_efficiency_curve"]["points"] = nlohmann::json::array();
  expect_file_error(j, "/gpu/gemm_efficiency_curve/points: expected a non-empty array");
  j = h100_with_curve();
  j["gpu"]["gemm_efficiency_curve"]["dtype"] = "bf8";
  expect_file_error(j, "/gpu/gemm_efficiency_curve/dtype: unknown precision \"bf8\"");
  j = h100_with_curve();
  j["gpu"]["gemm_efficiency_curve"]["points"][0]["gflops"] = 1;
  expect_file_error(j, "gflops");
  j = h100_with_curve();
  j["gpu"]["gemm_efficiency_curve"].erase("source");
  expect_file_error(j, "/gpu/gemm_efficiency_curve/source: missing required field");
}

TEST(TopologyFile, NumbersOutsideAPhysicalRangeAreRefused) {
  // D7 (robustness study): hbm_gib 1e300 overflowed the capacity to -9.2e18 bytes (fits: true)
  // or null; bandwidths and peaks of 1e-300 gave a NaN MFU and 300-digit step times.
  const std::vector<std::pair<std::vector<std::string>, double>> cases = {
      {{"gpu", "hbm_gib"}, 1e300},
      {{"gpu", "hbm_bandwidth_TBps"}, 1e-300},
      {{"gpu", "peak_tflops", "bf16"}, 1e-300},
      {{"node", "bandwidth_GBps"}, 1e-300},
      {{"node", "latency_us"}, 1e300},
      {{"network", "nic_bandwidth_Gbps"}, 1e300},
      {{"network", "oversubscription"}, 1e300},
      {{"gpu", "kernels", "gemm", "bf16", "efficiency"}, 1e-300},
      {{"gpu", "kernels", "elementwise", "fused", "latency_us"}, 1e300},
      {{"gpu", "kernels", "compute_slowdown_under_comm"}, 1e300},
  };
  for (const auto& [path, value] : cases) {
    auto j = h100_json();
    nlohmann::json* leaf = &j;
    std::string pointer;
    for (const auto& key : path) {
      leaf = &(*leaf)[key];
      pointer += "/" + key;
    }
    *leaf = value;
    expect_file_error(j, pointer + ": must be between");
  }
  Topology t = load_topology("dgx-h100");
  EXPECT_THROW_MSG(apply_override(t, "gpu.hbm_gib=1e300"), InputError, "must be between 0 and 1.04858e+06");
  EXPECT_THROW_MSG(apply_override(t, "gpu.hbm_bandwidth_TBps=1e-300"), InputError, "must be between 1e-06 and 10000");
}

}  // namespace
}  // namespace spsim

namespace spsim {
namespace {

TEST(TopologyForJob, PartOfAnNvl72RackInWholeTrays) {
  const Topology nvl = load_topology("gb200-nvl72");
  EXPECT_EQ(nvl.allocation_gpus, 4);
  // 72 GPUs or fewer: one domain as it is; whole racks as they are.
  EXPECT_EQ(topology_for_job(nvl, 64).gpus_per_node, 72);
  EXPECT_EQ(topology_for_job(nvl, 144).gpus_per_node, 72);
  // 128 and 256 GPUs: 64 of each rack's 72 (16 trays), with their NICs.
  const Topology part = topology_for_job(nvl, 256);
  EXPECT_EQ(part.gpus_per_node, 64);
  EXPECT_EQ(part.nics_per_node, 64);
  EXPECT_DOUBLE_EQ(part.nic_bandwidth_per_gpu(), nvl.nic_bandwidth_per_gpu());
  EXPECT_EQ(topology_for_job(nvl, 128).gpus_per_node, 64);
  // 100 GPUs: 25 trays; the largest whole number of trays per rack dividing 100 is 5 trays = 20.
  EXPECT_EQ(topology_for_job(nvl, 100).gpus_per_node, 20);
  EXPECT_THROW_MSG(topology_for_job(nvl, 74), InputError, "4-GPU allocation units");
  // A DGX node is its own allocation unit: no partial nodes.
  EXPECT_THROW_MSG(topology_for_job(load_topology("dgx-h100"), 12), InputError, "whole number of 8-GPU nodes");
}

}  // namespace
}  // namespace spsim
