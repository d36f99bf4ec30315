// Canonical JSON of a lowered step: every task of every graph with its non-default fields, the
// memory estimate and the pipeline plan. tests/golden/ stores it per configuration, so a change
// to what a strategy emits shows as a diff even when the step time happens not to move.
#include <cmath>
#include <cstdint>

#include "report/tidy.h"
#include "spsim/report.h"

namespace spsim {

namespace {

// Whole numbers (FLOP and byte counts mostly are) exactly; the rest to 9 significant digits, as
// every other JSON output of spsim.
nlohmann::json number(double value) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9007199254740992.0) {
    return static_cast<int64_t>(value);
  }
  return detail::tidy(value);
}

// Names in enum order (task_graph.h).
constexpr const char* kPhaseNames[] = {"fwd", "bwd", "opt"};
constexpr const char* kWhenNames[] = {"every", "last", "all_but_last"};
const char* to_string(Phase phase) { return kPhaseNames[static_cast<int>(phase)]; }
const char* to_string(When when) { return kWhenNames[static_cast<int>(when)]; }

// The fields that matter for the task's kind always; any other field only when it is not the
// default, so the dump stays short and still shows every difference.
nlohmann::json task_json(const Task& task) {
  const Task plain;
  const bool comm = task.kind == TaskKind::kCollective;
  nlohmann::json out;
  out["name"] = task.name;
  out["phase"] = to_string(task.phase);
  if (comm) {
    out["kind"] = "comm";
    out["stream"] = to_string(task.stream);
    out["category"] = to_string(task.category);
    out["comm"] = to_string(task.comm);
    out["group"] = task.group;
    out["bytes"] = number(task.bytes);
  } else {
    out["op"] = to_string(task.op_class);
    out["flops"] = number(task.flops);
    out["hbm_bytes"] = number(task.hbm_bytes);
    if (task.stream != plain.stream) out["stream"] = to_string(task.stream);
    if (task.category != plain.category) out["category"] = to_string(task.category);
    if (task.comm != plain.comm) out["comm"] = to_string(task.comm);
    if (task.group != plain.group) out["group"] = task.group;
    if (task.bytes != plain.bytes) out["bytes"] = number(task.bytes);
  }
  if (comm && task.op_class != plain.op_class) out["op"] = to_string(task.op_class);
  if (comm && task.flops != plain.flops) out["flops"] = number(task.flops);
  if (comm && task.hbm_bytes != plain.hbm_bytes) out["hbm_bytes"] = number(task.hbm_bytes);
  if (task.kernels != plain.kernels) out["kernels"] = task.kernels;
  if (!task.work_scale.empty()) {
    nlohmann::json scale = nlohmann::json::array();
    for (double w : task.work_scale) scale.push_back(number(w));
    out["work_scale"] = scale;
  }
  nlohmann::json deps = nlohmann::json::array();
  size_t used = task.deps.size();
  while (used > 0 && task.deps[used - 1] < 0) --used;
  for (size_t i = 0; i < used; ++i) deps.push_back(task.deps[i]);
  out["deps"] = deps;
  if (task.prev_instance_dep >= 0) out["prev_instance_dep"] = task.prev_instance_dep;
  if (task.continued_dep >= 0) out["continued_dep"] = task.continued_dep;
  return out;
}

nlohmann::json memory_json(const MemoryEstimate& memory) {
  nlohmann::json out = {{"params", number(memory.params)},         {"grads", number(memory.grads)},
          {"optimizer", number(memory.optimizer)},   {"activations", number(memory.activations)},
          {"buffers", number(memory.buffers)},       {"reserve", number(memory.reserve)},
          {"peak", number(memory.peak())},           {"largest_term", memory.largest_term()}};
  if (memory.host > 0) out["host"] = number(memory.host);
  return out;
}

}  // namespace

nlohmann::json to_json(const TaskGraph& graph) {
  nlohmann::json out;
  out["strategy"] = graph.strategy;
  out["num_gpus"] = graph.num_gpus;
  out["micro_batches"] = graph.micro_batches;
  out["tokens_per_step"] = graph.tokens_per_step;
  out["precision"] = to_string(graph.precision);
  nlohmann::json groups = nlohmann::json::array();
  for (const auto& group : graph.groups) groups.push_back({group.name, group.size, group.stride});
  out["groups"] = groups;
  nlohmann::json segments = nlohmann::json::array();
  for (const auto& segment : graph.segments) {
    nlohmann::json tasks = nlohmann::json::array();
    for (const auto& task : segment.tasks) tasks.push_back(task_json(task));
    nlohmann::json seg = {{"name", segment.name},
                          {"repeat", segment.repeat},
                          {"when", to_string(segment.when)},
                          {"barrier", segment.barrier},
                          {"tasks", tasks}};
    if (segment.continues) seg["continues"] = true;  // only when set: other dumps stay as they were
    segments.push_back(std::move(seg));
  }
  out["segments"] = segments;
  return out;
}

nlohmann::json to_json(const LoweredStep& step) {
  nlohmann::json out;
  out["job"] = job_to_json(step.job);
  out["memory"] = memory_json(step.memory);
  out["graph"] = to_json(step.graph);
  const PipelinePlan& plan = step.pipeline;
  if (plan.stages <= 1) return out;
  out["pipeline"] = {{"stages", plan.stages},
                     {"virtual_stages", plan.virtual_stages},
                     {"micro_batches", plan.micro_batches},
                     {"chunk_layers", plan.chunk_layers},
                     {"p2p_bytes", number(plan.p2p_bytes)},
                     {"first_stage_in_flight", plan.first_stage_in_flight},
                     {"last_stage_in_flight", plan.last_stage_in_flight},
                     {"memory_stage", plan.memory_stage}};
  const std::pair<const char*, const TaskGraph*> pieces[] = {
      {"chunk_fwd", &plan.chunk_fwd},         {"chunk_bwd", &plan.chunk_bwd},
      {"embedding_fwd", &plan.embedding_fwd}, {"embedding_bwd", &plan.embedding_bwd},
      {"head_fwd", &plan.head_fwd},           {"head_bwd", &plan.head_bwd},
      {"p2p", &plan.p2p},                     {"tail_with_dp", &plan.tail_with_dp},
      {"tail_without_dp", &plan.tail_without_dp}};
  for (const auto& [name, graph] : pieces) out[std::string("pipeline_") + name] = to_json(*graph);
  if (plan.uneven()) {
    out["pipeline"]["layers_per_chunk"] = plan.layers_per_chunk;
    for (const PipelinePlan::OtherChunk& other : plan.other_chunks) {
      const std::string suffix = "_" + std::to_string(other.layers) + "_layers";
      out["pipeline_chunk_fwd" + suffix] = to_json(other.fwd);
      out["pipeline_chunk_bwd" + suffix] = to_json(other.bwd);
    }
  }
  return out;
}

}  // namespace spsim
