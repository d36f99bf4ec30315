// Per-layer timing. A layer is not timed alone (that would expose what the steady state hides,
// e.g. the ZeRO-3 prefetch during the previous layer): the layer segment is scheduled 3 and 2
// times back to back and the difference is one steady-state layer. Compute per op category is the
// roofline time of each task (what the compute stream is busy with), communication per kind is
// the busy time of its stream, split into the part the compute stream waited for (exposed) and
// the rest (hidden). Exposed time is blamed on the collective the compute stream waited for,
// queueing behind other traffic on its stream included. Compute that ran next to a collective
// took longer than its roofline time (KernelModel::comm_slowdown): that extra is
// compute_slowed_by_comm_s, so per layer
//   time_s = compute_total_s + compute_slowed_by_comm_s + compute_wait_s + sum of exposed_s.
#include "report/layer_timing.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "engine/analytic_engine.h"
#include "report/tidy.h"
#include "spsim/engine.h"

namespace spsim {

namespace {

using detail::tidy;

const char* op_category(OpClass op_class) {
  switch (op_class) {
    case OpClass::kAttention: return "attention_core";
    case OpClass::kGemm: return "gemm";
    case OpClass::kMemoryBound: return "elementwise_norm";
    case OpClass::kHostMemory:
    case OpClass::kHostLink: return "host_offload";
  }
  return "?";
}

StepResult run_repeated(const TaskGraph& full, const Segment& segment, const Topology& topology,
                        int64_t repeat) {
  TaskGraph graph;
  graph.strategy = full.strategy;
  graph.num_gpus = full.num_gpus;
  graph.micro_batches = 1;
  graph.precision = full.precision;
  graph.groups = full.groups;
  Segment copy = segment;
  copy.repeat = repeat;
  copy.when = When::kEveryMicroBatch;
  copy.barrier = false;
  graph.segments.push_back(std::move(copy));
  return analytic_step(graph, topology);
}

nlohmann::json pass_json(const TaskGraph& full, const Segment& segment, const Topology& topology) {
  const Roofline roofline(topology, full.precision);
  nlohmann::json compute = {{"attention_core", 0.0}, {"gemm", 0.0}, {"elementwise_norm", 0.0}};
  double compute_total = 0;
  for (const auto& task : segment.tasks) {
    if (task.kind != TaskKind::kCompute) continue;
    double scale = 1.0;
    if (!task.work_scale.empty()) scale = *std::max_element(task.work_scale.begin(), task.work_scale.end());
    const double t = roofline.time_s(task, scale);
    // host_offload appears only in plans that copy checkpoints (--offload activations).
    const char* category = op_category(task.op_class);
    compute[category] = compute.value(category, 0.0) + t;
    compute_total += t;
  }
  for (auto& [key, value] : compute.items()) value = tidy(value.get<double>());

  const StepResult three = run_repeated(full, segment, topology, 3);
  const StepResult two = run_repeated(full, segment, topology, 2);
  nlohmann::json comm = nlohmann::json::object();
  for (int c = 1; c < kNumCategories; ++c) {
    const double busy = std::max(0.0, three.comm_s[c] - two.comm_s[c]);
    // Exposed is the compute stream's wait blamed on this kind; it can exceed the kind's own busy
    // time when the collective queued behind other traffic on its stream.
    const double exposed = std::max(0.0, three.exposed_s[c] - two.exposed_s[c]);
    double hidden = std::max(0.0, busy - exposed);
    if (hidden < 1e-9 * busy) hidden = 0;  // rounding of the 3 - 2 difference
    comm[to_string(static_cast<Category>(c))] = {
        {"busy_s", tidy(busy)}, {"exposed_s", tidy(exposed)}, {"hidden_s", tidy(hidden)}};
  }
  // Compute-stream idle time waiting on other compute (e.g. a slower rank's ring step).
  const double idle_compute = std::max(0.0, three.exposed_s[0] - two.exposed_s[0]);
  double slowed = std::max(0.0, (three.compute_s - two.compute_s) - compute_total);
  if (slowed < 1e-9 * compute_total) slowed = 0;  // rounding of the 3 - 2 difference
  return {{"time_s", tidy(three.step_time_s - two.step_time_s)},
          {"compute_s", compute},
          {"compute_total_s", tidy(compute_total)},
          {"compute_slowed_by_comm_s", tidy(slowed)},
          {"compute_wait_s", tidy(idle_compute)},
          {"comm", comm}};
}

}  // namespace

nlohmann::json layer_timing_json(const RunReport& report) {
  const TaskGraph& graph = report.lowered.graph;
  const Segment* fwd = nullptr;
  const Segment* bwd = nullptr;
  const Segment* rerun = nullptr;  // full recompute of part of a chunk: its checkpointed layers
  for (const auto& segment : graph.segments) {
    const std::string name = segment.name;
    if (name == "layer_fwd") fwd = &segment;
    if (name != "layer_bwd" || segment.when == When::kAllButLastMicroBatch) continue;
    if (segment.continues) {
      rerun = &segment;
    } else {
      bwd = &segment;
      rerun = nullptr;  // a later chunk's plain layers: report that chunk
    }
  }
  nlohmann::json out;
  out["method"] = "one steady-state layer of the last micro-batch (its gradient reduction "
                  "included): 3 layers minus 2, analytic engine";
  if (fwd != nullptr) out["forward"] = pass_json(graph, *fwd, report.topology);
  if (bwd != nullptr) out["backward"] = pass_json(graph, *bwd, report.topology);
  // --recompute full:N: "backward" is a layer that kept its activations, this one re-runs its
  // forward first.
  if (rerun != nullptr) out["backward_recomputed"] = pass_json(graph, *rerun, report.topology);
  return out;
}

}  // namespace spsim
