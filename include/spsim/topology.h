// Topology: GPUs, the scale-up domain (NVLink/NVSwitch or PCIe) and the scale-out fabric
// (NICs, rail-optimized fat-tree), with every constant's source, plus the named efficiency
// factors that turn datasheet peaks into achieved rates. Held as a Boost.Graph graph for
// routing (src/topology/); this header stays free of Boost.
#ifndef SPSIM_TOPOLOGY_H_
#define SPSIM_TOPOLOGY_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "spsim/model.h"

namespace spsim {

/// One GPU model. Peaks are dense (no sparsity), from the vendor datasheet.
struct GpuSpec {
  std::string name;
  std::map<std::string, double> peak_flops;  // "fp32","tf32","bf16","fp16","fp8" -> FLOP/s
  double hbm_bytes = 0;                      // capacity
  double hbm_bandwidth = 0;                  // bytes/s
  std::string source;
  double peak(Precision precision) const;    // throws InputError if the dtype is not listed
  bool operator==(const GpuSpec&) const = default;
};

/// Achieved / peak of one kernel class as a function of one kernel's size (GFLOP), measured by
/// spsim-microbench and fitted by `spsim calibrate`: small GEMMs and short attention blocks do
/// not reach the large-kernel efficiency. Linear in log(size) between points, clamped to the end
/// points outside them. Empty unless calibrated: then the kernel model below applies.
struct EfficiencyCurve {
  struct Point {
    double gflop = 0;       // FLOP of one kernel / 1e9; strictly increasing along the curve
    double efficiency = 0;  // (0, 1]
    bool operator==(const Point&) const = default;
  };
  std::vector<Point> points;
  std::string dtype;   // the precision it was measured in ("bf16")
  std::string source;
  bool empty() const { return points.empty(); }
  double at(double gflop) const;  // requires !empty()
  bool operator==(const EfficiencyCurve&) const = default;
};

/// Time of one kernel: a fixed latency plus its work at a plateau fraction of the peak rate,
///   t = latency + work / (efficiency x peak),
/// so a small kernel spends its time in the latency (launch, pipeline fill, wave quantization)
/// and a large one approaches the plateau; achieved / peak = efficiency x W / (W + W_half) with
/// W_half = latency x efficiency x peak. Work is FLOP for GEMM and attention, bytes for
/// elementwise kernels (peak = HBM bandwidth).
struct KernelTiming {
  double efficiency = 0;  // (0, 1]
  double latency_s = 0;   // >= 0
  double time_s(double work, double peak) const { return latency_s + work / (efficiency * peak); }
  bool operator==(const KernelTiming&) const = default;
};

/// An attention implementation's forward and backward, with and without a causal mask (a causal
/// call skips masked tiles and pays more per useful FLOP at a given size).
struct AttentionTimings {
  KernelTiming fwd, fwd_causal, bwd, bwd_causal;
  bool operator==(const AttentionTimings&) const = default;
};

/// How fast one GPU runs each kind of kernel: gpus/<name>.json (shared by every topology with that
/// GPU) or inline in a topology's gpu block. Each timing cites a kernel benchmark.
struct KernelModel {
  std::string name;                                   // the gpus/ file it came from ("" inline)
  std::map<std::string, KernelTiming> gemm;           // by dtype: fp32, tf32, bf16, fp8 (fp16 = bf16)
  std::map<std::string, AttentionTimings> attention;  // by implementation: cudnn, flash2
  std::map<std::string, KernelTiming> elementwise;    // by implementation: fused, eager
  /// Compute kernels run this much slower while a collective of the same GPU is in flight: NCCL's
  /// kernels take SMs and HBM bandwidth from them (a compute task's remaining work progresses at
  /// 1 / (1 + slowdown) while any collective of its GPU runs). 0: no interference.
  double comm_slowdown = 0;
  std::string source;
  /// One efficiency per kernel class and one latency for every kernel (how topology files written
  /// before kernel models state it; also handy in tests): GEMM in every dtype, both attention
  /// implementations and calls, both elementwise implementations.
  static KernelModel uniform(double gemm, double attention, double memory, double latency_s,
                             const std::string& source = "uniform");
  const KernelTiming& gemm_for(const std::string& dtype) const;            // falls back to bf16
  const AttentionTimings& attention_for(const std::string& impl) const;    // falls back to cudnn
  const KernelTiming& elementwise_for(const std::string& impl) const;      // falls back to fused
  bool operator==(const KernelModel&) const = default;
};

/// Achieved fraction of peak, per kind of work. Named, explicit and calibratable: never folded
/// into a datasheet number. Each default cites a kernel- or collective-level benchmark.
struct Efficiency {
  KernelModel kernels;
  EfficiencyCurve gemm_curve;       // calibrated: replaces the GEMM timing when present
  EfficiencyCurve attention_curve;  // calibrated: replaces the attention timings when present
  // Achieved busbw / line rate per collective, per scope ("intra_node" / "inter_node"),
  // keyed "all_to_all", "all_gather", "reduce_scatter", "all_reduce", "send_recv".
  std::map<std::string, std::map<std::string, double>> collective;
  std::string collective_source;  // of `collective`
  double for_collective(const std::string& scope, const std::string& kind) const;
  bool operator==(const Efficiency&) const = default;
};

/// Latency/bandwidth of a collective fitted by `spsim calibrate`: overrides the default model
/// for (kind, scope, group size) within the fitted size range.
struct CollectiveFit {
  std::string kind;      // "all_gather", ...
  std::string scope;     // "intra_node" | "inter_node"
  int group_size = 0;    // ranks
  double alpha_s = 0;    // latency
  double busbw = 0;      // bytes/s, nccl-tests bus-bandwidth convention
  double min_bytes = 0, max_bytes = 0;  // range of message sizes the fit holds for
  std::string source;
  bool operator==(const CollectiveFit&) const = default;
};

/// A constant that `spsim calibrate` replaced: its JSON path ("gpu.gemm_efficiency"), the value
/// it had before (datasheet or default) and the fitted value now in the file.
struct ReplacedConstant {
  std::string key;
  double datasheet = 0;
  double fitted = 0;
  std::string source;
  bool operator==(const ReplacedConstant&) const = default;
};

/// The host side of a node, for what training offloads to it (DeepSpeed's offload_optimizer,
/// activation checkpoints on the CPU): the GPU-host link (PCIe, NVLink-C2C) and the CPUs' memory.
/// Optional in a topology file: without it, plans that offload are refused, never guessed.
struct HostSpec {
  std::string link;                 // "PCIe Gen5 x16", "NVLink-C2C"
  double link_bandwidth = 0;        // bytes/s per GPU per direction, line rate
  double link_efficiency = 0;       // achieved copy bandwidth / line rate
  // GPUs that share one host's CPUs and memory (a DGX's 8; a GB200 Grace's 2), and one host's
  // memory and its wire rate, as the file states them.
  int gpus = 0;
  double memory_bytes = 0;
  double memory_bandwidth = 0;          // bytes/s, DRAM wire rate
  // Ranks of the job on one host: 0 = gpus (every GPU); topology_for_job sets fewer for a job
  // smaller than a host, whose ranks then share the host among themselves.
  int job_ranks = 0;
  double ranks() const { return job_ranks > 0 && job_ranks < gpus ? job_ranks : gpus > 0 ? gpus : 1; }
  double memory_bytes_per_rank() const { return memory_bytes / ranks(); }
  double memory_bandwidth_per_rank() const { return memory_bandwidth / ranks(); }
  double memory_efficiency = 0;         // achieved (STREAM-like) / wire rate
  std::string source;
  bool present() const { return link_bandwidth > 0; }
  bool operator==(const HostSpec&) const = default;
};

/// The one error for a plan that offloads on a topology without a host block (the memory check
/// and the engines both raise it): InputError on "topology", naming it and the fix.
[[noreturn]] void throw_no_host_block(const std::string& topology_name);

struct Topology {
  std::string name;         // "dgx-h100"
  std::string description;
  std::string path;         // file it was read from (for messages)
  GpuSpec gpu;
  // Scale-up domain ("node": the NVLink/NVSwitch domain, 72 GPUs for GB200-NVL72).
  int gpus_per_node = 0;
  // The smallest group of GPUs a job is given inside one scale-up domain (a GB200 NVL72 compute
  // tray of 4; a DGX node's 8): jobs may use part of a domain in steps of this.
  int allocation_gpus = 0;
  std::string intra_node_kind;        // "nvswitch" | "nvlink" | "pcie"
  double intra_node_bandwidth = 0;    // bytes/s per GPU per direction
  double intra_node_latency_s = 0;
  std::string intra_node_source;
  // Scale-out fabric.
  int nics_per_node = 0;
  double nic_bandwidth = 0;           // bytes/s per NIC per direction
  double nic_latency_s = 0;           // NIC + wire, one way
  double switch_latency_s = 0;        // per switch hop
  bool rail_optimized = true;         // NIC i of every node on leaf/rail i
  int nodes_per_leaf = 0;             // nodes per leaf group (scalable unit)
  double oversubscription = 1.0;      // leaf downlink : uplink bandwidth ratio (2.0 = 2:1)
  int max_nodes = 0;                  // largest cluster this file describes (0 = unbounded)
  std::string network_source;
  HostSpec host;                      // absent: offloading plans are refused
  Efficiency efficiency;
  std::vector<CollectiveFit> fits;    // from calibration; empty for datasheet topologies
  std::vector<ReplacedConstant> replaced;  // from calibration, sorted by key
  std::string provenance;             // how the file was produced (datasheet / calibration)

  double nic_bandwidth_per_gpu() const;  // nics_per_node * nic_bandwidth / gpus_per_node
  bool operator==(const Topology&) const = default;
};

/// The topology a job of `num_gpus` GPUs runs on: `topology` itself, or, when the job does not
/// fill whole scale-up domains but fills whole allocation units (GB200 NVL72 trays), the same
/// cluster with every domain holding the largest whole number of units that divides the job (as
/// NeMo's --segment 16 uses 64 of a rack's 72 GPUs). InputError naming --gpus otherwise.
Topology topology_for_job(const Topology& topology, int64_t num_gpus);

/// Reads a topology (strict: unknown keys are errors with a "did you mean").
Topology parse_topology(const std::string& text, const std::string& display_name);
/// Loads by path, or by name from the shipped topologies/ folder ("dgx-h100").
Topology load_topology(const std::string& path_or_name);
std::vector<std::string> list_topologies();

/// Applies one "--set key=value" override, e.g. "gpu.gemm_efficiency=0.8",
/// "collective_efficiency.inter_node.all_to_all=0.7", "network.nic_bandwidth_Gbps=200".
/// Keys are the JSON paths of the topology file (numeric and boolean fields, not under
/// "calibration"); the result is validated like a file. Throws InputError naming the key.
void apply_override(Topology& topology, const std::string& assignment);

/// The topology as JSON (the same schema parse_topology reads): used to write calibrated files.
std::string topology_to_json(const Topology& topology);

/// Where a transfer between two GPUs goes, found on the Boost.Graph graph of the cluster.
struct Route {
  std::vector<std::string> links;  // names of the links crossed, in order
  double bottleneck_bandwidth = 0; // bytes/s of the slowest link
  double latency_s = 0;            // sum of link and switch latencies
  bool inter_node = false;
  int rail = -1;                   // NIC/rail used when inter-node
};

/// The cluster built for `num_gpus` GPUs (ranks fill nodes in order: rank / gpus_per_node).
class Cluster {
 public:
  Cluster(const Topology& topology, int64_t num_gpus);  // InputError if it cannot host them
  ~Cluster();
  Cluster(Cluster&&) noexcept;
  Route route(int64_t src_gpu, int64_t dst_gpu) const;
  int64_t num_gpus() const;
  int64_t num_nodes() const;
  const Topology& topology() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace spsim

#endif  // SPSIM_TOPOLOGY_H_
