// Private pieces of the discrete-event engine shared by des_engine.cc (validation, process
// isolation, result transport) and des_sim.cc (the SimGrid simulation). Only des_sim.cc includes
// SimGrid.
#ifndef SPSIM_ENGINE_DES_INTERNAL_H_
#define SPSIM_ENGINE_DES_INTERNAL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "spsim/engine.h"
#include "spsim/result.h"
#include "spsim/task_graph.h"
#include "spsim/topology.h"

namespace spsim::des {

/// Members of the group of `kind` that contains `rank`: {base + j * stride | j < size}.
int64_t group_base(const CommGroup& group, int64_t rank);
/// Position of `rank` inside its group (j).
int64_t group_position(const CommGroup& group, int64_t rank);

/// Where one concrete group (its member ranks in ring order) lands on nodes.
struct Placement {
  int64_t size = 1;
  int64_t nodes = 1;            // distinct nodes spanned
  int64_t ranks_per_node = 1;   // most members on one node
  std::vector<std::vector<int64_t>> by_node;  // members per node, nodes in ring order
};
Placement place_members(const std::vector<int64_t>& members, int64_t gpus_per_node);

/// Algorithm steps that pay a latency (ring AG/RS: n-1, AR: 2(n-1), A2A and send/recv: 1).
int64_t latency_steps(CommKind kind, int64_t n);

/// Named collective efficiency ("intra_node"/"inter_node", kind); InputError if absent.
double collective_efficiency(const Topology& topology, const std::string& scope, CommKind kind);

/// Every check that turns bad input into a one-line InputError before anything is simulated.
void validate(const TaskGraph& graph, const Topology& topology);

/// Exact symmetry reduction. Every rank runs the same program, so shifting every rank by `s`
/// (whole nodes, whole leaf groups where there are several) maps the whole simulation onto itself
/// whenever every group is either contained in blocks of s ranks or is a global ring (rotated by
/// the shift). Ranks 0..simulated-1 then stand for every rank r + k x simulated, and their
/// timelines are identical (the max-min fair share is unique, hence symmetric). Groups that span
/// every rank are simulated as their members inside the block, closed into a ring; links shared
/// by copies (a single leaf group's uplinks) get capacity x simulated / num_gpus.
struct Symmetry {
  int64_t simulated = 0;          // ranks simulated: 0 .. simulated-1
  int64_t copies = 1;             // num_gpus / simulated
  std::vector<bool> rotated;      // per group: spans every rank; simulated inside the block
  std::string note;               // what was reduced, or why not
};
Symmetry choose_symmetry(const TaskGraph& graph, const Topology& topology, bool simulate_all);

/// The simulation proper. Creates the process's one SimGrid engine: call it at most once per
/// process (DesEngine::run forks for it). `trace` is the Chrome trace ("" unless asked for).
struct SimOutput {
  StepResult result;
  std::string trace;
};
SimOutput simulate(const TaskGraph& graph, const Topology& topology, const EngineOptions& options,
                   const Symmetry& symmetry);

}  // namespace spsim::des

#endif  // SPSIM_ENGINE_DES_INTERNAL_H_
