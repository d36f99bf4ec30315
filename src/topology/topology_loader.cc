// Reads, writes and overrides topology files (topologies/*.json; schema in docs/topology.md).
//
// Units are converted only here: the file says GB/s, Gbit/s, TFLOP/s, TB/s, GiB and us in its
// key names; the Topology struct holds bytes, bytes/s, FLOP/s and seconds.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/data_dir.h"
#include "common/json_reader.h"
#include "spsim/error.h"
#include "spsim/limits.h"
#include "spsim/topology.h"
#include "spsim/units.h"

namespace spsim {

namespace {

using detail::ObjectReader;
using Json = nlohmann::ordered_json;  // written files keep the documented key order

constexpr const char* kDtypes[] = {"fp32", "tf32", "bf16", "fp16", "fp8"};
constexpr const char* kKinds[] = {"all_to_all", "all_gather", "reduce_scatter", "all_reduce",
                                  "send_recv"};
constexpr const char* kScopes[] = {"intra_node", "inter_node"};
constexpr const char* kInterconnects[] = {"nvswitch", "nvlink", "pcie"};
constexpr double kMax = std::numeric_limits<double>::max();

// Conversion factors file unit -> SI.
constexpr double kTflops = kTera;        // TFLOP/s -> FLOP/s
constexpr double kTBps = kTera;          // TB/s -> bytes/s
constexpr double kGBps = kGB;            // GB/s -> bytes/s
constexpr double kGbps = kGbit;          // Gbit/s -> bytes/s
constexpr double kUs = kMicro;           // us -> s

template <size_t N>
bool one_of(const std::string& value, const char* const (&choices)[N]) {
  return std::find(std::begin(choices), std::end(choices), value) != std::end(choices);
}

template <size_t N>
std::string join(const char* const (&choices)[N]) {
  std::string text;
  for (size_t i = 0; i < N; ++i) text += (i == 0 ? "" : i + 1 == N ? " or " : ", ") + std::string(choices[i]);
  return text;
}

// Any finite number; the range rules below give their own messages with a fix.
double any_number(ObjectReader& in, const std::string& key) {
  return in.number(key, std::nullopt, -kMax, kMax);
}

// The largest compute slowdown a collective can cause that a file may state: the worst published
// case is 2.5x for elementwise kernels next to an NVLink all-gather (NVIDIA/nccl#1428), a slowdown
// of 1.5; 3 leaves room for calibration without admitting a typo of 100x.
constexpr double kMaxCommSlowdown = 3.0;

// Within the physical range [min_si, max_si] of limits.h once converted by `factor` (file unit ->
// SI); returns the file value. The message gives the range in the file's unit.
double in_range(ObjectReader& in, const std::string& key, double value, double factor, double min_si,
                double max_si) {
  if (value * factor < min_si || value * factor > max_si) {
    in.fail(key, fmt::format("must be between {:g} and {:g} (got {:g}; README \"Limits and errors\"); use "
                             "the datasheet value", min_si / factor, max_si / factor, value));
  }
  return value;
}

double positive(ObjectReader& in, const std::string& key, double factor, double min_si, double max_si) {
  const double value = any_number(in, key);
  if (!(value > 0)) in.fail(key, fmt::format("must be greater than 0 (got {}); use the datasheet value", value));
  return in_range(in, key, value, factor, min_si, max_si);
}

double non_negative(ObjectReader& in, const std::string& key, double factor, double max_si) {
  const double value = any_number(in, key);
  if (value < 0) in.fail(key, fmt::format("must not be negative (got {}); use 0 or more", value));
  return in_range(in, key, value, factor, 0, max_si);
}

// An efficiency: achieved / peak, in (0, 1].
double fraction(ObjectReader& in, const std::string& key) {
  const double value = any_number(in, key);
  if (!(value > 0 && value <= 1)) {
    in.fail(key, fmt::format("an efficiency must be in (0, 1] (got {}); it is achieved / peak, e.g. 0.8", value));
  }
  return in_range(in, key, value, 1, kMinEfficiency, 1);
}

std::string source(ObjectReader& in, const std::string& key) {
  std::string value = in.string(key);
  if (value.empty()) {
    in.fail(key, "is empty; name where the numbers come from (datasheet URL, document or benchmark)");
  }
  return value;
}

std::string name_string(ObjectReader& in, const std::string& key) {
  std::string value = in.string(key);
  if (value.empty()) in.fail(key, "is empty; give a name");
  return value;
}

// An optional calibrated efficiency curve under gpu (see EfficiencyCurve).
EfficiencyCurve read_curve(ObjectReader& gpu, const std::string& key) {
  EfficiencyCurve curve;
  if (!gpu.has(key)) {
    gpu.ignore(key);
    return curve;
  }
  ObjectReader in = gpu.object(key);
  curve.dtype = in.string("dtype");
  if (!one_of(curve.dtype, kDtypes)) {
    in.fail("dtype", fmt::format("unknown precision \"{}\"; use {}", curve.dtype, join(kDtypes)));
  }
  const nlohmann::json& points = in.raw("points");
  if (!points.is_array() || points.empty()) {
    in.fail("points", "expected a non-empty array of {\"gflop\": ..., \"efficiency\": ...}");
  }
  for (size_t i = 0; i < points.size(); ++i) {
    ObjectReader p(points[i], gpu.file(), in.pointer("points") + "/" + std::to_string(i));
    EfficiencyCurve::Point point;
    point.gflop = positive(p, "gflop", 1e9, 1, kMaxKernelFlops);
    point.efficiency = fraction(p, "efficiency");
    p.finish();
    if (!curve.points.empty() && !(point.gflop > curve.points.back().gflop)) {
      p.fail("gflop", fmt::format("must be larger than the previous point's {} (got {}); sort the points "
                                  "by size, one per size", curve.points.back().gflop, point.gflop));
    }
    curve.points.push_back(point);
  }
  curve.source = source(in, "source");
  in.finish();
  return curve;
}

Json curve_json(const EfficiencyCurve& curve) {
  Json out;
  out["dtype"] = curve.dtype;
  Json points = Json::array();
  for (const auto& p : curve.points) points.push_back(Json{{"gflop", p.gflop}, {"efficiency", p.efficiency}});
  out["points"] = points;
  out["source"] = curve.source;
  return out;
}

double to_file_unit(double si_value, double factor);

constexpr const char* kAttentionImpls[] = {"cudnn", "flash2"};
constexpr const char* kOptionalAttentionImpls[] = {"triton"};
constexpr const char* kElementwiseImpls[] = {"fused", "eager"};
constexpr const char* kAttentionCalls[] = {"fwd", "fwd_causal", "bwd", "bwd_causal"};

KernelTiming read_timing(ObjectReader& parent, const std::string& key) {
  ObjectReader in = parent.object(key);
  KernelTiming timing;
  timing.efficiency = fraction(in, "efficiency");
  timing.latency_s = non_negative(in, "latency_us", kUs, kMaxLatency) * kUs;
  in.finish();
  return timing;
}

KernelTiming& attention_call(AttentionTimings& t, const std::string& call) {
  if (call == "fwd") return t.fwd;
  if (call == "fwd_causal") return t.fwd_causal;
  if (call == "bwd") return t.bwd;
  return t.bwd_causal;
}

// A kernel model object (gpus/*.json, or a topology's inline gpu.kernels). Every GEMM dtype the
// GPU lists a peak for needs a timing (fp16 runs as bf16), and both implementations of attention
// and of elementwise kernels: nothing falls back silently.
KernelModel read_kernel_model(const nlohmann::json& json, const std::string& file, const std::string& pointer,
                              const GpuSpec& gpu) {
  ObjectReader in(json, file, pointer);
  KernelModel model;
  model.name = in.string("name", std::string());
  in.ignore("description");
  {
    ObjectReader gemm = in.object("gemm");
    for (const char* dtype : kDtypes) {
      if (gemm.has(dtype)) model.gemm[dtype] = read_timing(gemm, dtype);
      gemm.ignore(dtype);
      const bool needed = std::string(dtype) != "fp16" && gpu.peak_flops.count(dtype) > 0;
      if (needed && model.gemm.count(dtype) == 0) {
        gemm.fail(dtype, fmt::format("is missing: the GPU lists a {} peak, so its GEMMs need a timing "
                                     "{{\"efficiency\": ..., \"latency_us\": ...}}", dtype));
      }
    }
    gemm.finish();
  }
  {
    ObjectReader attention = in.object("attention");
    auto read_impl = [&](const char* impl) {
      ObjectReader calls = attention.object(impl);
      AttentionTimings& timings = model.attention[impl];
      for (const char* call : kAttentionCalls) attention_call(timings, call) = read_timing(calls, call);
      calls.finish();
    };
    for (const char* impl : kAttentionImpls) read_impl(impl);
    // Optional: only GPUs with a published measurement of the kernel have it.
    for (const char* impl : kOptionalAttentionImpls) {
      if (attention.has(impl)) read_impl(impl);
    }
    attention.finish();
  }
  {
    ObjectReader elementwise = in.object("elementwise");
    for (const char* impl : kElementwiseImpls) model.elementwise[impl] = read_timing(elementwise, impl);
    elementwise.finish();
  }
  if (in.has("compute_slowdown_under_comm")) {
    model.comm_slowdown = non_negative(in, "compute_slowdown_under_comm", 1.0, kMaxCommSlowdown);
  }
  in.ignore("compute_slowdown_under_comm");
  model.source = source(in, "source");
  in.finish();
  return model;
}

// Topology files written before kernel models: one efficiency per kernel class and one launch
// cost, which every implementation and size shares.
KernelModel flat_kernel_model(ObjectReader& gpu, const GpuSpec& spec) {
  const double overhead = non_negative(gpu, "kernel_overhead_us", kUs, kMaxLatency) * kUs;
  const double gemm = fraction(gpu, "gemm_efficiency");
  const double attention = fraction(gpu, "attention_efficiency");
  const double memory = fraction(gpu, "memory_efficiency");
  KernelModel model = KernelModel::uniform(gemm, attention, memory, overhead, source(gpu, "efficiency_source"));
  // Only the dtypes the GPU has a peak for (fp16 runs as bf16), as a file lists them.
  for (auto it = model.gemm.begin(); it != model.gemm.end();) {
    it = it->first != "bf16" && spec.peak_flops.count(it->first) == 0 ? model.gemm.erase(it) : std::next(it);
  }
  return model;
}

Json timing_json(const KernelTiming& t) {
  Json out;
  out["efficiency"] = t.efficiency;
  out["latency_us"] = to_file_unit(t.latency_s, kUs);
  return out;
}

Json kernel_model_json(const KernelModel& model) {
  Json out;
  if (!model.name.empty()) out["name"] = model.name;
  Json gemm = Json::object();
  for (const char* dtype : kDtypes) {
    if (const auto it = model.gemm.find(dtype); it != model.gemm.end()) gemm[dtype] = timing_json(it->second);
  }
  out["gemm"] = gemm;
  Json attention = Json::object();
  for (const auto& [impl, timings] : model.attention) {
    Json calls;
    AttentionTimings copy = timings;
    for (const char* call : kAttentionCalls) calls[call] = timing_json(attention_call(copy, call));
    attention[impl] = calls;
  }
  out["attention"] = attention;
  Json elementwise = Json::object();
  for (const auto& [impl, timing] : model.elementwise) elementwise[impl] = timing_json(timing);
  out["elementwise"] = elementwise;
  if (model.comm_slowdown > 0) out["compute_slowdown_under_comm"] = model.comm_slowdown;
  out["source"] = model.source;
  return out;
}

// SI value -> file unit. Prefers a short decimal (12 significant digits) when it converts back to
// exactly the same SI value, so written files read "0.7", not "0.7000000000000001", and
// parse(to_json(t)) == t holds bit for bit.
double to_file_unit(double si_value, double factor) {
  const double raw = si_value / factor;
  const std::string text = fmt::format("{:.12g}", raw);
  const double shortened = std::strtod(text.c_str(), nullptr);
  return shortened * factor == si_value ? shortened : raw;
}

Json whole_or_number(double value) {
  if (value == std::floor(value) && std::fabs(value) < 9e15) return static_cast<int64_t>(value);
  return value;
}

// Numeric and boolean leaves of the file, as dotted paths ("gpu.peak_tflops.bf16"), in file
// order. "calibration" is a record of a fit, not a setting, so it is left out.
void collect_leaves(const Json& json, const std::string& prefix, std::vector<std::string>& out) {
  for (const auto& item : json.items()) {
    const std::string path = prefix.empty() ? item.key() : prefix + "." + item.key();
    if (prefix.empty() && item.key() == "calibration") continue;
    if (item.value().is_object()) {
      collect_leaves(item.value(), path, out);
    } else if (item.value().is_number() || item.value().is_boolean()) {
      out.push_back(path);
    }
  }
}

void collect_leaves(const nlohmann::json& json, const std::string& prefix, std::vector<std::string>& out) {
  collect_leaves(Json::parse(json.dump()), prefix, out);
}

void read_calibration(ObjectReader& root, const nlohmann::json& json, Topology& t) {
  if (!root.has("calibration")) {
    root.ignore("calibration");
    t.provenance = "datasheet";
    return;
  }
  ObjectReader cal = root.object("calibration");
  t.provenance = name_string(cal, "provenance");
  if (cal.has("collective_fits")) {
    const nlohmann::json& fits = cal.raw("collective_fits");
    if (!fits.is_array()) {
      cal.fail("collective_fits", fmt::format("expected an array of fits, got {}; write [ {{...}}, ... ]", fits.type_name()));
    }
    for (size_t i = 0; i < fits.size(); ++i) {
      ObjectReader in(fits[i], root.file(), cal.pointer("collective_fits") + "/" + std::to_string(i));
      CollectiveFit fit;
      fit.kind = in.string("kind");
      if (!one_of(fit.kind, kKinds)) {
        in.fail("kind", fmt::format("unknown collective \"{}\"; use {}", fit.kind, join(kKinds)));
      }
      fit.scope = in.string("scope");
      if (!one_of(fit.scope, kScopes)) {
        in.fail("scope", fmt::format("unknown scope \"{}\"; use {}", fit.scope, join(kScopes)));
      }
      fit.group_size = static_cast<int>(in.integer("group_size", std::nullopt, 2, int64_t{1} << 24));
      if (fit.scope == "intra_node" && fit.group_size > t.gpus_per_node) {
        in.fail("group_size", fmt::format("an intra_node fit cannot have more ranks than node.gpus={} (got {}); "
                                          "use scope \"inter_node\"", t.gpus_per_node, fit.group_size));
      }
      fit.alpha_s = non_negative(in, "alpha_us", kUs, kMaxLatency) * kUs;
      fit.busbw = positive(in, "busbw_GBps", kGBps, kMinBandwidth, kMaxBandwidth) * kGBps;
      fit.min_bytes = non_negative(in, "min_bytes", 1, kMaxMessageBytes);
      fit.max_bytes = non_negative(in, "max_bytes", 1, kMaxMessageBytes);
      if (fit.max_bytes < fit.min_bytes) {
        in.fail("max_bytes", fmt::format("must be at least min_bytes={} (got {}); swap them", fit.min_bytes, fit.max_bytes));
      }
      fit.source = source(in, "source");
      in.finish();
      for (size_t j = 0; j < t.fits.size(); ++j) {
        const CollectiveFit& other = t.fits[j];
        if (other.kind == fit.kind && other.scope == fit.scope && other.group_size == fit.group_size &&
            fit.min_bytes <= other.max_bytes && other.min_bytes <= fit.max_bytes) {
          in.fail("min_bytes", fmt::format("size range {}..{} overlaps collective_fits/{} ({}, {}, {} ranks, "
                                           "{}..{}); make the ranges of one collective disjoint",
                                           fit.min_bytes, fit.max_bytes, j, other.kind, other.scope,
                                           other.group_size, other.min_bytes, other.max_bytes));
        }
      }
      t.fits.push_back(fit);
    }
  } else {
    cal.ignore("collective_fits");
  }
  if (cal.has("replaced")) {
    ObjectReader replaced = cal.object("replaced");
    std::vector<std::string> settable;
    collect_leaves(json, "", settable);
    for (const std::string& key : replaced.keys()) {
      if (std::find(settable.begin(), settable.end(), key) == settable.end()) {
        const std::string hint = closest_match(key, settable);
        replaced.fail(key, hint.empty()
                               ? fmt::format("\"{}\" is not a numeric field of this topology; use a dotted path such as gpu.gemm_efficiency", key)
                               : fmt::format("\"{}\" is not a numeric field of this topology; did you mean \"{}\"?", key, hint));
      }
      ObjectReader entry = replaced.object(key);
      ReplacedConstant constant;
      constant.key = key;
      constant.datasheet = any_number(entry, "datasheet");
      constant.fitted = any_number(entry, "fitted");
      constant.source = source(entry, "source");
      entry.finish();
      t.replaced.push_back(constant);  // keys() is sorted, so `replaced` is too
    }
    replaced.finish();
  } else {
    cal.ignore("replaced");
  }
  cal.finish();
}

Topology from_json(const nlohmann::json& json, const std::string& file) {
  ObjectReader root(json, file);
  Topology t;
  t.path = file;
  t.name = name_string(root, "name");
  t.description = root.string("description", std::string());

  ObjectReader gpu = root.object("gpu");
  t.gpu.name = name_string(gpu, "name");
  {
    ObjectReader peaks = gpu.object("peak_tflops");
    for (const char* dtype : kDtypes) {
      if (peaks.has(dtype)) {
        t.gpu.peak_flops[dtype] = positive(peaks, dtype, kTflops, kMinPeakFlops, kMaxPeakFlops) * kTflops;
      }
      peaks.ignore(dtype);
    }
    peaks.finish();
    if (t.gpu.peak_flops.empty()) {
      gpu.fail("peak_tflops", fmt::format("lists no precision; add dense peaks for some of {}", join(kDtypes)));
    }
  }
  t.gpu.hbm_bytes = positive(gpu, "hbm_gib", kGiB, 0, kMaxHbmBytes) * kGiB;
  t.gpu.hbm_bandwidth = positive(gpu, "hbm_bandwidth_TBps", kTBps, kMinBandwidth, kMaxBandwidth) * kTBps;
  t.gpu.source = source(gpu, "source");
  t.efficiency.gemm_curve = read_curve(gpu, "gemm_efficiency_curve");
  t.efficiency.attention_curve = read_curve(gpu, "attention_efficiency_curve");
  if (gpu.has("kernels")) {
    // A name: gpus/<name>.json, shared by every topology with this GPU; or the model inline.
    const nlohmann::json& kernels = gpu.raw("kernels");
    if (kernels.is_string()) {
      const std::string name = kernels.get<std::string>();
      const std::string path = detail::resolve_data_file(name, "gpus", file + ": /gpu/kernels");
      t.efficiency.kernels = read_kernel_model(detail::parse_json(detail::read_file(path), path), path, "", t.gpu);
      t.efficiency.kernels.name = name;
    } else if (kernels.is_object()) {
      t.efficiency.kernels = read_kernel_model(kernels, file, gpu.pointer("kernels"), t.gpu);
    } else {
      gpu.fail("kernels", "expected the name of a gpus/*.json kernel model or an object");
    }
    for (const char* legacy : {"gemm_efficiency", "attention_efficiency", "memory_efficiency",
                               "kernel_overhead_us", "efficiency_source"}) {
      if (gpu.has(legacy)) {
        gpu.fail(legacy, "is set by the kernel model (gpu.kernels); remove it here, or override the model "
                         "with --set gpu.kernels...");
      }
    }
  } else {
    t.efficiency.kernels = flat_kernel_model(gpu, t.gpu);
  }
  gpu.finish();

  ObjectReader node = root.object("node");
  t.gpus_per_node = static_cast<int>(node.integer("gpus", std::nullopt, 1, 4096));
  t.allocation_gpus = static_cast<int>(node.integer("allocation_gpus", t.gpus_per_node, 1, 4096));
  if (t.gpus_per_node % t.allocation_gpus != 0) {
    node.fail("allocation_gpus", fmt::format("must divide gpus={} (got {}): a domain is made of whole "
                                             "allocation units", t.gpus_per_node, t.allocation_gpus));
  }
  t.intra_node_kind = node.string("interconnect");
  if (!one_of(t.intra_node_kind, kInterconnects)) {
    node.fail("interconnect", fmt::format("unknown interconnect \"{}\"; use {}", t.intra_node_kind, join(kInterconnects)));
  }
  t.intra_node_bandwidth = positive(node, "bandwidth_GBps", kGBps, kMinBandwidth, kMaxBandwidth) * kGBps;
  t.intra_node_latency_s = non_negative(node, "latency_us", kUs, kMaxLatency) * kUs;
  t.intra_node_source = source(node, "source");
  node.finish();

  ObjectReader network = root.object("network");
  t.nics_per_node = static_cast<int>(network.integer("nics_per_node", std::nullopt, 0, 4096));
  t.nic_bandwidth = positive(network, "nic_bandwidth_Gbps", kGbps, kMinBandwidth, kMaxBandwidth) * kGbps;
  t.nic_latency_s = non_negative(network, "nic_latency_us", kUs, kMaxLatency) * kUs;
  t.switch_latency_s = non_negative(network, "switch_latency_us", kUs, kMaxLatency) * kUs;
  t.rail_optimized = network.boolean("rail_optimized");
  t.nodes_per_leaf = static_cast<int>(network.integer("nodes_per_leaf", std::nullopt, 1, 1 << 20));
  t.oversubscription = any_number(network, "oversubscription");
  if (t.oversubscription < 1) {
    network.fail("oversubscription", fmt::format("is leaf downlink : uplink bandwidth and must be at least 1 "
                                                 "(got {}); use 1 for a non-blocking fabric", t.oversubscription));
  }
  in_range(network, "oversubscription", t.oversubscription, 1, 1, kMaxOversubscription);
  t.max_nodes = static_cast<int>(network.integer("max_nodes", std::nullopt, 0, 1 << 24));
  t.network_source = source(network, "source");
  if (t.nics_per_node == 0 && t.max_nodes != 1) {
    network.fail("nics_per_node", fmt::format("is 0, so nodes cannot talk to each other, but max_nodes is {}; "
                                              "add NICs or set max_nodes to 1", t.max_nodes));
  }
  if (t.nics_per_node > 0 && t.gpus_per_node % t.nics_per_node != 0 && t.nics_per_node % t.gpus_per_node != 0) {
    network.fail("nics_per_node", fmt::format("must divide node.gpus={} or be a multiple of it (got {}), so every "
                                              "GPU has the same share of NICs", t.gpus_per_node, t.nics_per_node));
  }
  network.finish();

  if (json.contains("host") && !json["host"].is_object()) {
    root.fail("host", "expected an object (link, link_bandwidth_GBps, link_efficiency, memory_gib, "
                      "memory_bandwidth_GBps, memory_efficiency, source); remove the key if the topology "
                      "states no host");
  }
  if (root.has("host")) {
    ObjectReader host = root.object("host");
    t.host.link = name_string(host, "link");
    t.host.link_bandwidth = positive(host, "link_bandwidth_GBps", kGBps, kMinBandwidth, kMaxBandwidth) * kGBps;
    t.host.link_efficiency = fraction(host, "link_efficiency");
    t.host.gpus = static_cast<int>(host.integer("gpus", t.gpus_per_node, 1, 4096,
                                                "give the GPUs sharing one host's CPUs and memory"));
    t.host.memory_bytes = positive(host, "memory_gib", kGiB, kGiB, kMaxHostMemoryBytes) * kGiB;
    t.host.memory_bandwidth = positive(host, "memory_bandwidth_GBps", kGBps, kMinBandwidth, kMaxBandwidth) * kGBps;
    t.host.memory_efficiency = fraction(host, "memory_efficiency");
    t.host.source = source(host, "source");
    host.finish();
  }

  ObjectReader collective = root.object("collective_efficiency");
  for (const char* scope : kScopes) {
    ObjectReader per_kind = collective.object(scope);
    for (const char* kind : kKinds) t.efficiency.collective[scope][kind] = fraction(per_kind, kind);
    per_kind.finish();
  }
  t.efficiency.collective_source = source(collective, "source");
  collective.finish();

  read_calibration(root, json, t);
  root.finish();
  return t;
}

Json to_ordered_json(const Topology& t) {
  Json out;
  out["name"] = t.name;
  out["description"] = t.description;

  Json gpu;
  gpu["name"] = t.gpu.name;
  Json peaks = Json::object();
  for (const char* dtype : kDtypes) {
    const auto it = t.gpu.peak_flops.find(dtype);
    if (it != t.gpu.peak_flops.end()) peaks[dtype] = to_file_unit(it->second, kTflops);
  }
  gpu["peak_tflops"] = peaks;
  gpu["hbm_gib"] = to_file_unit(t.gpu.hbm_bytes, kGiB);
  gpu["hbm_bandwidth_TBps"] = to_file_unit(t.gpu.hbm_bandwidth, kTBps);
  gpu["source"] = t.gpu.source;
  gpu["kernels"] = kernel_model_json(t.efficiency.kernels);
  if (!t.efficiency.gemm_curve.empty()) gpu["gemm_efficiency_curve"] = curve_json(t.efficiency.gemm_curve);
  if (!t.efficiency.attention_curve.empty()) {
    gpu["attention_efficiency_curve"] = curve_json(t.efficiency.attention_curve);
  }
  out["gpu"] = gpu;

  Json node;
  node["gpus"] = t.gpus_per_node;
  node["interconnect"] = t.intra_node_kind;
  node["bandwidth_GBps"] = to_file_unit(t.intra_node_bandwidth, kGBps);
  node["latency_us"] = to_file_unit(t.intra_node_latency_s, kUs);
  if (t.allocation_gpus != t.gpus_per_node) node["allocation_gpus"] = t.allocation_gpus;
  node["source"] = t.intra_node_source;
  out["node"] = node;

  Json network;
  network["nics_per_node"] = t.nics_per_node;
  network["nic_bandwidth_Gbps"] = to_file_unit(t.nic_bandwidth, kGbps);
  network["nic_latency_us"] = to_file_unit(t.nic_latency_s, kUs);
  network["switch_latency_us"] = to_file_unit(t.switch_latency_s, kUs);
  network["rail_optimized"] = t.rail_optimized;
  network["nodes_per_leaf"] = t.nodes_per_leaf;
  network["oversubscription"] = t.oversubscription;
  network["max_nodes"] = t.max_nodes;
  network["source"] = t.network_source;
  out["network"] = network;

  if (t.host.present()) {
    Json host;
    host["link"] = t.host.link;
    host["link_bandwidth_GBps"] = to_file_unit(t.host.link_bandwidth, kGBps);
    host["link_efficiency"] = t.host.link_efficiency;
    host["gpus"] = t.host.gpus;
    host["memory_gib"] = to_file_unit(t.host.memory_bytes, kGiB);
    host["memory_bandwidth_GBps"] = to_file_unit(t.host.memory_bandwidth, kGBps);
    host["memory_efficiency"] = t.host.memory_efficiency;
    host["source"] = t.host.source;
    out["host"] = host;
  }

  Json collective;
  for (const char* scope : kScopes) {
    Json per_kind;
    const auto by_scope = t.efficiency.collective.find(scope);
    for (const char* kind : kKinds) {
      double value = 0;
      if (by_scope != t.efficiency.collective.end()) {
        const auto it = by_scope->second.find(kind);
        if (it != by_scope->second.end()) value = it->second;
      }
      per_kind[kind] = value;
    }
    collective[scope] = per_kind;
  }
  collective["source"] = t.efficiency.collective_source;
  out["collective_efficiency"] = collective;

  const bool calibrated = !t.fits.empty() || !t.replaced.empty() ||
                          (!t.provenance.empty() && t.provenance != "datasheet");
  if (calibrated) {
    Json cal;
    cal["provenance"] = t.provenance;
    Json fits = Json::array();
    for (const CollectiveFit& fit : t.fits) {
      Json f;
      f["kind"] = fit.kind;
      f["scope"] = fit.scope;
      f["group_size"] = fit.group_size;
      f["alpha_us"] = to_file_unit(fit.alpha_s, kUs);
      f["busbw_GBps"] = to_file_unit(fit.busbw, kGBps);
      f["min_bytes"] = whole_or_number(fit.min_bytes);
      f["max_bytes"] = whole_or_number(fit.max_bytes);
      f["source"] = fit.source;
      fits.push_back(f);
    }
    cal["collective_fits"] = fits;
    Json replaced = Json::object();
    for (const ReplacedConstant& constant : t.replaced) {
      Json r;
      r["datasheet"] = constant.datasheet;
      r["fitted"] = constant.fitted;
      r["source"] = constant.source;
      replaced[constant.key] = r;
    }
    cal["replaced"] = replaced;
    out["calibration"] = cal;
  }
  return out;
}

// Finds `path` ("a.b.c") in `json`; nullptr if absent.
Json* find_path(Json& json, const std::string& path) {
  Json* node = &json;
  size_t start = 0;
  while (true) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!node->is_object() || !node->contains(key)) return nullptr;
    node = &(*node)[key];
    if (dot == std::string::npos) return node;
    start = dot + 1;
  }
}

}  // namespace

Topology parse_topology(const std::string& text, const std::string& display_name) {
  return from_json(detail::parse_json(text, display_name), display_name);
}

Topology load_topology(const std::string& path_or_name) {
  const std::string path = detail::resolve_data_file(path_or_name, "topologies", "--topology");
  return parse_topology(detail::read_file(path), path);
}

std::vector<std::string> list_topologies() { return detail::list_data_files("topologies"); }

std::string topology_to_json(const Topology& topology) {
  // Sources copied from an nccl-tests log may hold bytes that are not UTF-8 (a host name, a
  // comment): written as U+FFFD instead of throwing (found by fuzz_nccl_log). Every JSON output
  // of spsim dumps this way.
  return to_ordered_json(topology).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

void apply_override(Topology& topology, const std::string& assignment) {
  const size_t equals = assignment.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw InputError("--set", fmt::format("\"{}\" is not key=value; write e.g. --set gpu.gemm_efficiency=0.8",
                                          assignment));
  }
  const std::string key = assignment.substr(0, equals);
  const std::string value = assignment.substr(equals + 1);
  const std::string where = "--set " + key;

  // Whole-class shortcuts: one number for every timing of a kernel class (its plateau
  // efficiency, or every latency), as a file without a kernel model states it.
  const std::vector<std::pair<const char*, const char*>> shortcuts{
      {"gpu.gemm_efficiency", "gpu.kernels.gemm."},
      {"gpu.attention_efficiency", "gpu.kernels.attention."},
      {"gpu.memory_efficiency", "gpu.kernels.elementwise."},
      {"gpu.kernel_overhead_us", "gpu.kernels."}};
  for (const auto& [shortcut, prefix] : shortcuts) {
    if (key != shortcut) continue;
    const bool latency = key == "gpu.kernel_overhead_us";
    std::vector<std::string> leaves;
    collect_leaves(to_ordered_json(topology), "", leaves);
    Topology updated = topology;
    try {
      for (const auto& leaf : leaves) {
        if (leaf.rfind(prefix, 0) == 0 && leaf.ends_with(latency ? ".latency_us" : ".efficiency")) {
          apply_override(updated, leaf + "=" + value);
        }
      }
    } catch (const InputError& e) {
      // Name the key the user wrote; the message is the same rule the leaves obey.
      throw InputError(where, e.what());
    }
    topology = std::move(updated);
    // "Use this number": a calibrated curve of the class would otherwise keep overriding it.
    if (key == "gpu.gemm_efficiency") topology.efficiency.gemm_curve = {};
    if (key == "gpu.attention_efficiency") topology.efficiency.attention_curve = {};
    return;
  }

  Json json = to_ordered_json(topology);
  std::vector<std::string> settable;
  collect_leaves(json, "", settable);
  for (const auto& [shortcut, prefix] : shortcuts) settable.emplace_back(shortcut);
  Json* target = std::find(settable.begin(), settable.end(), key) != settable.end() ? find_path(json, key) : nullptr;
  if (target == nullptr) {
    if (const Json* other = find_path(json, key); other != nullptr && key.rfind("calibration", 0) != 0) {
      throw InputError(where, fmt::format("\"{}\" is {} {}; only numeric and boolean fields can be overridden "
                                          "(edit the file for the rest)", key,
                                          other->is_object() ? "an" : "a", other->type_name()));
    }
    const std::string hint = closest_match(key, settable);
    throw InputError(where, hint.empty()
                                ? fmt::format("unknown topology key \"{}\"; keys are JSON paths such as "
                                              "gpu.gemm_efficiency (see docs/topology.md)", key)
                                : fmt::format("unknown topology key \"{}\"; did you mean \"{}\"?", key, hint));
  }
  if (target->is_boolean()) {
    if (value != "true" && value != "false") {
      throw InputError(where, fmt::format("expected true or false (got \"{}\")", value));
    }
    *target = value == "true";
  } else {
    errno = 0;
    char* end = nullptr;
    const double number = std::strtod(value.c_str(), &end);
    if (value.empty() || end != value.c_str() + value.size() || errno == ERANGE || !std::isfinite(number)) {
      throw InputError(where, fmt::format("expected a number (got \"{}\"); write e.g. {}={}", value, key,
                                          target->dump()));
    }
    if (target->is_number_integer()) {
      if (number != std::floor(number) || std::fabs(number) > 9e15) {
        throw InputError(where, fmt::format("expected a whole number (got \"{}\")", value));
      }
      *target = static_cast<int64_t>(number);
    } else {
      *target = number;
    }
  }
  // Setting a GEMM or attention timing means "use this number": a calibrated curve for the same
  // kernel class would otherwise keep overriding it, so it goes.
  if (key.rfind("gpu.kernels.gemm.", 0) == 0) json["gpu"].erase("gemm_efficiency_curve");
  if (key.rfind("gpu.kernels.attention.", 0) == 0) json["gpu"].erase("attention_efficiency_curve");
  // Re-read the whole topology so an override obeys every rule a file does.
  try {
    Topology updated = from_json(nlohmann::json::parse(json.dump()), topology.path);
    topology = std::move(updated);
  } catch (const InputError& e) {
    std::string message = e.what();
    std::string pointer = "/" + key;
    std::replace(pointer.begin(), pointer.end(), '.', '/');
    if (message.rfind(pointer + ": ", 0) == 0) message = message.substr(pointer.size() + 2);
    throw InputError(where, message);
  }
}

}  // namespace spsim
