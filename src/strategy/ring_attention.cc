// The attention core of one layer on this GPU's shard: a single kernel, or a ring of r steps
// (basic, zigzag or stripe) with K,V send/recvs, or an all-gather of K,V; PyTorch's per-step
// context parallelism is in torch_cp_attention.cc.
#include <algorithm>

#include "strategy/lowering_context.h"

namespace spsim::detail {

// The kernel model times attention calls by direction and mask: a causal call (the whole local
// sequence, or a ring's diagonal block) skips masked tiles and has its own timing; off-diagonal
// ring blocks are full (non-causal) calls; a striped ring's every block is triangular.
void mark_attention(Task& task, const Context& c, bool backward, bool diagonal) {
  task.backward_kernel = backward;
  task.causal_kernel = c.job.causal && c.job.attention_kernel == AttentionKernel::kFlash &&
                       (diagonal || c.stripe);
}

// Basic (unbalanced) causal ring, step k >= 1: ring position i computes the full block k only if
// k <= i (its keys precede its queries), so the step's pace is the last rank's full block.
void set_ring_skew(Task& task, const Context& c, int64_t k) {
  task.group = c.g_ring;
  task.work_scale.resize(static_cast<size_t>(c.r));
  for (int64_t i = 0; i < c.r; ++i) task.work_scale[static_cast<size_t>(i)] = k <= i ? 1.0 : 0.0;
}

// Striped causal ring (Brandon et al. 2023, arXiv 2311.09431): tokens dealt round-robin, so ring
// position i holds tokens i, i+r, i+2r, ... Against the block of ring position j, query i+r·m sees
// key j+r·n iff n <= m (j <= i) or n < m (j > i): c(c+1)/2 or c(c-1)/2 pairs, i.e. zigzag's c²/2
// scaled by (c+1)/c or (c-1)/c. At step k rank i holds the block of j = i-k (mod r): j <= i iff
// k <= i.
void set_stripe_skew(Task& task, const Context& c, int64_t k) {
  const double tokens = static_cast<double>(c.shard.attn_q_tokens);
  task.group = c.g_ring;
  task.work_scale.resize(static_cast<size_t>(c.r));
  for (int64_t i = 0; i < c.r; ++i) {
    task.work_scale[static_cast<size_t>(i)] = k <= i ? (tokens + 1) / tokens : (tokens - 1) / tokens;
  }
}

// TransformerEngine's p2p ring merges the r partial results with elementwise passes that the
// attention kernels do not include (AttnFuncWithCPAndKVP2P, transformer_engine/pytorch/attention/
// dot_product_attention/context_parallel.py @d0067d0). Sizes on this GPU, in the activation dtype:
// Q (= out = dQ) of the local query shard, K+V (kv_block), and the fp32 softmax statistics.
// Counted for the ring position every step of which is a full pass (the last one, i <= rank;
// the others take half passes on some steps and wait for it).
struct RingMergeBytes {
  double q = 0, kv = 0, lse = 0;
};
RingMergeBytes ring_merge_bytes(const Context& c) {
  const double b = static_cast<double>(c.shard.micro_batch);
  const double tokens = static_cast<double>(c.shard.attn_q_tokens);
  const double heads = static_cast<double>(c.shard.attn_heads);
  RingMergeBytes m;
  m.q = c.e * b * tokens * heads * static_cast<double>(c.model.head_dim);
  m.kv = c.kv_block;
  m.lse = 4.0 * b * tokens * heads;
  return m;
}

// Attention forward on this GPU's shard: one task, or r ring steps. Returns the last task.
int emit_attention_fwd(SegmentBuilder& sb, const Context& c, int d0, int d1, int d2) {
  const OpCost& op = c.ops[kAttention];
  if (c.r == 1) {
    const int attn = sb.compute(op.name, OpClass::kAttention, op.fwd_flops, op.fwd_bytes, {d0, d1, d2});
    mark_attention(sb.at(attn), c, false, true);
    return attn;
  }
  if (c.cp_per_step) return emit_torch_cp_fwd(sb, c, d0, d1, d2);
  if (c.ring_allgather) {
    // Llama-3 / TE all_gather: K,V gathered up front, not overlapped (TE docstring).
    const int gather = sb.comm("cp_kv_all_gather", Stream::kRingComm, Category::kContextGather,
                               CommKind::kAllGather, c.g_ring, c.kv_gather, {d0, d1, d2});
    const int attn = sb.compute("attention_core", OpClass::kAttention, op.fwd_flops, op.fwd_bytes,
                                {gather});
    mark_attention(sb.at(attn), c, false, true);
    return attn;
  }
  // Ring p2p: step k computes block k while the send/recv fetches block k+1.
  const double steps = static_cast<double>(c.r);
  const double block = c.attn_scale * attention_fwd_flops(c.shard.micro_batch, c.shard.attn_q_tokens,
                                                          c.shard.attn_q_tokens, c.shard.attn_heads,
                                                          c.model.head_dim, 1.0);
  int prev_attn = -1, prev_comm = -1;
  for (int64_t k = 0; k < c.r; ++k) {
    const bool first = k == 0;
    int comm = -1;
    if (k < c.r - 1) {
      comm = first ? sb.comm("ring_send_recv", Stream::kRingComm, Category::kRingP2P,
                             CommKind::kSendRecv, c.g_ring, c.kv_block, {d0, d1, d2})
                   : sb.comm("ring_send_recv", Stream::kRingComm, Category::kRingP2P,
                             CommKind::kSendRecv, c.g_ring, c.kv_block, {prev_attn, prev_comm});
    }
    double flops = block;
    bool skewed = false;
    if (c.job.causal) {
      if (c.zigzag || first) {
        flops = 0.5 * block;  // zigzag: every step has area c²/2; basic: the diagonal block
      } else {
        skewed = true;  // basic causal, k >= 1: rank i computes block k only if k <= i
      }
    }
    const int attn = first ? sb.compute("ring_attn_step", OpClass::kAttention, flops,
                                        op.fwd_bytes / steps, {d0, d1, d2})
                           : sb.compute("ring_attn_step", OpClass::kAttention, flops,
                                        op.fwd_bytes / steps, {prev_attn, prev_comm});
    if (skewed) set_ring_skew(sb.at(attn), c, k);
    if (c.stripe && c.job.causal) set_stripe_skew(sb.at(attn), c, k);
    mark_attention(sb.at(attn), c, false, first);
    prev_attn = attn;
    prev_comm = comm;
  }
  // The merges: torch.cat of K and V into the first send buffer (read + write K,V); per step
  // i >= 1 the softmax-statistics correction (flash_attn_fwd_softmax_lse_correction: reads both,
  // writes one), then after the loop the output corrections: step 0's init (reads its partial
  // output, writes out) and, per step i >= 1, out.add_(out_i * exp(lse_i - lse)) (reads out and
  // out_i, writes out), each also reading two statistics. One kernel each (TE's jit_fuser).
  const RingMergeBytes m = ring_merge_bytes(c);
  const double more = steps - 1.0;
  const double merge_bytes = 2.0 * m.kv + (2.0 * m.q + 2.0 * m.lse) + more * (3.0 * m.lse + 3.0 * m.q + 2.0 * m.lse);
  const int merge = sb.compute("ring_out_correction", OpClass::kMemoryBound, 0, merge_bytes, {prev_attn});
  sb.at(merge).kernels = static_cast<uint8_t>(std::min<int64_t>(255, 2 + 2 * (c.r - 1)));
  return merge;
}

// Attention backward; returns the last task the next compute must wait for.
int emit_attention_bwd(SegmentBuilder& sb, const Context& c, int dep) {
  const OpCost& op = c.ops[kAttention];
  if (c.r == 1) {
    const int attn = sb.compute("attention_core", OpClass::kAttention, op.bwd_flops, op.bwd_bytes, {dep});
    mark_attention(sb.at(attn), c, true, true);
    return attn;
  }
  if (c.cp_per_step) return emit_torch_cp_bwd(sb, c, dep);
  if (c.ring_allgather) {
    // Each GPU kept only its KV chunk: gather again, then reduce-scatter dK,dV.
    const int gather = sb.comm("cp_kv_all_gather", Stream::kRingComm, Category::kContextGather,
                               CommKind::kAllGather, c.g_ring, c.kv_gather, {dep});
    const int attn = sb.compute("attention_core", OpClass::kAttention, op.bwd_flops, op.bwd_bytes,
                                {gather});
    mark_attention(sb.at(attn), c, true, true);
    return sb.comm("cp_dkv_reduce_scatter", Stream::kRingComm, Category::kContextGather,
                   CommKind::kReduceScatter, c.g_ring, c.kv_gather, {attn});
  }
  // TransformerEngine p2p backward: step 0 sends KV, middle steps KV + dKV, then a final dKV
  // send after the last step: 2(r-1) KV blocks in all.
  const double steps = static_cast<double>(c.r);
  const double bwd_ratio = op.fwd_flops > 0 ? op.bwd_flops / op.fwd_flops : 2.5;
  const double block = c.attn_scale * bwd_ratio * attention_fwd_flops(c.shard.micro_batch, c.shard.attn_q_tokens,
                                                       c.shard.attn_q_tokens, c.shard.attn_heads,
                                                       c.model.head_dim, 1.0);
  const RingMergeBytes merge = ring_merge_bytes(c);
  int prev_attn = dep, prev_comm = -1;
  for (int64_t k = 0; k < c.r; ++k) {
    const bool first = k == 0;
    int comm = -1;
    if (k < c.r - 1) {
      comm = sb.comm("ring_send_recv", Stream::kRingComm, Category::kRingP2P, CommKind::kSendRecv,
                     c.g_ring, first ? c.kv_block : 2.0 * c.kv_block, {prev_attn, prev_comm});
    }
    double flops = block;
    bool skewed = false;
    if (c.job.causal) {
      if (c.zigzag || first) {
        flops = 0.5 * block;
      } else {
        skewed = true;
      }
    }
    const int attn = sb.compute("ring_attn_step", OpClass::kAttention, flops, op.bwd_bytes / steps,
                                {prev_attn, prev_comm});
    if (skewed) set_ring_skew(sb.at(attn), c, k);
    if (c.stripe && c.job.causal) set_stripe_skew(sb.at(attn), c, k);
    mark_attention(sb.at(attn), c, true, first);
    // Each step's partial gradients are accumulated before the next send carries dK,dV on:
    // dq.copy_ at step 0, dq.add_ after (read both, write one); dk, dv the same on the received
    // buffer. Step 0 also copies K,V into the send buffer. Three kernels (dq, dk, dv).
    const double accumulate = first ? 2.0 * merge.kv + 2.0 * merge.q + 2.0 * merge.kv : 3.0 * merge.q + 3.0 * merge.kv;
    prev_attn = sb.compute("ring_grad_accumulate", OpClass::kMemoryBound, 0, accumulate, {attn});
    sb.at(prev_attn).kernels = first ? 4 : 3;
    prev_comm = comm;
  }
  // The last step's dK,dV go to their owner after it finishes: exposed.
  return sb.comm("ring_send_recv", Stream::kRingComm, Category::kRingP2P, CommKind::kSendRecv,
                 c.g_ring, c.kv_block, {prev_attn, prev_comm});
}

}  // namespace spsim::detail
