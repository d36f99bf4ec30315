// Replacing a lowered layer's attention by a scheme's own tasks (ColAI-SP, LASP): the shared
// lowering emits an all-gather context-parallel attention, and the plug-in swaps each of its
// patterns for its tasks, re-pointing the dependencies of everything after. Engines see only
// ordinary tasks, and the scheme needs no engine or lowering change.
#include <string_view>

#include "spsim/error.h"
#include "strategy/lowering.h"

namespace spsim::detail {

int SpliceEmitter::compute(const char* name, OpClass op_class, double flops, double bytes,
                           const std::vector<int>& deps) {
  return push(Task::compute(name, phase_, op_class, flops, bytes), deps);
}

int SpliceEmitter::comm(const char* name, CommKind kind, Category category, double bytes,
                        const std::vector<int>& deps) {
  return push(Task::collective(name, phase_, Stream::kRingComm, category, kind, group_, bytes), deps);
}

int SpliceEmitter::push(Task task, const std::vector<int>& deps) {
  for (int dep : deps) {
    if (dep >= 0) task.add_dep(dep);
  }
  tasks_.push_back(std::move(task));
  return static_cast<int>(tasks_.size()) - 1;
}

void splice_attention(Segment& segment, bool core_alone, const AttentionEmitter& emit) {
  std::vector<Task> out;
  out.reserve(segment.tasks.size() + 32);
  const size_t n = segment.tasks.size();
  std::vector<int> moved(n, -1);
  auto remap = [&](const Task& task) {
    std::vector<int> deps;
    for (int16_t d : task.deps) {
      if (d >= 0) deps.push_back(moved[static_cast<size_t>(d)]);
    }
    return deps;
  };
  for (size_t i = 0; i < n; ++i) {
    const Task& task = segment.tasks[i];
    if (std::string_view(task.name) == "cp_kv_all_gather" && i + 1 < n) {
      // Forward: gather, core. Backward: gather, core, reduce-scatter of dK,dV.
      const bool backward =
          i + 2 < n && std::string_view(segment.tasks[i + 2].name) == "cp_dkv_reduce_scatter";
      const size_t width = backward ? 3 : 2;
      const int last = emit(out, task.phase, backward, remap(task));
      for (size_t j = i; j < i + width; ++j) moved[j] = last;
      i += width - 1;
      continue;
    }
    if (core_alone && task.kind == TaskKind::kCompute && task.op_class == OpClass::kAttention) {
      moved[i] = emit(out, task.phase, task.backward_kernel, remap(task));
      continue;
    }
    Task copy = task;
    copy.deps = {-1, -1, -1, -1};
    for (int d : remap(task)) copy.add_dep(d);
    moved[i] = static_cast<int>(out.size());
    out.push_back(std::move(copy));
  }
  // A wait for the previous instance may name a later task (the gather a layer's backward issues
  // for the next layer): remapped once every task has its new index. A segment continuing
  // another names that segment's tasks, whose indices this splice does not know.
  if (segment.continues) throw Error("a spliced segment cannot continue the segment before it");
  for (Task& task : out) {
    if (task.prev_instance_dep >= 0) task.prev_instance_dep = moved[static_cast<size_t>(task.prev_instance_dep)];
  }
  if (out.size() > 32767) throw Error("segment has more tasks than int16 dependencies index");
  segment.tasks = std::move(out);
}

}  // namespace spsim::detail
