// What the lowering's emitters share: the op indices of a layer, the segment builder and the
// per-job context computed once by lower_structure (src/strategy/lowering.cc). Internal to
// src/strategy/: the attention emitters live in their own files (ring_attention.cc,
// torch_cp_attention.cc) and the layer program in lowering.cc.
#ifndef SPSIM_STRATEGY_LOWERING_CONTEXT_H_
#define SPSIM_STRATEGY_LOWERING_CONTEXT_H_

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <utility>
#include <vector>

#include "spsim/error.h"
#include "spsim/framework.h"
#include "spsim/job.h"
#include "spsim/model.h"
#include "spsim/task_graph.h"

namespace spsim::detail {

// Indices of the ops layer_ops() returns, in order.
enum LayerOp {
  kInputNorm, kQkvProj, kRope, kAttention, kOutProj, kAttnResidual, kPostAttnNorm, kMlpUp,
  kMlpAct, kMlpDown, kMlpResidual, kNumLayerOps,
  // A mixture-of-experts layer's routing, after the dense ops (layer_ops(): mlp_up/act/down are
  // then the routed experts).
  kMoeRouter = kNumLayerOps, kMoePermute, kMoeUnpermute, kNumMoeLayerOps
};
enum HeadOp { kEmbedding, kFinalNorm, kLmHead, kCrossEntropy, kNumHeadOps };

// Appends tasks to one segment; dependencies < 0 are ignored (absent optional predecessors).
class SegmentBuilder {
 public:
  SegmentBuilder(Segment& segment, Phase phase) : tasks_(segment.tasks), phase_(phase) {}

  void set_phase(Phase phase) { phase_ = phase; }

  int compute(const char* name, OpClass op_class, double flops, double hbm_bytes,
              std::initializer_list<int> deps) {
    return push(Task::compute(name, phase_, op_class, flops, hbm_bytes), deps);
  }

  int comm(const char* name, Stream stream, Category category, CommKind kind, int group,
           double bytes, std::initializer_list<int> deps) {
    return push(Task::collective(name, phase_, stream, category, kind, group, bytes), deps);
  }

  Task& at(int index) { return tasks_[static_cast<size_t>(index)]; }
  size_t size() const { return tasks_.size(); }

 private:
  int push(Task task, std::initializer_list<int> deps) {
    for (int dep : deps) {
      if (dep >= 0) task.add_dep(dep);
    }
    tasks_.push_back(std::move(task));
    if (tasks_.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
      throw InputError("num_gpus", "the step has more than 2^31 tasks per layer; use smaller sequence-parallel degrees");
    }
    return static_cast<int>(tasks_.size()) - 1;
  }

  std::vector<Task>& tasks_;
  Phase phase_;
};

// Everything the emitters need about one lowered job, computed once.
struct Context {
  const ModelSpec& model;
  const JobConfig& job;
  const FrameworkProfile& fw;
  double e = 2;              // activation / communication element bytes
  double b = 1, s = 0, h = 0;
  int64_t t = 1, u = 1, r = 1, d = 1;
  bool sp = false;           // Megatron sequence parallelism (t > 1)
  bool zigzag = true, ring_allgather = false;
  bool cp_per_step = false;  // ring as PyTorch's context_parallel runs it (emit_torch_cp_fwd)
  bool stripe = false;       // ring_variant stripe: zigzag's c²/2 per step, skewed by ±c/2
  int64_t grad_group_size = 1;  // u x r x D: every rank holding the same parameter shard
  LayerShard shard;
  std::vector<OpCost> ops;       // task costs (full recompute: re-run emitted explicitly)
  std::vector<OpCost> head;
  // Group indices.
  int g_tp = -1, g_uly = -1, g_ring = -1, g_dp = -1, g_grad = -1, g_pp = -1;
  bool dp_comm = false;      // gradients are reduced (grad_group_size > 1)
  // Per-layer bytes.
  double tp_bytes = 0;       // one Megatron collective's buffer e·b·T_d·h
  double tp_gather_bytes = 0;  // one SP all-gather's buffer: tp_bytes, 1 byte an element in FP8
  // Mixture-of-experts layers (layer_ops): the allgather dispatcher's routing map (1 byte) and
  // probabilities (activation dtype) of the TP group's tokens, [T_d, E] each.
  bool moe = false;
  double moe_map_bytes = 0, moe_probs_bytes = 0;
                               // under TE (it quantizes before gathering)
  double a2a_q = 0, a2a_kv = 0;  // bytes sent per GPU, one all-to-all of Q (=O) / of K (=V)
  double kv_block = 0;       // ring: one K,V block 2·e·b·c·h_kv_local
  double kv_gather = 0;      // ring allgather: (r-1)/r of the gathered K,V
  // PyTorch context_parallel: elements of this GPU's Q (= out) and of its K as SDPA sees them,
  // and of the fp32 logsumexp (one per query and head).
  double cp_q_elems = 0, cp_k_elems = 0, cp_lse_elems = 0;
  double layer_params = 0;   // parameters of one layer on this GPU (after TP)
  // --offload activations: one layer's checkpoint (its input under full recompute), copied to the
  // host after the layer's forward and back before its backward; 0 when not offloaded.
  double offloaded_checkpoint = 0;
  // FP8: bytes of the quantization kernels of one layer's GEMM inputs (forward: activations;
  // backward: output gradients), and how many kernels.
  double fp8_cast_fwd_bytes = 0, fp8_cast_bwd_bytes = 0;
  int fp8_cast_fwd_kernels = 0, fp8_cast_bwd_kernels = 0;
  double param_bytes = 2, grad_bytes = 2;
  double grad_comm_bytes = 2;  // per element of the DP gradient traffic (FrameworkProfile::grad_comm_in_param_dtype)
  double attn_scale = 1;     // variable-length batches: varlen_attention_scale (1 otherwise)
  // Bytes the loss holds at its worst moment beyond the head's saved tensors (framework.h
  // loss_memory_per_logit, times the logits it holds at once: all, or one chunk).
  double loss_transient = 0;
};

/// (n - 1) / n: the fraction of a buffer a ring collective moves per rank.
inline double ratio(int64_t n) { return static_cast<double>(n - 1) / static_cast<double>(n); }

// --- Attention emitters. Each appends one layer's attention tasks and returns the last one. ---

/// The core on this GPU's shard: one task (r = 1), r ring steps with K,V send/recvs (basic,
/// zigzag or stripe), an all-gather of K,V (allgather CP), or PyTorch's context parallelism
/// (c.cp_per_step). src/strategy/ring_attention.cc.
int emit_attention_fwd(SegmentBuilder& sb, const Context& c, int d0, int d1, int d2);
int emit_attention_bwd(SegmentBuilder& sb, const Context& c, int dep);

/// PyTorch's context_parallel as torchtitan runs it. src/strategy/torch_cp_attention.cc.
int emit_torch_cp_fwd(SegmentBuilder& sb, const Context& c, int d0, int d1, int d2);
int emit_torch_cp_bwd(SegmentBuilder& sb, const Context& c, int dep);

/// Sets which kernel timing an attention task takes (direction, causal or full block).
void mark_attention(Task& task, const Context& c, bool backward, bool diagonal);
/// Per-rank work of ring step k under a basic (unbalanced) causal ring / a striped ring.
void set_ring_skew(Task& task, const Context& c, int64_t k);
void set_stripe_skew(Task& task, const Context& c, int64_t k);

}  // namespace spsim::detail

#endif  // SPSIM_STRATEGY_LOWERING_CONTEXT_H_
