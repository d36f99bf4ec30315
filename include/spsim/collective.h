// Collective: per-GPU bytes and closed-form (alpha-beta) time of the collectives sequence
// parallelism uses, on the links a group really crosses. Shared by both engines: the DES uses
// the same placement to generate its flows.
#ifndef SPSIM_COLLECTIVE_H_
#define SPSIM_COLLECTIVE_H_

#include <cstdint>

#include "spsim/task_graph.h"
#include "spsim/topology.h"

namespace spsim {

/// Where a group of `size` ranks, `stride` apart, lands on nodes of `gpus_per_node` GPUs.
struct GroupPlacement {
  int64_t size = 1;
  int64_t ranks_per_node = 1;  // group members sharing one node
  int64_t nodes = 1;           // nodes the group spans
  bool inter_node() const { return nodes > 1; }
};
GroupPlacement place_group(const CommGroup& group, int64_t gpus_per_node);

/// Bytes one GPU sends for a collective over `n` ranks whose full (gathered) tensor is
/// `full_bytes`: (n-1)/n for AG/RS/A2A of the local buffer convention in the spec, 2(n-1)/n for
/// all-reduce. For all-to-all, `full_bytes` is the local buffer size.
double bytes_sent_per_gpu(CommKind kind, double full_bytes, int64_t n);

/// Time of one collective with the contention-free alpha-beta model: latency per algorithm step
/// plus bytes over the bottleneck bandwidth of the scope (NVLink per GPU inside a node; for ring
/// algorithms across nodes min(NVLink, ranks_per_node x NIC); for all-to-all across nodes the
/// off-node share over one NIC), each scaled by the named efficiency. Uses a calibrated fit when
/// the topology has one for (kind, scope, size).
/// `calls` separate collectives sharing the bytes pay the latency `calls` times.
double collective_time_s(CommKind kind, double bytes_per_gpu, const GroupPlacement& placement,
                         const Topology& topology, int calls = 1);

}  // namespace spsim

#endif  // SPSIM_COLLECTIVE_H_
