#include "spsim/task_graph.h"

#include "spsim/error.h"

namespace spsim {

const char* to_string(Stream stream) {
  switch (stream) {
    case Stream::kCompute: return "compute";
    case Stream::kSequenceComm: return "sp_comm";
    case Stream::kRingComm: return "ring_comm";
    case Stream::kDataComm: return "dp_comm";
  }
  return "?";
}

const char* to_string(CommKind kind) {
  switch (kind) {
    case CommKind::kAllToAll: return "all_to_all";
    case CommKind::kAllGather: return "all_gather";
    case CommKind::kReduceScatter: return "reduce_scatter";
    case CommKind::kAllReduce: return "all_reduce";
    case CommKind::kSendRecv: return "send_recv";
  }
  return "?";
}

const char* to_string(Category category) {
  switch (category) {
    case Category::kCompute: return "compute";
    case Category::kUlyssesA2A: return "ulysses_a2a";
    case Category::kTensorParallel: return "tp";
    case Category::kRingP2P: return "ring_p2p";
    case Category::kContextGather: return "cp_allgather";
    case Category::kDataParallel: return "dp_grad";
    case Category::kZeroParams: return "zero_params";
    case Category::kPipelineP2P: return "pp_p2p";
  }
  return "?";
}

const char* to_string(AttentionImpl impl) {
  switch (impl) {
    case AttentionImpl::kCudnn: return "cudnn";
    case AttentionImpl::kFlash2: return "flash2";
    case AttentionImpl::kTriton: return "triton";
  }
  return "?";
}

const char* to_string(ElementwiseImpl impl) {
  switch (impl) {
    case ElementwiseImpl::kFused: return "fused";
    case ElementwiseImpl::kEager: return "eager";
  }
  return "?";
}

Task Task::compute(const char* name, Phase phase, OpClass op_class, double flops, double hbm_bytes) {
  Task task;
  task.name = name;
  task.kind = TaskKind::kCompute;
  task.stream = Stream::kCompute;
  task.category = Category::kCompute;
  task.phase = phase;
  task.op_class = op_class;
  task.flops = flops;
  task.hbm_bytes = hbm_bytes;
  return task;
}

Task Task::collective(const char* name, Phase phase, Stream stream, Category category, CommKind kind,
                      int group, double bytes) {
  Task task;
  task.name = name;
  task.kind = TaskKind::kCollective;
  task.stream = stream;
  task.category = category;
  task.phase = phase;
  task.comm = kind;
  task.group = group;
  task.bytes = bytes;
  return task;
}

void Task::add_dep(int index) {
  for (auto& dep : deps) {
    if (dep < 0) {
      dep = static_cast<int32_t>(index);
      return;
    }
  }
  throw Error("task has more than 4 dependencies");
}

int TaskGraph::add_group(const char* name, int64_t size, int64_t stride) {
  groups.push_back(CommGroup{name, size, stride});
  return static_cast<int>(groups.size()) - 1;
}

}  // namespace spsim
