// Lowering of one training step for the hybrid t (Megatron TP/SP) x u (Ulysses) x r (ring) x D.
//
// Per layer, forward (backward mirrors it):
//
//   input_norm -[TP: AG]- qkv_proj - rope -[U: a2a Q,K,V]- attention (ring: r steps, KV send/recv
//   of the next block overlapped with each step) -[U: a2a O]- out_proj -[TP: RS | AR]- residual
//   - post_attn_norm -[TP: AG]- mlp_up - mlp_act - mlp_down -[TP: RS | AR]- residual
//
// Per-GPU bytes follow docs/strategies.md (spec §2.2): they are what a collective task's `bytes`
// holds, summed by the tests against the hand-computed §2.3 vectors.
#include <algorithm>
#include <cmath>
#include <limits>
#include <initializer_list>
#include <vector>

#include "memory/activation_memory.h"
#include "memory/layer_buffers.h"
#include "pipeline/schedule.h"
#include "spsim/framework.h"
#include "spsim/long_context.h"
#include "spsim/error.h"
#include "strategy/lowering.h"
#include "strategy/lowering_context.h"

namespace spsim::detail {

namespace {


// DP gradient synchronisation of `params` parameters: all-reduce (ZeRO-0) or reduce-scatter.
int emit_grad_sync(SegmentBuilder& sb, const Context& c, double params, int dep) {
  if (c.grad_group_size <= 1) return -1;
  const double buffer = params * c.grad_comm_bytes;
  const double bucket = std::max(c.fw.grad_bucket_params,
                                 c.fw.grad_bucket_params_per_rank * static_cast<double>(c.grad_group_size));
  const int calls = bucket > 0 ? static_cast<int>(std::clamp(std::ceil(params / bucket), 1.0, 65535.0)) : 1;
  // ZeRO-0 all-reduces; DeepSpeed's ZeRO-1/2 all-reduce their buckets too (then keep their shard).
  if (c.job.zero_stage == 0 || (c.fw.zero12_all_reduce && c.job.zero_stage <= 2)) {
    const int task = sb.comm("dp_grad_all_reduce", Stream::kDataComm, Category::kDataParallel,
                             CommKind::kAllReduce, c.g_grad, 2.0 * ratio(c.grad_group_size) * buffer, {dep});
    sb.at(task).calls = static_cast<uint16_t>(calls);
    return task;
  }
  const int task = sb.comm("dp_grad_reduce_scatter", Stream::kDataComm, Category::kDataParallel,
                           CommKind::kReduceScatter, c.g_grad, ratio(c.grad_group_size) * buffer, {dep});
  sb.at(task).calls = static_cast<uint16_t>(calls);
  return task;
}

// ZeRO-3 parameter all-gather: no dependencies, so it prefetches on the data stream. `matrices`:
// the separate weight tensors the parameters are, for frameworks that gather one at a time.
int emit_zero3_gather(SegmentBuilder& sb, const Context& c, double params, int matrices = 1) {
  if (c.job.zero_stage < 3) return -1;
  // offload_param: the rank's partition lives in pinned host memory and is copied to the GPU
  // before the all-gather (partition_parameters.py: ds_tensor.to(device), :1332 and :1368 @edaa722;
  // on one rank a non-blocking copy, :97-100). spsim runs the copy on the compute stream ahead of
  // the gather: an upper bound, as DeepSpeed copies on its all-gather stream and prefetches
  // (partitioned_param_coordinator.py), hiding part of it behind the previous layer.
  const int from_host =
      c.job.offload_params
          ? sb.compute("param_from_host", OpClass::kHostLink, 0,
                       params * c.param_bytes / static_cast<double>(std::max<int64_t>(1, c.grad_group_size)), {})
          : -1;
  if (c.grad_group_size <= 1) return from_host;
  const int task = sb.comm("zero3_param_all_gather", Stream::kDataComm, Category::kZeroParams,
                           CommKind::kAllGather, c.g_grad, ratio(c.grad_group_size) * params * c.param_bytes,
                           {from_host});
  if (c.fw.gather_per_matrix) sb.at(task).calls = static_cast<uint16_t>(std::max(1, matrices));
  return task;
}

// The width of one MLP weight matrix: the dense MLP's, or one expert's in a MoE layer.
int64_t mlp_width(const ModelSpec& model) {
  return model.is_moe() ? model.moe.expert_ffn_size : model.ffn_hidden_size;
}

// Weight matrices of one layer as Hugging Face models hold them: q, k, v and o projections, and
// the MLP's two (GeLU) or three (SwiGLU) matrices.
int layer_matrices(const ModelSpec& model) { return 4 + (model.gated_mlp ? 3 : 2); }

int tp_gather(SegmentBuilder& sb, const Context& c, int dep) {
  return sb.comm("tp_all_gather", Stream::kSequenceComm, Category::kTensorParallel,
                 CommKind::kAllGather, c.g_tp, ratio(c.t) * c.tp_gather_bytes, {dep});
}

// Megatron-Core's MoE allgather dispatcher over the TP group (expert TP = TP, EP 1): three
// all-gathers, of the routing map, the probabilities and the tokens (token_dispatcher.py:285-301).
int moe_dispatch_gather(SegmentBuilder& sb, const Context& c, int dep) {
  const int task = sb.comm("moe_dispatch_all_gather", Stream::kSequenceComm, Category::kTensorParallel,
                           CommKind::kAllGather, c.g_tp,
                           ratio(c.t) * (c.tp_gather_bytes + c.moe_map_bytes + c.moe_probs_bytes), {dep});
  sb.at(task).calls = 3;
  return task;
}

// Its backward: the tokens' gradient and the probabilities' gradient reduce-scattered back.
int moe_dispatch_gather_bwd(SegmentBuilder& sb, const Context& c, int dep) {
  const int task = sb.comm("moe_dispatch_reduce_scatter", Stream::kSequenceComm, Category::kTensorParallel,
                           CommKind::kReduceScatter, c.g_tp, ratio(c.t) * (c.tp_bytes + c.moe_probs_bytes), {dep});
  sb.at(task).calls = 2;
  return task;
}

// Megatron's reduction after a row-parallel GEMM: reduce-scatter with SP, all-reduce without.
int tp_reduce(SegmentBuilder& sb, const Context& c, int dep) {
  if (c.sp) {
    return sb.comm("tp_reduce_scatter", Stream::kSequenceComm, Category::kTensorParallel,
                   CommKind::kReduceScatter, c.g_tp, ratio(c.t) * c.tp_bytes, {dep});
  }
  return sb.comm("tp_all_reduce", Stream::kSequenceComm, Category::kTensorParallel,
                 CommKind::kAllReduce, c.g_tp, 2.0 * ratio(c.t) * c.tp_bytes, {dep});
}

// FP8 quantization of one layer's GEMM inputs as memory-bound kernels on the compute stream
// (TransformerEngine docs, features/low_precision_training: delayed scaling reads a tensor once,
// current scaling twice (amax, then cast); Hopper also writes a transposed FP8 copy for the
// wgrad/dgrad GEMMs).
void emit_fp8_casts(SegmentBuilder& sb, const Context& c, bool backward) {
  const double bytes = backward ? c.fp8_cast_bwd_bytes : c.fp8_cast_fwd_bytes;
  const int kernels = backward ? c.fp8_cast_bwd_kernels : c.fp8_cast_fwd_kernels;
  if (bytes <= 0) return;
  const int cast = sb.compute("fp8_cast", OpClass::kMemoryBound, 0, bytes, {});
  sb.at(cast).kernels = static_cast<uint8_t>(kernels);
}

// One layer's forward. `zero_dep` gates the first GEMM (ZeRO-3 gathered parameters).
int emit_layer_fwd(SegmentBuilder& sb, const Context& c, int zero_dep, int start_dep) {
  const auto& ops = c.ops;
  auto fwd = [&](LayerOp i, std::initializer_list<int> deps) {
    const int task = sb.compute(ops[i].name, ops[i].op_class, ops[i].fwd_flops, ops[i].fwd_bytes, deps);
    if (ops[i].kernels > 1) sb.at(task).kernels = static_cast<uint16_t>(ops[i].kernels);
    return task;
  };
  int last = fwd(kInputNorm, {start_dep});
  emit_fp8_casts(sb, c, false);
  if (c.t > 1 && c.sp) last = tp_gather(sb, c, last);
  const int qkv = fwd(kQkvProj, {last, zero_dep});
  // Learned absolute positions (GPT-2/3, MPT) are added once to the embedding: no rotary kernel.
  const int rope = c.model.learned_position_embeddings ? qkv : fwd(kRope, {});
  int a0 = rope, a1 = -1, a2 = -1;
  if (c.u > 1) {
    a0 = sb.comm("a2a_q", Stream::kSequenceComm, Category::kUlyssesA2A, CommKind::kAllToAll,
                 c.g_uly, c.a2a_q, {rope});
    a1 = sb.comm("a2a_k", Stream::kSequenceComm, Category::kUlyssesA2A, CommKind::kAllToAll,
                 c.g_uly, c.a2a_kv, {rope});
    a2 = sb.comm("a2a_v", Stream::kSequenceComm, Category::kUlyssesA2A, CommKind::kAllToAll,
                 c.g_uly, c.a2a_kv, {rope});
  }
  last = emit_attention_fwd(sb, c, a0, a1, a2);
  if (c.u > 1) {
    last = sb.comm("a2a_o", Stream::kSequenceComm, Category::kUlyssesA2A, CommKind::kAllToAll,
                   c.g_uly, c.a2a_q, {last});
  }
  last = fwd(kOutProj, {last});
  if (c.t > 1) last = tp_reduce(sb, c, last);
  fwd(kAttnResidual, {last});
  last = fwd(kPostAttnNorm, {});
  if (c.moe) {
    // Megatron-Core's allgather dispatcher: route this GPU's tokens, gather the TP group's tokens
    // with their routing map and probabilities, pick each expert's rows (layer_ops.cc).
    last = fwd(kMoeRouter, {last});
    if (c.t > 1) last = moe_dispatch_gather(sb, c, last);
    last = fwd(kMoePermute, {last});
  } else if (c.t > 1 && c.sp) {
    last = tp_gather(sb, c, last);
  }
  fwd(kMlpUp, {last});
  fwd(kMlpAct, {});
  last = fwd(kMlpDown, {});
  if (c.moe) last = fwd(kMoeUnpermute, {last});
  if (c.t > 1) last = tp_reduce(sb, c, last);
  return fwd(kMlpResidual, {last});
}

// The whole backward of one op as one task. A GEMM's is two kernels (dgrad and wgrad, each the
// forward's size), which is what a calibrated efficiency curve must be read at.
int backward_task(SegmentBuilder& sb, const OpCost& op, std::initializer_list<int> deps) {
  const int index = sb.compute(op.name, op.op_class, op.bwd_flops, op.bwd_bytes, deps);
  const int kernels = (op.op_class == OpClass::kGemm ? 2 : 1) * op.kernels;
  if (kernels > 1) sb.at(index).kernels = static_cast<uint16_t>(kernels);
  return index;
}

// Backward of a column-parallel GEMM under TP: dgrad, then the reduction of dX overlapped with
// wgrad (Megatron's async grad reduction); with SP the input is re-gathered for wgrad, overlapped
// with dgrad (Korthikanti §4.2.2). Returns the reduction task.
int emit_column_parallel_bwd(SegmentBuilder& sb, const Context& c, LayerOp i, const char* dgrad,
                             const char* wgrad, int dep) {
  const OpCost& op = c.ops[i];
  const int regather = c.sp ? tp_gather(sb, c, dep) : -1;
  const int dg = sb.compute(dgrad, op.op_class, 0.5 * op.bwd_flops, 0.5 * op.bwd_bytes, {dep});
  const int reduce = tp_reduce(sb, c, dg);
  sb.compute(wgrad, op.op_class, 0.5 * op.bwd_flops, 0.5 * op.bwd_bytes, {dg, regather});
  return reduce;
}

// When ZeRO-3 gathers a layer's parameters (JobConfig::backward_prefetch, else the framework's).
enum class Gather { kPrefetch, kAfterCompute, kSynchronous };
Gather zero3_gather_mode(const Context& c) {
  const std::string& mode = c.job.backward_prefetch;
  if (mode == "sync") return Gather::kSynchronous;
  if (mode == "post") return Gather::kAfterCompute;
  if (mode == "pre") return Gather::kPrefetch;
  return c.fw.zero3_backward_prefetch ? Gather::kPrefetch : Gather::kAfterCompute;
}

// One layer's backward (with full recompute, the forward re-run first). Returns the last task.
//
// ZeRO-3: the segment's all-gather brings the parameters of the next layer to run backward, and
// the layer's first kernel waits for the one the previous instance issued (the framework's
// pre-backward unshard; the first backward layer is the forward's last, still gathered). With
// prefetch the gather is issued as the layer's backward starts, so it overlaps the layer's
// compute; after compute, once the layer's gradients are computed (FSDP1's post-backward hook,
// DeepSpeed's on-demand fetch), exposed. Either way it goes on the data stream ahead of the
// layer's gradient reduce-scatter, which then overlaps the next layer's compute. Synchronous
// (DeepSpeed's first ZeRO-3 synchronized the device before every gather): behind the
// reduce-scatter, so nothing overlaps.
// The tasks of one layer's backward that the next layer's backward waits for (ZeRO-3): its
// first task, the gather it issues for the next layer and the prefetch gather it waits on.
struct LayerBwdTasks {
  int first = -1, next = -1, gather = -1;
};

LayerBwdTasks emit_layer_bwd(SegmentBuilder& sb, const Context& c, const std::vector<OpCost>& bwd_ops,
                             bool with_dp, bool rerun_forward) {
  // Parameters fetched per layer: gathered from the ZeRO group, or copied in from the host.
  const bool zero3 = c.job.zero_stage >= 3 && (c.grad_group_size > 1 || c.job.offload_params);
  const Gather mode = zero3_gather_mode(c);
  const bool prefetch = zero3 && mode == Gather::kPrefetch;
  const int gather = prefetch ? emit_zero3_gather(sb, c, c.layer_params, layer_matrices(c.model)) : -1;
  const int first = static_cast<int>(sb.size());
  int last = -1;
  if (rerun_forward) {
    // Checkpointed layer: the whole forward (its communication included) runs again.
    last = emit_layer_fwd(sb, c, -1, -1);
  }
  auto bwd = [&](LayerOp i, std::initializer_list<int> deps) {
    return backward_task(sb, bwd_ops[i], deps);
  };
  last = bwd(kMlpResidual, {last});
  emit_fp8_casts(sb, c, true);
  if (c.t > 1 && c.sp) last = tp_gather(sb, c, last);  // conjugate of the forward RS
  if (c.moe) {
    // The experts keep their permuted input: no re-gather for fc1's wgrad.
    last = bwd(kMoeUnpermute, {last});
    bwd(kMlpDown, {last});
    bwd(kMlpAct, {});
    last = bwd(kMlpUp, {});
    last = bwd(kMoePermute, {last});
    if (c.t > 1) last = moe_dispatch_gather_bwd(sb, c, last);
    last = bwd(kMoeRouter, {last});
  } else {
    bwd(kMlpDown, {last});
    last = bwd(kMlpAct, {});
    if (c.t > 1) {
      last = emit_column_parallel_bwd(sb, c, kMlpUp, "mlp_up_dgrad", "mlp_up_wgrad", last);
    } else {
      last = bwd(kMlpUp, {});
    }
  }
  bwd(kPostAttnNorm, {last});
  last = bwd(kAttnResidual, {});
  if (c.t > 1 && c.sp) last = tp_gather(sb, c, last);
  last = bwd(kOutProj, {last});
  if (c.u > 1) {
    last = sb.comm("a2a_do", Stream::kSequenceComm, Category::kUlyssesA2A, CommKind::kAllToAll,
                   c.g_uly, c.a2a_q, {last});
  }
  if (c.job.recompute == Recompute::kSelective && c.job.attention_kernel == AttentionKernel::kFlash) {
    // Megatron-Core's selective recompute checkpoints core attention (recompute_modules default
    // ["core_attn"], transformer_config.py) whatever the kernel: the flash forward, a ring's K/V
    // exchange included, runs again before its backward.
    last = emit_attention_fwd(sb, c, last, -1, -1);
  }
  last = emit_attention_bwd(sb, c, last);
  int d0 = last, d1 = -1, d2 = -1;
  if (c.u > 1) {
    d0 = sb.comm("a2a_dq", Stream::kSequenceComm, Category::kUlyssesA2A, CommKind::kAllToAll,
                 c.g_uly, c.a2a_q, {last});
    d1 = sb.comm("a2a_dk", Stream::kSequenceComm, Category::kUlyssesA2A, CommKind::kAllToAll,
                 c.g_uly, c.a2a_kv, {last});
    d2 = sb.comm("a2a_dv", Stream::kSequenceComm, Category::kUlyssesA2A, CommKind::kAllToAll,
                 c.g_uly, c.a2a_kv, {last});
    // DeepSpeed sp_stream: the dQ/dK/dV all-to-alls overlap the following compute.
    if (c.job.ulysses_overlap) d0 = d1 = d2 = -1;
  }
  const bool rope = !c.model.learned_position_embeddings;
  if (rope) last = bwd(kRope, {d0, d1, d2});
  if (c.t > 1) {
    // Without the rotary backward, the dQ, dK, dV all-to-alls (one stream, in order) gate dgrad.
    if (!rope) last = d2 >= 0 ? d2 : d0;
    last = emit_column_parallel_bwd(sb, c, kQkvProj, "qkv_proj_dgrad", "qkv_proj_wgrad", last);
  } else {
    last = rope ? bwd(kQkvProj, {}) : bwd(kQkvProj, {d0, d1, d2});
  }
  last = bwd(kInputNorm, {last});
  auto gather_after = [&](int dep) {
    const int next = emit_zero3_gather(sb, c, c.layer_params, layer_matrices(c.model));
    sb.at(next).add_dep(dep);
    return next;
  };
  int next = gather;
  if (zero3 && mode == Gather::kAfterCompute) next = gather_after(last);
  if (with_dp) emit_grad_sync(sb, c, c.layer_params, last);
  if (zero3 && mode == Gather::kSynchronous) next = gather_after(last);  // queued behind the reduction
  if (zero3) sb.at(first).prev_instance_dep = next;
  // A prefetch runs at most one layer ahead: it waits until the previous layer's backward began
  // (FSDP2 issues it after the current layer's copy-out, FSDP1 keeps two all-gathers in flight,
  // Megatron-FSDP and DeepSpeed bound it by buffer or bucket size). Without the bound a gather
  // with no dependency would run the whole backward's gathers at once, holding every layer's
  // parameters; with identical layers the steady state is the same either way.
  if (prefetch) sb.at(gather).prev_instance_dep = first;
  return {first, zero3 ? next : -1, prefetch ? gather : -1};
}


// --- Segments. Each appends one segment to `graph`. ---------------------------------------------

// Embedding forward: vocab-parallel lookup, then RS (SP) or AR (TP) of the partial rows.
void add_embedding_fwd(TaskGraph& graph, const Context& c, double embedding_params) {
  Segment& seg = graph.segments.emplace_back();
  seg.name = "embedding_fwd";
  SegmentBuilder sb(seg, Phase::kForward);
  const int zero = emit_zero3_gather(sb, c, embedding_params);
  const OpCost& op = c.head[kEmbedding];
  const int emb = sb.compute(op.name, op.op_class, op.fwd_flops, op.fwd_bytes, {zero});
  if (c.t > 1) tp_reduce(sb, c, emb);
}

void add_layer_fwd(TaskGraph& graph, const Context& c, int64_t layers) {
  Segment& seg = graph.segments.emplace_back();
  seg.name = "layer_fwd";
  seg.repeat = layers;
  seg.tasks.reserve(static_cast<size_t>(24 + 2 * c.r));
  SegmentBuilder sb(seg, Phase::kForward);
  const int zero = emit_zero3_gather(sb, c, c.layer_params, layer_matrices(c.model));
  const int first = static_cast<int>(sb.size());
  const int last = emit_layer_fwd(sb, c, zero, -1);
  // A synchronous gather (DeepSpeed's first ZeRO-3) waits for the previous layer to finish
  // instead of running ahead of it; a prefetch runs at most one layer ahead (it waits until the
  // previous layer's forward began: FSDP2's implicit forward prefetch frees an all-gather buffer
  // only after the next copy-out, DeepSpeed bounds prefetch by bucket size), not all layers at
  // once.
  if (zero >= 0) {
    sb.at(zero).prev_instance_dep = zero3_gather_mode(c) == Gather::kSynchronous ? last : first;
  }
  // ALST's checkpoint offload copies on the compute stream ("isn't yet efficient (blocking)",
  // DeepSpeed's ALST tutorial), so the copy adds to the layer's time.
  if (c.offloaded_checkpoint > 0) {
    sb.compute("checkpoint_to_host", OpClass::kHostLink, 0, c.offloaded_checkpoint, {last});
  }
}

// Head: final norm, LM head and loss forward, then their backward; one segment ("head") or, for
// the pipeline's last stage, the forward and backward halves on their own.
void add_head(TaskGraph& graph, const Context& c, bool forward, bool backward) {
  Segment& seg = graph.segments.emplace_back();
  seg.name = forward && backward ? "head" : forward ? "head_fwd" : "head_bwd";
  SegmentBuilder sb(seg, Phase::kForward);
  auto fwd = [&](HeadOp i, std::initializer_list<int> deps) {
    return sb.compute(c.head[i].name, c.head[i].op_class, c.head[i].fwd_flops,
                      c.head[i].fwd_bytes, deps);
  };
  auto bwd = [&](HeadOp i, std::initializer_list<int> deps) { return backward_task(sb, c.head[i], deps); };
  if (forward) {
    int last = fwd(kFinalNorm, {});
    if (c.sp) last = tp_gather(sb, c, last);
    const int lm = fwd(kLmHead, {last});
    sb.at(lm).high_precision = true;
    const int loss = fwd(kCrossEntropy, {});
    sb.at(loss).measured_at_fused_plateau = true;
  }
  if (!backward) return;
  sb.set_phase(Phase::kBackward);
  int last = bwd(kCrossEntropy, {});
  sb.at(last).measured_at_fused_plateau = true;
  if (c.t > 1) {
    const OpCost& op = c.head[kLmHead];
    const int regather = c.sp ? tp_gather(sb, c, last) : -1;
    const int dg = sb.compute("lm_head_dgrad", op.op_class, 0.5 * op.bwd_flops,
                              0.5 * op.bwd_bytes, {last});
    sb.at(dg).high_precision = true;
    last = tp_reduce(sb, c, dg);
    const int wg = sb.compute("lm_head_wgrad", op.op_class, 0.5 * op.bwd_flops, 0.5 * op.bwd_bytes,
                              {dg, regather});
    sb.at(wg).high_precision = true;
  } else {
    last = bwd(kLmHead, {});
    sb.at(last).high_precision = true;
  }
  bwd(kFinalNorm, {last});
}

// Backward of `layers` layers of which `rerun` re-run their forward (full recompute); `with_dp`
// adds each layer's gradient reduction (last micro-batch only). Under full recompute of part of a
// chunk (Megatron's block method: its first N layers) the layers that kept their activations
// (the chunk's last ones, back-propagated first) run, then the checkpointed ones: one segment each.
void add_layer_bwd(TaskGraph& graph, const Context& c, int64_t layers, int64_t rerun, When when,
                   bool with_dp) {
  LayerBwdTasks plain;
  for (const bool checkpointed : {false, true}) {
    const int64_t count = checkpointed ? rerun : layers - rerun;
    // One segment when the chunk is of one kind (an empty chunk keeps its empty segment).
    const bool one_kind = rerun == 0 || rerun == layers;
    if (one_kind ? checkpointed != (rerun > 0 && rerun == layers) : count == 0) continue;
    Segment& seg = graph.segments.emplace_back();
    seg.name = "layer_bwd";
    seg.repeat = count;
    seg.when = when;
    seg.tasks.reserve(static_cast<size_t>(48 + 4 * c.r));
    SegmentBuilder sb(seg, Phase::kBackward);
    const LayerBwdTasks tasks = emit_layer_bwd(sb, c, c.ops, with_dp, checkpointed);
    if (checkpointed && c.offloaded_checkpoint > 0) {
      // The next layer's checkpoint back from the host, blocking as its copy out was (one per
      // layer: the first layer's comes in after the head, the last layer's is not needed, which
      // evens out over the step).
      sb.compute("checkpoint_from_host", OpClass::kHostLink, 0, c.offloaded_checkpoint, {});
    }
    if (checkpointed && !one_kind) {
      // The last plain layer gathered this first checkpointed layer's parameters (ZeRO-3).
      seg.continues = true;
      if (plain.next >= 0) sb.at(tasks.first).continued_dep = plain.next;
      if (tasks.gather >= 0) sb.at(tasks.gather).continued_dep = plain.first;
    }
    plain = tasks;
  }
}

void add_embedding_bwd(TaskGraph& graph, const Context& c, double embedding_params, When when,
                       bool with_dp) {
  Segment& seg = graph.segments.emplace_back();
  seg.name = "embedding_bwd";
  seg.when = when;
  SegmentBuilder sb(seg, Phase::kBackward);
  const int grad = c.sp ? tp_gather(sb, c, -1) : -1;  // conjugate of the forward RS
  const OpCost& op = c.head[kEmbedding];
  const int emb = sb.compute(op.name, op.op_class, op.bwd_flops, op.bwd_bytes, {grad});
  if (with_dp) emit_grad_sync(sb, c, embedding_params, emb);
}

// The backward segments of a step of `micro_batches`: without DP communication for all but the
// last micro-batch (DDP no_sync / DeepSpeed's accumulation boundary).
void add_backward(TaskGraph& graph, const Context& c, int64_t layers, int64_t rerun,
                  int64_t micro_batches, double embedding_params, bool with_embedding) {
  // DeepSpeed ZeRO-2/3 and FSDP2 (as torchtitan runs it) reduce gradients in every micro-batch;
  // under PyTorch pipelining only in the last (backward_maybe_with_nosync).
  const bool pipelining_no_sync = c.fw.pipeline_zero == PipelineZero::kTorchPipelining && c.job.pipeline_parallel > 1;
  if (c.dp_comm && c.job.zero_stage >= c.fw.reduce_every_micro_batch_from_zero && !pipelining_no_sync) {
    add_layer_bwd(graph, c, layers, rerun, When::kEveryMicroBatch, true);
    if (with_embedding) add_embedding_bwd(graph, c, embedding_params, When::kEveryMicroBatch, true);
    return;
  }
  if (c.dp_comm && micro_batches > 1) {
    add_layer_bwd(graph, c, layers, rerun, When::kAllButLastMicroBatch, false);
    add_layer_bwd(graph, c, layers, rerun, When::kLastMicroBatch, true);
    if (with_embedding) {
      add_embedding_bwd(graph, c, embedding_params, When::kAllButLastMicroBatch, false);
      add_embedding_bwd(graph, c, embedding_params, When::kLastMicroBatch, true);
    }
  } else {
    const When when = c.dp_comm ? When::kLastMicroBatch : When::kEveryMicroBatch;
    add_layer_bwd(graph, c, layers, rerun, when, c.dp_comm);
    if (with_embedding) add_embedding_bwd(graph, c, embedding_params, when, c.dp_comm);
  }
}

// Optimizer: memory-bound Adam over the local (ZeRO-sharded) parameters, then ZeRO-1/2 gather
// the updated parameters.
void add_optimizer(TaskGraph& graph, const Context& c, double params_local) {
  Segment& seg = graph.segments.emplace_back();
  seg.name = "optimizer";
  seg.when = When::kLastMicroBatch;
  // The step boundary: the optimizer reads the reduced gradients, so it starts only after every
  // gradient reduction has finished (DDP's finalize, DeepSpeed's boundary, Megatron's
  // finalize_model_grads), not overlapped with the last of them.
  seg.barrier = true;
  SegmentBuilder sb(seg, Phase::kOptimizer);
  const double shard = c.job.zero_stage >= 1
                           ? params_local / static_cast<double>(c.grad_group_size)
                           : params_local;
  // Adam per parameter: read grad, read+write fp32 master, m, v, write the 16-bit copy
  // (2 + 24 + 2 = 28 bytes mixed precision; 4 + 24 = 28 in fp32), ~12 FLOP.
  if (c.job.offload_optimizer) {
    // DeepSpeed's offload_optimizer (ZeRO-Offload, Ren et al. 2021 s4.1): the reduced gradient
    // partition goes to the host in fp32 (copy_ into the pinned fp32 buffer converts on the GPU:
    // 4 bytes), DeepSpeedCPUAdam updates it there, bound by host memory traffic (read the fp32
    // gradient, read and write fp32 master, m and v, write the 16-bit copy: 4 + 24 + 2 bytes),
    // and the 16-bit parameters come back. spsim runs the gradient copy here, after the backward,
    // not overlapped with it: an upper bound of 4 bytes per parameter over the link.
    const int out = sb.compute("grads_to_host", OpClass::kHostLink, 0, 4.0 * shard, {});
    const int adam = sb.compute("cpu_adam", OpClass::kHostMemory, 12.0 * shard, 30.0 * shard, {out});
    // With offload_param the updated 16-bit partition stays on the host for the next fetch.
    const int back = c.job.offload_params
                         ? adam
                         : sb.compute("params_to_gpu", OpClass::kHostLink, 0, c.param_bytes * shard, {adam});
    if ((c.job.zero_stage == 1 || c.job.zero_stage == 2) && c.dp_comm) {
      sb.comm("zero_param_all_gather", Stream::kDataComm, Category::kZeroParams, CommKind::kAllGather, c.g_grad,
              ratio(c.grad_group_size) * params_local * c.param_bytes, {back});
    }
    return;
  }
  int adam = sb.compute("adam_update", OpClass::kMemoryBound, 12.0 * shard, 28.0 * shard, {});
  if (c.job.offload_params) {
    // offload_param with the optimizer on the GPU: the updated partition goes back to its pinned
    // host buffer (stage3.py _reassign_or_swap_out_partitioned_parameters, :2586-2590).
    adam = sb.compute("params_to_host", OpClass::kHostLink, 0, c.param_bytes * shard, {adam});
  }
  if ((c.job.zero_stage == 1 || c.job.zero_stage == 2) && c.dp_comm) {
    sb.comm("zero_param_all_gather", Stream::kDataComm, Category::kZeroParams,
            CommKind::kAllGather, c.g_grad,
            ratio(c.grad_group_size) * params_local * c.param_bytes, {adam});
  }
}

// DeepSpeed's offload_optimizer under gradient accumulation: every micro-batch but the last moves
// the gradient partition between the GPU and its host buffer. ZeRO-3 (stage3.py partition_grads)
// copies the reduced fp32 partition out on the first micro-step and, on each later one, back in to
// be added and out again: 8 bytes per parameter per micro-batch beyond the one the optimizer's
// copy counts. ZeRO-1/2 (stage_1_and_2.py async_accumulate_grad_in_cpu_via_gpu) do the same with
// the 16-bit gradients: 4 bytes. Run on the compute stream, after the micro-batch's backward: an
// upper bound (DeepSpeed overlaps them with the backward when overlap_comm is on).
void add_offload_grad_accumulation(TaskGraph& graph, const Context& c, double params_local) {
  if (!c.job.offload_optimizer || graph.micro_batches <= 1) return;
  Segment& seg = graph.segments.emplace_back();
  seg.name = "offload_grad_accumulation";
  seg.when = When::kAllButLastMicroBatch;
  SegmentBuilder sb(seg, Phase::kBackward);
  const double shard = params_local / static_cast<double>(std::max<int64_t>(1, c.grad_group_size));
  sb.compute("grads_to_host_and_back", OpClass::kHostLink, 0, (c.job.zero_stage >= 3 ? 8.0 : 4.0) * shard, {});
}

// Tied embeddings under pipeline parallelism: the first stage's input embedding and the last
// stage's LM head are one weight held twice, so after the backward their gradients are summed
// across the two (Megatron's embedding group, _allreduce_embedding_grads in finalize_model_grads,
// after the DP reduction and before the optimizer). An all-reduce of two ranks moves the whole
// gradient once each way; it is emitted as one send/recv step over the pp group, whose link
// load per GPU is the same (one block out and one in) and which the engines already place.
void add_tied_embedding_grad_sync(TaskGraph& graph, const Context& c, double embedding_params,
                                  When when) {
  Segment& seg = graph.segments.emplace_back();
  seg.name = "tied_embedding_grad_sync";
  seg.when = when;
  seg.barrier = true;  // finalize_model_grads: after the whole backward and the DP reduction
  SegmentBuilder sb(seg, Phase::kBackward);
  sb.comm("tied_embedding_all_reduce", Stream::kDataComm, Category::kDataParallel, CommKind::kSendRecv,
          c.g_pp, embedding_params * c.grad_bytes, {});
}

// A graph for one piece of a pipelined step: the same GPUs and groups, one micro-batch.
TaskGraph piece_of(const TaskGraph& step) {
  TaskGraph piece;
  piece.strategy = step.strategy;
  piece.num_gpus = step.num_gpus;
  piece.micro_batches = 1;
  piece.tokens_per_step = 0;
  piece.precision = step.precision;
  piece.groups = step.groups;
  return piece;
}

// The head at the loss's worst moment: the final norm's and LM head's saved inputs, the loss's
// saved tensor, and the loss's transient ones (StageMemoryInputs::head_peak).
double head_peak_bytes(const Context& c) {
  return c.head[kFinalNorm].saved_bytes + c.head[kLmHead].saved_bytes + c.head[kCrossEntropy].saved_bytes +
         c.loss_transient;
}

// Whether DeepSpeed would run its BF16_Optimizer (a flat gradient buffer of the accumulation dtype,
// no reduce bucket): bf16 with fp32 accumulation at ZeRO-1 without offload_optimizer
// (engine.py:1994-1996), or bf16 at ZeRO-0 under its pipeline engine (:2014-2018). fp16 and fp32
// run FP16_Optimizer or none, which free or never copy param.grad.
bool runs_bf16_optimizer(const Context& c) {
  // FP8 plans keep a bf16 model (the FP8 casts are the GEMMs' own).
  if (c.job.precision != Precision::kBf16 && c.job.precision != Precision::kFp8) return false;
  if (c.job.zero_stage == 1) return c.grad_bytes > c.param_bytes && !c.job.offload_optimizer;
  return c.job.zero_stage == 0 && c.job.pipeline_parallel > 1;
}

// What sizes the transient buffers of one layer in flight (memory/layer_buffers.h): this
// layer's shard and the framework's gradient reduction. `model_params_local`: the whole model's
// parameters after TP (every layer, embedding and head), which caps the ZeRO-3 live set.
LayerBufferInputs layer_buffer_inputs(const Context& c, double model_params_local) {
  LayerBufferInputs in;
  in.element_bytes = c.e;
  in.micro_batch = c.b;
  in.seq = c.s;
  in.dense_tokens = static_cast<double>(c.shard.dense_tokens);
  in.q_block_tokens = static_cast<double>(c.shard.attn_q_tokens);
  in.heads = static_cast<double>(c.shard.attn_heads);
  in.kv_heads = static_cast<double>(c.shard.attn_kv_heads);
  in.head_dim = static_cast<double>(c.model.head_dim);
  in.ulysses = c.u;
  in.ring = c.r;
  in.ring_allgather = c.ring_allgather;
  in.cp_per_step = c.cp_per_step;
  in.kv_block = c.kv_block;
  in.cp_q_elems = c.cp_q_elems;
  in.cp_k_elems = c.cp_k_elems;
  in.tp_gather_bytes = c.sp ? c.tp_bytes : 0.0;
  // ZeRO-3 gathers a layer's parameters when it shards them; offload_param fetches them whole.
  in.zero3_gathers = c.job.zero_stage >= 3 && (c.dp_comm || c.job.offload_params);
  in.zero3_prefetch_params = c.fw.zero3_prefetch_params;
  in.zero3_live_params = std::min(c.fw.zero3_live_params, model_params_local);
  in.reduces_gradients = c.dp_comm;
  in.layer_params = c.layer_params;
  in.param_bytes = c.param_bytes;
  in.grad_bytes = c.grad_bytes;
  // BF16_Optimizer has no bucket; the ZeRO optimizer runs at every other ZeRO stage.
  in.reduce_bucket_params =
      c.fw.resident_reduce_bucket && c.job.zero_stage >= 1 && !runs_bf16_optimizer(c) ? c.fw.grad_bucket_params : 0.0;
  in.reduce_bucket_bytes = c.job.zero_stage >= 3 ? c.grad_comm_bytes : c.param_bytes;
  in.zero_stage = c.job.zero_stage;
  in.micro_batches = c.job.micro_batches();
  in.largest_matrix = c.h * static_cast<double>(mlp_width(c.model)) / static_cast<double>(c.t);
  return in;
}

// A stage's transient buffers at its moments (memory/layer_buffers.h): those of every moment (the
// layer's, then `other`, then the tied head kept gathered here), what the loss phase holds beyond
// them on the stage with the LM head, and what the layers' backward holds beyond them.
void set_stage_buffers(StageMemoryInputs& in, const LayerBufferInputs& layer, double other,
                       double tied_head_here, bool holds_head, double head_params) {
  in.buffers = layer_buffers(layer) + other + tied_head_here;
  in.head_buffers = holds_head && tied_head_here == 0 ? head_buffers_beyond_layer(layer, head_params) : 0.0;
  in.backward_buffers = backward_buffers_beyond_layer(layer);
}

}  // namespace

// Every compute task runs the framework's implementation of its kernel class (attention: the
// job's choice, which defaults to the framework's).
void stamp_implementations(TaskGraph& graph, AttentionImpl attention, ElementwiseImpl elementwise) {
  for (auto& segment : graph.segments) {
    for (auto& task : segment.tasks) {
      task.attention_impl = attention;
      task.elementwise_impl = task.measured_at_fused_plateau ? ElementwiseImpl::kFused : elementwise;
    }
  }
}

void stamp_implementations(LoweredStep& step, const FrameworkProfile& fw) {
  const AttentionImpl attention = step.job.attention_impl == "flash2"   ? AttentionImpl::kFlash2
                                  : step.job.attention_impl == "cudnn"  ? AttentionImpl::kCudnn
                                  : step.job.attention_impl == "triton" ? AttentionImpl::kTriton
                                                                        : fw.attention;
  const ElementwiseImpl elementwise = step.job.elementwise_impl == "fused"   ? ElementwiseImpl::kFused
                                      : step.job.elementwise_impl == "eager" ? ElementwiseImpl::kEager
                                                                             : fw.elementwise;
  auto stamp = [&](TaskGraph& g) { stamp_implementations(g, attention, elementwise); };
  stamp(step.graph);
  PipelinePlan& p = step.pipeline;
  for (TaskGraph* piece : {&p.chunk_fwd, &p.chunk_bwd, &p.embedding_fwd, &p.embedding_bwd, &p.head_fwd,
                           &p.head_bwd, &p.p2p, &p.tail_with_dp, &p.tail_without_dp}) {
    stamp(*piece);
  }
}

LayerShard make_layer_shard(const ModelSpec& model, const JobConfig& job) {
  const int64_t t = job.tensor_parallel, u = job.ulysses_degree, r = job.ring_degree;
  LayerShard shard;
  shard.micro_batch = job.micro_batch_size;
  shard.dense_tokens = job.seq_length / (u * r);
  shard.norm_tokens = t > 1 && job.sequence_parallel ? shard.dense_tokens / t : shard.dense_tokens;
  shard.tensor_parallel = t;
  shard.attn_heads = model.num_attention_heads / (t * u);
  const int64_t kv_per_tp = model.num_key_value_heads / t;
  // Ulysses with fewer KV heads than ranks: ALST replicates them, so each GPU holds one.
  shard.attn_kv_heads = kv_per_tp % u == 0 ? kv_per_tp / u : 1;
  shard.attn_q_tokens = job.seq_length / r;
  shard.attn_kv_tokens = job.seq_length;
  // Flash kernels skip fully masked blocks; the standard kernel (Megatron's baddbmm + fused
  // scaled_upper_triang_masked_softmax) computes and stores the whole s x s score matrix and masks
  // it, so its FLOPs and saved scores are those of the full matrix (Korthikanti's 5as²b).
  shard.attn_mask_fraction =
      job.causal && job.attention_kernel == AttentionKernel::kFlash ? 0.5 : 1.0;
  shard.precision = job.precision;
  shard.recompute = job.recompute;
  shard.attention_kernel = job.attention_kernel;
  if (job.precision == Precision::kFp8) {
    shard.saved_gemm_input_bytes = find_framework(job.framework).fp8_saved_gemm_input_bytes;
  }
  return shard;
}

namespace {

LoweredStep lower_structure(const ModelSpec& model, const JobConfig& job) {
  LoweredStep out;
  out.job = job;
  Context c{model, out.job, find_framework(job.framework)};
  c.e = activation_bytes(job.precision);
  c.b = static_cast<double>(job.micro_batch_size);
  c.s = static_cast<double>(job.seq_length);
  c.h = static_cast<double>(model.hidden_size);
  c.t = job.tensor_parallel;
  c.u = job.ulysses_degree;
  c.r = job.ring_degree;
  c.d = job.data_parallel;
  c.sp = c.t > 1 && job.sequence_parallel;
  c.zigzag = job.ring_variant != "basic";
  c.stripe = job.ring_variant == "stripe";
  c.ring_allgather = job.ring_comm == "allgather";
  c.cp_per_step = c.r > 1 && c.fw.cp_attention == CpAttention::kPerStepSdpa;
  c.grad_group_size = c.u * c.r * c.d;
  const bool fp32 = job.precision == Precision::kFp32 || job.precision == Precision::kTf32;
  c.param_bytes = fp32 ? 4 : 2;
  c.grad_bytes = fp32 ? 4
                 : job.grad_reduce_dtype == "bf16" ? 2
                 : job.grad_reduce_dtype == "fp32" ? 4
                                                   : c.fw.grad_bytes;
  c.grad_comm_bytes = c.fw.grad_comm_in_param_dtype ? c.param_bytes : c.grad_bytes;
  if (c.u > 1 && c.fw.sequence_parallel_grad_comm_bytes > 0) {
    c.grad_comm_bytes = c.fw.sequence_parallel_grad_comm_bytes;
  }

  c.shard = make_layer_shard(model, job);
  LayerShard task_shard = c.shard;
  if (job.recompute == Recompute::kFull) task_shard.recompute = Recompute::kNone;
  c.ops = layer_ops(model, task_shard);
  c.head = head_ops(model, c.shard);
  c.moe = model.is_moe();
  if (c.ops.size() != static_cast<size_t>(c.moe ? kNumMoeLayerOps : kNumLayerOps) || c.head.size() != kNumHeadOps) {
    throw Error("layer_ops/head_ops returned an unexpected op list");
  }
  if (job.seq_dist) {
    // Variable-length batch: per-document masks, paced by the busiest rank (varlen.cc).
    c.attn_scale = varlen_attention_scale(job);
  } else if (job.attention_kernel == AttentionKernel::kFlash) {
    // Sliding-window layers (model.h): the flash kernel skips the tiles left of each window. One
    // scale on every layer's attention keeps the step's sum (rules.cc allows only plans whose
    // attention is one kernel over the local sequence, so no layer's overlap depends on it).
    c.attn_scale = sliding_window_attention_scale(model, job.seq_length);
  }
  c.ops[kAttention].fwd_flops *= c.attn_scale;
  c.ops[kAttention].bwd_flops *= c.attn_scale;
  // The loss kernels of the framework's cross entropy (framework.h: measured traffic per logit).
  {
    // This GPU's tokens and vocabulary rows (TP splits the LM head over the padded vocabulary).
    const int64_t tokens = job.micro_batch_size * c.shard.dense_tokens;
    const double vocab_local = static_cast<double>(model.padded_vocab(job.tensor_parallel)) /
                               static_cast<double>(job.tensor_parallel);
    const double logits = static_cast<double>(tokens) * vocab_local;
    // --loss fused runs Liger's kernel whatever the framework's own loss is.
    const LossChoice choice = parse_loss(job.loss, "--loss");
    const LossImpl own = job.cross_entropy == "fused"     ? LossImpl::kFused
                         : job.cross_entropy == "flash"   ? LossImpl::kFlashAttn
                         : job.cross_entropy == "native"  ? LossImpl::kMegatronNative
                         : job.cross_entropy == "unfused" ? LossImpl::kFp32Copy
                         : job.tensor_parallel > 1        ? c.fw.loss_under_tp
                                                          : c.fw.loss;
    const LossBytes loss = loss_bytes_per_logit(choice.kind == LossKind::kFused ? LossImpl::kFused : own);
    c.head[kCrossEntropy].fwd_bytes = logits * loss.fwd;
    c.head[kCrossEntropy].bwd_bytes = logits * loss.bwd;
    // What the framework's loss keeps (head_ops counts Megatron's 4-byte softmax) and holds at its
    // worst moment, over all logits or, chunked, one chunk's (each chunk runs the framework's loss);
    // Liger's fused linear cross entropy works in place on its bf16 chunk (apply_loss).
    const LossMemory loss_memory = loss_memory_per_logit(own, c.e);
    c.head[kCrossEntropy].saved_bytes += (loss_memory.saved - 4.0) * logits;
    if (choice.kind != LossKind::kFused) {
      const double chunk_tokens = static_cast<double>(
          loss_chunk_tokens(choice, tokens, static_cast<int64_t>(vocab_local), model.hidden_size));
      c.loss_transient = loss_memory.transient * chunk_tokens * vocab_local;
    }
    // Chunked / fused losses hold one chunk of logits (long_context.h); GEMM FLOPs unchanged.
    const ChunkedLossHolds chunked{loss_memory.saved, c.fw.chunked_loss_grad_bytes, c.fw.chunked_loss_keeps_logits};
    apply_loss(c.head, choice, static_cast<double>(tokens), vocab_local, static_cast<double>(model.hidden_size),
               c.e, c.param_bytes, chunked);
  }
  // Tiled MLP (long_context.h): the backward re-runs each tile's MLP forward.
  const int64_t mlp_tiles = tiled_mlp_shards(job.tiled_mlp, c.shard.dense_tokens, model.hidden_size);
  if (mlp_tiles > 0) add_tiled_mlp_recompute(c.ops);
  if (job.precision == Precision::kFp8) {
    // GEMM inputs quantized per micro-batch: forward the activations entering qkv, out_proj,
    // mlp_up and mlp_down; backward the gradients leaving them. With delayed scaling TE's
    // LayerNormLinear / LayerNormMLP write qkv's and mlp_up's FP8 input from the norm kernel itself.
    const double e = c.e;
    const bool delayed = job.fp8_recipe != "current";
    const double per_element = (delayed ? e : 2 * e) + 2;  // read(s) + row-wise + column-wise FP8
    const double t = static_cast<double>(c.t);
    const double tokens = static_cast<double>(job.micro_batch_size) * static_cast<double>(c.shard.dense_tokens);
    const double h = static_cast<double>(model.hidden_size);
    const double q = static_cast<double>(model.q_width()), kv = static_cast<double>(model.kv_width());
    const double f = static_cast<double>(model.ffn_hidden_size), up = model.gated_mlp ? 2.0 : 1.0;
    const double fused_inputs = delayed ? 0 : 2 * h;          // qkv and mlp_up inputs
    c.fp8_cast_fwd_bytes = tokens * (fused_inputs + q / t + f / t) * per_element;
    c.fp8_cast_fwd_kernels = delayed ? 2 : 4;
    c.fp8_cast_bwd_bytes = tokens * ((q + 2 * kv) / t + h + up * f / t + h) * per_element;
    c.fp8_cast_bwd_kernels = 4;
  }

  const double dense = static_cast<double>(c.shard.dense_tokens);
  const double dh = static_cast<double>(model.head_dim);
  const double heads = static_cast<double>(c.shard.attn_heads);
  const double kv_heads = static_cast<double>(c.shard.attn_kv_heads);
  const double uu = static_cast<double>(c.u);
  c.tp_bytes = c.e * c.b * dense * c.h;
  c.tp_gather_bytes = job.precision == Precision::kFp8 && c.fw.fp8_quantized_all_gather
                          ? c.tp_bytes / c.e
                          : c.tp_bytes;
  // Ulysses: each GPU's pre-all-to-all buffer holds s/P tokens of the heads of its TP rank
  // (K,V replicated up to u heads when u > k/t); (u-1)/u of it leaves the GPU.
  c.a2a_q = c.e * c.b * dense * heads * uu * dh * ratio(c.u);
  c.a2a_kv = c.e * c.b * dense * kv_heads * uu * dh * ratio(c.u);
  const double block_tokens = static_cast<double>(c.shard.attn_q_tokens);  // c = s/r
  c.kv_block = 2.0 * c.e * c.b * block_tokens * kv_heads * dh;
  c.kv_gather = ratio(c.r) * 2.0 * c.e * c.b * c.s * kv_heads * dh;
  if (c.cp_per_step) {
    // torchtitan's Attention calls repeat_kv before SDPA (models/llama/model.py): K and V reach
    // context_parallel with the query heads, and that is what it gathers and passes back.
    c.cp_q_elems = c.b * block_tokens * heads * dh;
    c.cp_k_elems = c.cp_q_elems;
    c.cp_lse_elems = c.b * block_tokens * heads;
    c.kv_gather = ratio(c.r) * 2.0 * c.e * c.b * c.s * heads * dh;
    c.kv_block = 2.0 * c.e * c.cp_k_elems;
  }
  c.layer_params = static_cast<double>(model.params_per_layer()) / static_cast<double>(c.t);
  if (c.moe) {
    // Every expert on this GPU, split t ways; the router's [E, h] weight whole on every TP rank.
    const double router = static_cast<double>(model.moe.num_experts * model.hidden_size);
    c.layer_params = (static_cast<double>(model.layer_params(0)) - router) / static_cast<double>(c.t) + router;
    const double routed_tokens = c.b * static_cast<double>(c.shard.dense_tokens) * static_cast<double>(model.moe.num_experts);
    c.moe_map_bytes = routed_tokens;
    c.moe_probs_bytes = c.e * routed_tokens;
  }
  const double embedding_params =
      static_cast<double>(model.embedding_params()) / static_cast<double>(c.t);

  TaskGraph& graph = out.graph;
  graph.strategy = job.strategy;
  graph.num_gpus = job.num_gpus;
  graph.micro_batches = job.micro_batches();
  graph.tokens_per_step = job.global_batch_size * job.seq_length;
  graph.precision = job.precision;
  // Nesting (USP Tip 7): TP innermost, then Ulysses (contiguous, intra-node first), ring, DP, PP.
  c.g_tp = graph.add_group("tp", c.t, 1);
  c.g_uly = graph.add_group("ulysses", c.u, c.t);
  c.g_ring = graph.add_group("ring", c.r, c.t * c.u);
  c.g_dp = graph.add_group("dp", c.d, c.t * c.u * c.r);
  // Gradients and ZeRO shards span every rank holding the same TP shard (DeepSpeed: DP x SP),
  // within one pipeline stage.
  c.g_grad = graph.add_group("zero", c.grad_group_size, c.t);
  c.dp_comm = c.grad_group_size > 1;
  graph.segments.reserve(8);

  // What a layer saves for its backward and what the layer in the backward holds again
  // (recompute, tiled MLP): memory/activation_memory.h.
  // Under full recompute the task ops are already the layer without recompute (task_shard).
  // flash-attn 2's backward allocates its own fp32 dQ accumulator and GQA-expanded dK/dV per call:
  // one call per ring step on the local queries (zigzag's at most s/r) against a step's keys (the
  // same count; all-gather CP that calls the kernel once on the gathered K/V, as TE and yunchang
  // do: up to all s; PyTorch's, which calls SDPA per chunk: one chunk), K/V with the query heads
  // where torchtitan's repeat_kv already expanded them. Only layers with softmax attention call it (not LASP's
  // linear layers). cuDNN's and Triton's workspaces are not counted.
  const bool softmax_layers = model.linear_attention_layers < model.num_layers;
  const double attention_workspace =
      job.attention_kernel == AttentionKernel::kFlash && job.attention_impl == "flash2" && softmax_layers
          ? flash_attention_backward_workspace(
                c.b, static_cast<double>(c.shard.attn_q_tokens),
                static_cast<double>(job.ring_comm == "allgather" && c.r > 1 && !c.cp_per_step ? c.shard.attn_kv_tokens
                                                                             : c.shard.attn_q_tokens),
                static_cast<double>(c.shard.attn_heads),
                static_cast<double>(c.cp_per_step || job.framework == "fsdp" ? c.shard.attn_heads
                                                                               : c.shard.attn_kv_heads),
                static_cast<double>(model.head_dim), c.e)
          : 0.0;
  const LayerActivations layer =
      layer_activations(model, c.shard, layer_ops(model, c.shard), mlp_tiles,
                        job.recompute == Recompute::kFull ? &c.ops : nullptr, attention_workspace);
  // Full recompute of part of every chunk: the layers that keep their activations hold c.ops'.
  LayerShard plain_shard = c.shard;
  plain_shard.recompute = Recompute::kNone;
  const LayerActivations plain = job.recompute_layers > 0
                                     ? layer_activations(model, plain_shard, c.ops, mlp_tiles, nullptr,
                                                         attention_workspace)
                                     : layer;
  auto layer_of_chunk = [&](int64_t chunk_layers) {
    if (job.recompute_layers == 0) return layer;
    const int64_t rerun = recomputed_layers(job, chunk_layers);
    // Plain layers back-propagated before the first re-run: all of a chunk's (Megatron checkpoints
    // its first layers), or those after torchtitan's last k-th block (rules.cc: one stage there).
    const int64_t every = std::max<int64_t>(1, chunk_layers / std::max<int64_t>(1, rerun));
    const int64_t plain_first = c.fw.partial_recompute == PartialRecompute::kEveryKth
                                    ? chunk_layers % every
                                    : chunk_layers - rerun;
    return partly_recomputed(layer, plain, chunk_layers, rerun, plain_first);
  };
  MemoryEstimate& memory = out.memory;
  const int64_t p = job.pipeline_parallel;
  // Parameters: the input embedding on the first stage; the LM head (a copy of the embedding
  // when tied, as Megatron keeps one on the last stage) and the final norm on the last.
  const double vocab_rows = static_cast<double>(model.vocab_size) * c.h;
  const double input_embedding =
      vocab_rows + (model.learned_position_embeddings
                        ? static_cast<double>(model.max_position_embeddings) * c.h
                        : 0.0);
  const double final_norm = static_cast<double>(model.embedding_params()) - input_embedding -
                            (model.tied_embeddings ? 0.0 : vocab_rows);
  const double first_extra = input_embedding / static_cast<double>(c.t);
  const double last_extra = (vocab_rows + final_norm) / static_cast<double>(c.t);
  // When the gradients exist: the framework's lifetime at the job's ZeRO stage (stage_memory
  // applies it to the step's micro-batches). Pipelines, and 16-bit training that accumulates
  // gradients in fp32, keep a flat gradient buffer (DeepSpeed's BF16_Optimizer, engine.py:1994-2018,
  // bf16_optimizer.py:176): resident. (fp32 training keeps the framework's lifetime.)
  const GradLifetime grad_lifetime =
      p == 1 && c.grad_bytes <= c.param_bytes
          ? c.fw.grad_lifetime[static_cast<size_t>(std::clamp(job.zero_stage, 0, 3))]
          : GradLifetime::kResident;
  // Without pipeline stages: the head's backward makes the LM head's and final norm's gradients
  // before any layer's (a tied LM head's is the embedding's, accumulated again at the embedding);
  // the input embedding's other rows (learned positions; all of an untied one's) come after every
  // layer's.
  const double head_grad_params = last_extra;
  // Every layer, the embedding and the head on this GPU (after TP): a GPU's parameters without
  // pipeline stages, and the cap of the ZeRO-3 live set with them.
  const double model_params_local = c.layer_params * static_cast<double>(model.num_layers) + embedding_params;
  const LayerBufferInputs buffer_inputs = layer_buffer_inputs(c, model_params_local);
  // A tied embedding and LM head that ZeRO-3 gathers once and keeps gathered through the step
  // (FrameworkProfile::tied_head_stays_gathered): a buffer of every moment on the stages holding it.
  const double tied_head_gathered =
      model.tied_embeddings && c.fw.tied_head_stays_gathered && buffer_inputs.zero3_gathers
          ? last_extra * c.param_bytes
          : 0.0;
  const double tail_grad_params = first_extra - (model.tied_embeddings ? vocab_rows / static_cast<double>(c.t) : 0.0);

  if (p == 1) {
    if (job.offload_activations) c.offloaded_checkpoint = layer.saved;
    add_embedding_fwd(graph, c, embedding_params);
    add_layer_fwd(graph, c, model.num_layers);
    add_head(graph, c, true, true);
    add_backward(graph, c, model.num_layers, recomputed_layers(job, model.num_layers),
                 graph.micro_batches, embedding_params, true);
    const double params_local = model_params_local;
    add_offload_grad_accumulation(graph, c, params_local);
    add_optimizer(graph, c, params_local);

    // Memory per GPU at the peak (start of the backward: every layer's saved activations).
    StageMemoryInputs in;
    in.params_local = params_local;
    // The largest single weight (DeepSpeed sizes its offload staging buffers by it): the
    // (vocabulary-parallel) embedding or an MLP matrix.
    in.largest_param = std::max(static_cast<double>(model.padded_vocab(c.t)) * c.h,
                                c.h * static_cast<double>(mlp_width(model))) /
                       static_cast<double>(c.t);
    in.micro_batches = graph.micro_batches;
    in.layers_in_flight = static_cast<double>(model.num_layers);
    in.extra_saved = c.head[kEmbedding].saved_bytes;
    in.head_peak = head_peak_bytes(c);
    set_stage_buffers(in, buffer_inputs, 0.0, tied_head_gathered, true, last_extra);
    in.zero_group = c.grad_group_size;
    in.grad_bytes = c.grad_bytes;
    in.grad_lifetime = grad_lifetime;
    in.head_grad_params = head_grad_params;
    in.tail_grad_params = tail_grad_params;
    in.layer_params = c.layer_params;
    memory = stage_memory(in, layer_of_chunk(model.num_layers), job);
    return out;
  }

  // --- Pipeline parallelism: p stages, v chunks each; chunk g = local p + stage holds
  // layout[g] layers (L/(p v) each unless the framework places them unevenly). ---------------
  const int64_t v = job.virtual_pipeline_stages;
  const std::vector<int64_t> layout = pipeline_chunk_layers(model, job);
  const int64_t stage_layers_0 = stage_layers(layout, p, 0);
  // Layers of a stage that re-run their forward: the block method's first N of every chunk.
  auto stage_rerun = [&](int64_t stage) {
    int64_t sum = 0;
    for (size_t g = static_cast<size_t>(stage); g < layout.size(); g += static_cast<size_t>(p)) {
      sum += recomputed_layers(job, layout[g]);
    }
    return sum;
  };
  const int64_t stage_rerun_0 = stage_rerun(0);
  const int64_t m = graph.micro_batches;
  c.g_pp = graph.add_group("pp", p, c.t * c.u * c.r * c.d);
  PipelinePlan& plan = out.pipeline;
  plan.stages = p;
  plan.virtual_stages = v;
  plan.micro_batches = m;
  plan.layers_per_chunk = layout;
  plan.chunk_layers = *std::max_element(layout.begin(), layout.end());
  plan.p2p_bytes = pipeline_p2p_bytes(c.e, job.micro_batch_size, job.seq_length,
                                      model.hidden_size, c.t, c.u, c.r, c.sp);
  const double stage_params = c.layer_params * static_cast<double>(stage_layers_0);

  // The main graph: the first stage's own program over the whole step (no bubble, no head).
  add_embedding_fwd(graph, c, first_extra);
  add_layer_fwd(graph, c, stage_layers_0);
  add_backward(graph, c, stage_layers_0, stage_rerun_0, m, first_extra, true);
  const double tied_grad_params = model.tied_embeddings ? vocab_rows / static_cast<double>(c.t) : 0.0;
  if (tied_grad_params > 0) add_tied_embedding_grad_sync(graph, c, tied_grad_params, When::kLastMicroBatch);
  add_optimizer(graph, c, stage_params + first_extra);

  // Pieces, each timed by the engine for one micro-batch.
  plan.chunk_fwd = piece_of(graph);
  add_layer_fwd(plan.chunk_fwd, c, plan.chunk_layers);
  plan.chunk_bwd = piece_of(graph);
  add_layer_bwd(plan.chunk_bwd, c, plan.chunk_layers, recomputed_layers(job, plan.chunk_layers),
                When::kEveryMicroBatch, false);
  // An uneven layout's chunks of other (non-zero) layer counts, smallest first.
  std::vector<int64_t> counts(layout.begin(), layout.end());
  std::sort(counts.begin(), counts.end());
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  for (int64_t n : counts) {
    if (n == 0 || n == plan.chunk_layers) continue;
    PipelinePlan::OtherChunk& other = plan.other_chunks.emplace_back();
    other.layers = n;
    other.fwd = piece_of(graph);
    add_layer_fwd(other.fwd, c, n);
    other.bwd = piece_of(graph);
    add_layer_bwd(other.bwd, c, n, recomputed_layers(job, n), When::kEveryMicroBatch, false);
  }
  plan.embedding_fwd = piece_of(graph);
  add_embedding_fwd(plan.embedding_fwd, c, first_extra);
  plan.embedding_bwd = piece_of(graph);
  add_embedding_bwd(plan.embedding_bwd, c, first_extra, When::kEveryMicroBatch, false);
  plan.head_fwd = piece_of(graph);
  add_head(plan.head_fwd, c, true, false);
  plan.head_bwd = piece_of(graph);
  add_head(plan.head_bwd, c, false, true);
  plan.p2p = piece_of(graph);
  {
    // Steady state: every stage sends its boundary activation on while receiving one (and the
    // gradients go the other way); Megatron's batched isend/irecv pairs.
    Segment& seg = plan.p2p.segments.emplace_back();
    seg.name = "pp_send_recv";
    SegmentBuilder sb(seg, Phase::kForward);
    sb.comm("pp_send_recv", Stream::kDataComm, Category::kPipelineP2P, CommKind::kSendRecv,
            c.g_pp, plan.p2p_bytes, {});
  }
  // After the flush the first stage still reduces its gradients (overlapped with its last
  // backward as in the unpipelined step), sums tied embedding gradients with the last stage and
  // runs the optimizer.
  plan.tail_with_dp = piece_of(graph);
  add_layer_bwd(plan.tail_with_dp, c, stage_layers_0, stage_rerun_0, When::kEveryMicroBatch, c.dp_comm);
  add_embedding_bwd(plan.tail_with_dp, c, first_extra, When::kEveryMicroBatch, c.dp_comm);
  if (tied_grad_params > 0) {
    add_tied_embedding_grad_sync(plan.tail_with_dp, c, tied_grad_params, When::kEveryMicroBatch);
  }
  add_optimizer(plan.tail_with_dp, c, stage_params + first_extra);
  plan.tail_without_dp = piece_of(graph);
  add_layer_bwd(plan.tail_without_dp, c, stage_layers_0, stage_rerun_0, When::kEveryMicroBatch, false);
  add_embedding_bwd(plan.tail_without_dp, c, first_extra, When::kEveryMicroBatch, false);

  // Memory of every stage, from the chunks the schedule keeps in flight (1F1B: the first stage
  // holds p micro-batches of L/p layers = L layers' worth, Korthikanti eq. 5; interleaved:
  // L (1 + (p - 1)/(p v))). The order of ops fixes these, not the timings: Megatron's warm-up
  // counts give them (equal to the simulated schedule's, tested). The first stage adds the
  // embedding, the last the head; with an uneven layout a middle stage may hold the most.
  plan.first_stage_in_flight = pipeline_in_flight_chunks(p, m, v, 0);
  plan.last_stage_in_flight = pipeline_in_flight_chunks(p, m, v, p - 1);
  const double first_micro_batches =
      std::ceil(static_cast<double>(plan.first_stage_in_flight) / static_cast<double>(v));
  const double head_peak = head_peak_bytes(c);
  // Receive buffers of one boundary activation and one boundary gradient.
  const double p2p_buffers = 2.0 * plan.p2p_bytes;
  auto memory_of_stage = [&](int64_t stage) {
    const double own = c.layer_params * static_cast<double>(stage_layers(layout, p, stage)) +
                       (stage == 0 ? first_extra : 0.0) + (stage == p - 1 ? last_extra : 0.0);
    StageMemoryInputs in;
    in.params_local = own;
    in.layers_in_flight = static_cast<double>(pipeline_in_flight_layers(p, m, v, stage, layout));
    in.extra_saved = stage == 0 ? first_micro_batches * c.head[kEmbedding].saved_bytes : 0.0;
    in.head_peak = stage == p - 1 ? head_peak : 0.0;
    const bool end_stage = stage == 0 || stage == p - 1;
    set_stage_buffers(in, buffer_inputs, p2p_buffers, end_stage ? tied_head_gathered : 0.0, stage == p - 1,
                      last_extra);
    in.zero_group = c.grad_group_size;
    // DeepSpeed's pipeline engine under BF16_Optimizer keeps its flat buffer of the accumulation
    // dtype beside the 16-bit param.grad; under the ZeRO optimizer, FP16_Optimizer (fp16) or none
    // (fp32), param.grad only.
    in.grad_bytes = c.grad_bytes + (runs_bf16_optimizer(c) ? c.param_bytes * static_cast<double>(c.fw.pipeline_grad_copies - 1) : 0.0);
    in.grad_lifetime = grad_lifetime;
    in.micro_batches = m;
    in.layer_params = c.layer_params;
    // Each end stage keeps its own copy of a tied embedding, with its own gradient.
    in.head_grad_params = stage == p - 1 ? last_extra : 0.0;
    in.tail_grad_params = stage == 0 ? first_extra : 0.0;
    // The stage's largest chunk stands for all of its chunks (equal but for uneven end stages).
    int64_t largest = 0;
    for (size_t g = static_cast<size_t>(stage); g < layout.size(); g += static_cast<size_t>(p)) {
      largest = std::max(largest, layout[g]);
    }
    return stage_memory(in, layer_of_chunk(largest), job);
  };
  const MemoryEstimate first = memory_of_stage(0);
  const MemoryEstimate last = memory_of_stage(p - 1);
  const bool last_larger = last.peak() > first.peak();
  memory = last_larger ? last : first;
  plan.memory_stage = last_larger ? p - 1 : 0;
  for (int64_t stage = 1; stage + 1 < p && plan.uneven(); ++stage) {
    const MemoryEstimate middle = memory_of_stage(stage);
    if (middle.peak() > memory.peak()) {
      memory = middle;
      plan.memory_stage = stage;
    }
  }
  return out;
}

}  // namespace

LoweredStep lower_hybrid(const ModelSpec& model, const JobConfig& job) {
  LoweredStep out = lower_structure(model, job);
  stamp_implementations(out, find_framework(out.job.framework));
  return out;
}

}  // namespace spsim::detail
