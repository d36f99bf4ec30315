// Small accessors of GpuSpec, Efficiency and Topology.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "spsim/error.h"
#include "spsim/topology.h"

namespace spsim {

double GpuSpec::peak(Precision precision) const {
  const auto it = peak_flops.find(to_string(precision));
  if (it != peak_flops.end()) return it->second;
  std::string listed;
  for (const auto& [dtype, flops] : peak_flops) listed += (listed.empty() ? "" : ", ") + dtype;
  throw InputError("precision",
                   fmt::format("GPU \"{}\" has no {} peak in its topology (it lists {}); choose "
                               "one of those precisions or add gpu.peak_tflops.{} to the topology",
                               name, to_string(precision), listed.empty() ? "none" : listed,
                               to_string(precision)));
}

double Efficiency::for_collective(const std::string& scope, const std::string& kind) const {
  const auto by_scope = collective.find(scope);
  if (by_scope != collective.end()) {
    const auto it = by_scope->second.find(kind);
    if (it != by_scope->second.end()) return it->second;
  }
  throw InputError("topology",
                   fmt::format("collective_efficiency.{}.{} is not set; add it to the topology",
                               scope, kind));
}

namespace {

// The loader guarantees each map holds its fallback key (bf16, cudnn, fused).
template <typename Map>
const typename Map::mapped_type& lookup(const Map& map, const std::string& key, const char* fallback,
                                        const char* what) {
  auto it = map.find(key);
  if (it == map.end()) it = map.find(fallback);
  if (it == map.end()) throw Error(fmt::format("kernel model has no {} timing for \"{}\" or \"{}\"", what, key, fallback));
  return it->second;
}

}  // namespace

KernelModel KernelModel::uniform(double gemm, double attention, double memory, double latency_s,
                                 const std::string& source) {
  KernelModel model;
  for (const char* dtype : {"fp32", "tf32", "bf16", "fp8"}) model.gemm[dtype] = {gemm, latency_s};
  const KernelTiming a{attention, latency_s};
  for (const char* impl : {"cudnn", "flash2"}) model.attention[impl] = {a, a, a, a};
  for (const char* impl : {"fused", "eager"}) model.elementwise[impl] = {memory, latency_s};
  model.source = source;
  return model;
}

const KernelTiming& KernelModel::gemm_for(const std::string& dtype) const {
  return lookup(gemm, dtype == "fp16" ? "bf16" : dtype, "bf16", "GEMM");
}

const AttentionTimings& KernelModel::attention_for(const std::string& impl) const {
  return lookup(attention, impl, "cudnn", "attention");
}

const KernelTiming& KernelModel::elementwise_for(const std::string& impl) const {
  return lookup(elementwise, impl, "fused", "elementwise");
}

double EfficiencyCurve::at(double gflop) const {
  // Kernel efficiency grows roughly with the log of the work (tiles filling the SMs, then
  // saturating), so interpolate in log(size); outside the measured sizes hold the end value
  // rather than extrapolate a trend the measurement did not show.
  if (gflop <= points.front().gflop) return points.front().efficiency;
  if (gflop >= points.back().gflop) return points.back().efficiency;
  const auto hi = std::upper_bound(points.begin(), points.end(), gflop,
                                   [](double g, const Point& p) { return g < p.gflop; });
  const auto lo = hi - 1;
  const double w = std::log(gflop / lo->gflop) / std::log(hi->gflop / lo->gflop);
  return lo->efficiency + w * (hi->efficiency - lo->efficiency);
}

namespace {

Topology domain_for_job(const Topology& topology, int64_t num_gpus) {
  const int64_t g = topology.gpus_per_node;
  if (g <= 0 || num_gpus <= g || num_gpus % g == 0) return topology;
  const int64_t unit = topology.allocation_gpus > 0 ? topology.allocation_gpus : g;
  if (unit < g && num_gpus % unit == 0) {
    for (int64_t segment = g / unit * unit; segment >= unit; segment -= unit) {
      if (num_gpus % segment != 0 || (topology.nics_per_node * segment) % g != 0) continue;
      Topology part = topology;
      part.gpus_per_node = static_cast<int>(segment);
      part.nics_per_node = static_cast<int>(topology.nics_per_node * segment / g);
      part.description += fmt::format(" (this job: {} of each domain's {} GPUs)", segment, g);
      return part;
    }
  }
  throw InputError("--gpus",
                   fmt::format("{} GPUs is not a whole number of {}-GPU nodes of \"{}\"{}; use a multiple of {}",
                               num_gpus, g, topology.name,
                               unit < g ? fmt::format(" nor of {}-GPU allocation units", unit) : std::string(),
                               unit < g ? unit : g));
}

}  // namespace

Topology topology_for_job(const Topology& topology, int64_t num_gpus) {
  Topology out = domain_for_job(topology, num_gpus);
  // A job on fewer GPUs than a host has the host's CPUs and memory to its ranks alone.
  if (out.host.present() && num_gpus >= 1 && num_gpus < out.host.gpus) out.host.job_ranks = static_cast<int>(num_gpus);
  return out;
}

double Topology::nic_bandwidth_per_gpu() const {
  if (gpus_per_node <= 0) return 0.0;
  return static_cast<double>(nics_per_node) * nic_bandwidth / static_cast<double>(gpus_per_node);
}

}  // namespace spsim
