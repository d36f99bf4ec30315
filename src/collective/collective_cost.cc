// Closed-form (alpha-beta) cost of one collective, in the nccl-tests bus-bandwidth convention.
//
// Convention. nccl-tests reports busbw = algbw x factor with algbw = size / time and factor
// (n-1)/n for all-gather, reduce-scatter and all-to-all, 2(n-1)/n for all-reduce and 1 for
// send/recv (doc/PERFORMANCE.md). size x factor is exactly what one GPU sends
// (bytes_sent_per_gpu), so time = bytes_per_gpu / busbw, and a busbw measured by nccl-tests or
// fitted by `spsim calibrate` plugs in unchanged. Every model below is therefore written as
// time = alpha + bytes_per_gpu / busbw, with busbw the bottleneck link rate times a named
// efficiency (achieved busbw / line rate).
#include <algorithm>
#include <string>

#include <fmt/format.h>

#include "spsim/collective.h"
#include "spsim/error.h"

namespace spsim {

namespace {

// nccl-tests "size" (the whole buffer) of a collective in which each GPU sends `bytes_per_gpu`:
// the inverse of bytes_sent_per_gpu. Fits are keyed by this size.
double nccl_tests_size(CommKind kind, double bytes_per_gpu, int64_t n) {
  const double ranks = static_cast<double>(n);
  switch (kind) {
    case CommKind::kAllGather:
    case CommKind::kReduceScatter:
    case CommKind::kAllToAll:
      return bytes_per_gpu * ranks / (ranks - 1);
    case CommKind::kAllReduce:
      return bytes_per_gpu * ranks / (2 * (ranks - 1));
    case CommKind::kSendRecv:
      return bytes_per_gpu;
  }
  return bytes_per_gpu;
}

// Latency-bound steps of the algorithm NCCL uses: ring all-gather/reduce-scatter n-1 steps,
// ring all-reduce 2(n-1) (reduce-scatter then all-gather); all-to-all sends to every peer at
// once (one step); send/recv one.
double algorithm_steps(CommKind kind, int64_t n) {
  switch (kind) {
    case CommKind::kAllGather:
    case CommKind::kReduceScatter:
      return static_cast<double>(n - 1);
    case CommKind::kAllReduce:
      return 2.0 * static_cast<double>(n - 1);
    case CommKind::kAllToAll:
    case CommKind::kSendRecv:
      return 1.0;
  }
  return 1.0;
}

const CollectiveFit* find_fit(const Topology& topology, const std::string& kind, const std::string& scope,
                              int64_t n, double size) {
  for (const CollectiveFit& fit : topology.fits) {
    if (fit.kind == kind && fit.scope == scope && fit.group_size == n && size >= fit.min_bytes &&
        size <= fit.max_bytes) {
      return &fit;
    }
  }
  return nullptr;
}

}  // namespace

double bytes_sent_per_gpu(CommKind kind, double full_bytes, int64_t n) {
  if (n <= 1 || full_bytes <= 0) return 0.0;
  const double ranks = static_cast<double>(n);
  switch (kind) {
    case CommKind::kAllGather:
    case CommKind::kReduceScatter:
    case CommKind::kAllToAll:
      return full_bytes * (ranks - 1) / ranks;
    case CommKind::kAllReduce:
      return 2.0 * full_bytes * (ranks - 1) / ranks;
    case CommKind::kSendRecv:
      return full_bytes;
  }
  return 0.0;
}

double collective_time_s(CommKind kind, double bytes_per_gpu, const GroupPlacement& placement,
                         const Topology& topology, int calls) {
  const int64_t n = placement.size;
  if (bytes_per_gpu <= 0 || n <= 1) return 0.0;
  const double c = static_cast<double>(std::max(1, calls));
  const std::string kind_name = to_string(kind);
  const bool inter = placement.inter_node();
  const std::string scope = inter ? "inter_node" : "intra_node";

  // 1. A calibrated fit for this (kind, scope, group size) whose size range holds the message.
  if (const CollectiveFit* fit = find_fit(topology, kind_name, scope, n, nccl_tests_size(kind, bytes_per_gpu / c, n))) {
    return c * fit->alpha_s + bytes_per_gpu / fit->busbw;
  }

  const double steps = algorithm_steps(kind, n);
  // Achieved per-GPU NVLink/PCIe rate for this collective.
  const double intra_busbw =
      topology.intra_node_bandwidth * topology.efficiency.for_collective("intra_node", kind_name);

  // 2. Inside one node: every rank's traffic crosses only its own scale-up link, whose achieved
  //    rate is the busbw; one latency per algorithm step.
  if (!inter) return c * steps * topology.intra_node_latency_s + bytes_per_gpu / intra_busbw;

  // 3. Across nodes. One network step costs the NIC (+ wire) latency and two switch hops
  //    (leaf, and spine or the far leaf: an average of same-rail and cross-rail paths).
  const double nic_per_gpu = topology.nic_bandwidth_per_gpu();
  if (nic_per_gpu <= 0) {
    throw InputError("topology", fmt::format("\"{}\" has no NICs, so a group of {} ranks cannot span {} nodes; "
                                             "keep the group inside one node",
                                             topology.name, n, placement.nodes));
  }
  const double hop_s = topology.nic_latency_s + 2.0 * topology.switch_latency_s;
  const double eff_inter = topology.efficiency.for_collective("inter_node", kind_name);
  const double k = static_cast<double>(placement.ranks_per_node);
  const double ranks = static_cast<double>(n);

  switch (kind) {
    case CommKind::kAllGather:
    case CommKind::kReduceScatter:
    case CommKind::kAllReduce: {
      // Ring. Every link of a ring carries (n-1)/n of the buffer (x2 for all-reduce), i.e.
      // bytes_per_gpu. NCCL runs one ring channel per NIC the group can use and each channel
      // crosses every node boundary once, so a node boundary moves bytes_per_gpu over the
      // k NICs of the group's k GPUs on that node: busbw = k x NIC-per-GPU. NVLink caps it
      // (busbw can't exceed what each GPU's scale-up link achieves).
      // Check: 2 nodes x 4 H100, one HDR 200 Gb/s NIC per GPU: 4 x 25 GB/s = 100 GB/s line;
      // nccl-tests measured AG/RS busbw 97.6 GB/s (Snellius logs in tests/data/nccl-tests).
      const double busbw = std::min(intra_busbw, k * nic_per_gpu * eff_inter);
      return c * steps * hop_s + bytes_per_gpu / busbw;
    }
    case CommKind::kAllToAll: {
      // Each rank sends 1/(n-1) of bytes_per_gpu to every peer: (k-1) peers on its node over
      // NVLink and n-k off the node over the network. "Alltoall cannot aggregate the bandwidth
      // of multiple NICs" (nccl-tests#267): the off-node share leaves through the GPU's own
      // NIC share. The two parts run concurrently; the slower decides.
      // Consequence: busbw = (n-1)/(n-k) x NIC-per-GPU, which tends to N/(N-1) x NIC-per-GPU
      // for N nodes, the formula the maintainers give (nccl-tests#130).
      const double on_node = bytes_per_gpu * (k - 1) / (ranks - 1);
      const double off_node = bytes_per_gpu * (ranks - k) / (ranks - 1);
      return c * hop_s + std::max(on_node / intra_busbw, off_node / (nic_per_gpu * eff_inter));
    }
    case CommKind::kSendRecv:
      // One block to one peer on another node: one network hop at the GPU's NIC share.
      return c * hop_s + bytes_per_gpu / (nic_per_gpu * eff_inter);
  }
  return 0.0;
}

}  // namespace spsim
