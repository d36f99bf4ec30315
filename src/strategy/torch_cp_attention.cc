#include "strategy/lowering_context.h"

namespace spsim::detail {

namespace {

// PyTorch's context parallelism as torchtitan runs it (torch.distributed.tensor.experimental.
// context_parallel; torch/distributed/tensor/experimental/_attention.py, pytorch/pytorch@0123248
// _templated_ring_attention, _SDPAMerger, _AllGatherRotater, _AllToAllRotater;
// docs/strategies.md): round-robin load balancing (each GPU holds chunks i and 2r-1-i, like
// zigzag), K,V rotated by the all-gather rotater (--cp-comm-type allgather, torchtitan's
// default) or the all-to-all one (p2p: torchtitan's "alltoall"). Every count below follows a
// line of that file; ranks run the same steps except which half of Q or K a step uses, and the
// last ring position takes the costlier branch in every step (i <= rank), so its path is the one
// timed.

// Elementwise bytes, fp32 = 4 per element; e the activation dtype.
constexpr double kF32 = 4;

// One step's SDPA call, forward or backward. Load-balanced causal: c²/2 a step. Without load
// balancing (basic; non-causal always) step i is a full block, and under a causal mask rank i
// computes it only if i <= rank (_CausalBehavior.SKIP otherwise).
int emit_torch_cp_sdpa(SegmentBuilder& sb, const Context& c, int64_t i, bool backward, int prev, int kv) {
  const OpCost& op = c.ops[kAttention];
  const double bwd_ratio = op.fwd_flops > 0 ? op.bwd_flops / op.fwd_flops : 2.5;
  const double block = c.attn_scale * (backward ? bwd_ratio : 1.0) *
                       attention_fwd_flops(c.shard.micro_batch, c.shard.attn_q_tokens, c.shard.attn_q_tokens,
                                           c.shard.attn_heads, c.model.head_dim, 1.0);
  const bool first = i == 0;
  const double flops = c.job.causal && (first || c.zigzag) ? 0.5 * block : block;
  const double bytes = (backward ? op.bwd_bytes : op.fwd_bytes) / static_cast<double>(c.r);
  const int attn = sb.compute("cp_sdpa_step", OpClass::kAttention, flops, bytes, {prev, kv});
  if (c.job.causal && !c.zigzag && !first) set_ring_skew(sb.at(attn), c, i);
  mark_attention(sb.at(attn), c, backward, first);
  return attn;
}

// The K,V exchange of step i < r-1 (both directions run it): torch.cat([key, value]) (one bf16
// copy, read + write; steps >= 1 still run it under the all-gather rotater, which ignores it),
// then exchange_buffers: the all-gather rotater's one async all-gather at step 0, the all-to-all
// rotater's permute_tensor (a send/recv of the block) every step. `kv` is what step i waited on;
// returns what step i+1 waits on (next_buffer), and sets `prev` to the last compute task.
int emit_torch_cp_kv_exchange(SegmentBuilder& sb, const Context& c, int64_t i, int& prev, int kv) {
  if (i > 0) {
    prev = sb.compute("cp_kv_cat", OpClass::kMemoryBound, 0, 2.0 * c.e * 2.0 * c.cp_k_elems, {prev, kv});
  }
  if (c.ring_allgather) {
    return i > 0 ? kv : sb.comm("cp_kv_all_gather", Stream::kRingComm, Category::kContextGather,
                                CommKind::kAllGather, c.g_ring, c.kv_gather, {prev});
  }
  return sb.comm("cp_kv_send_recv", Stream::kRingComm, Category::kRingP2P, CommKind::kSendRecv, c.g_ring,
                 2.0 * c.e * c.cp_k_elems, {prev, kv});
}

// Forward: r SDPA calls; step 0 is the causal local block, steps 1..r-1 non-causal calls on half
// of K (i <= rank) or half of Q (i > rank): each c²/2 of work, r·c²/2 = (s/r · s)/2 in all, the
// single kernel's causal area. Each output is merged into an fp32 running output.
}  // namespace

int emit_torch_cp_fwd(SegmentBuilder& sb, const Context& c, int d0, int d1, int d2) {
  const double nq = c.cp_q_elems, nk = c.cp_k_elems, nl = c.cp_lse_elems;
  // key.contiguous(), value.contiguous() (SDPA's K,V are transposed views: copies), then the
  // step-0 torch.cat([key.flatten(), value.flatten()]) for the rotater: 3 copies.
  int prev = sb.compute("cp_kv_copy", OpClass::kMemoryBound, 0, 2.0 * c.e * nk * 2.0 + 2.0 * c.e * 2.0 * nk,
                        {d0, d1, d2});
  sb.at(prev).kernels = 3;
  // _SDPAMerger.step: out.to(float32) (lse is fp32 already); from step 1 _merge_one's eager ops:
  // out - block_out, sigmoid(block_lse - lse) * (...), out - (...) on out-sized fp32 tensors (the
  // product reads the lse-sized sigmoid broadcast), and block_lse - lse, sigmoid, lse - block_lse,
  // logsigmoid, lse - (...) on lse-sized ones: 2 reads + 1 write a binary op, 1 + 1 a unary one.
  const double to_f32 = (c.e + kF32) * nq;
  const double merge_out = 3.0 * kF32 * nq + (2.0 * kF32 * nq + kF32 * nl) + 3.0 * kF32 * nq;
  const double merge_lse = 3.0 * 3.0 * kF32 * nl + 2.0 * 2.0 * kF32 * nl;
  int kv = -1;
  for (int64_t i = 0; i < c.r; ++i) {
    const bool first = i == 0;
    const int next_kv = i < c.r - 1 ? emit_torch_cp_kv_exchange(sb, c, i, prev, kv) : -1;
    const int attn = emit_torch_cp_sdpa(sb, c, i, false, prev, kv);
    prev = sb.compute("cp_sdpa_merge", OpClass::kMemoryBound, 0, to_f32 + (first ? 0.0 : merge_out + merge_lse),
                      {attn});
    sb.at(prev).kernels = first ? 1 : 9;
    kv = next_kv;
  }
  // _SDPAMerger.results: out.to(bf16).
  return sb.compute("cp_out_cast", OpClass::kMemoryBound, 0, (kF32 + c.e) * nq, {prev});
}

// Backward (_templated_ring_attention_backward): K,V rotated again as in the forward, r SDPA
// backward calls of the forward's shapes, fp32 dQ/dK/dV accumulation, and dK,dV in fp32 passed
// to the next rank after every step by an _AllToAllRotater (whatever the K,V rotater:
// ft_c.permute_tensor, a send/recv), waited after the next step's SDPA; the last one is waited
// after the loop.
int emit_torch_cp_bwd(SegmentBuilder& sb, const Context& c, int dep) {
  const double nq = c.cp_q_elems, nk = c.cp_k_elems;
  // zeros_like(query/key/value, fp32) (3 writes), key/value.contiguous() (2 copies), and the
  // step-0 cat of K,V for the rotater.
  int prev = sb.compute("cp_kv_copy", OpClass::kMemoryBound, 0,
                        kF32 * (nq + 2.0 * nk) + 2.0 * c.e * nk * 2.0 + 2.0 * c.e * 2.0 * nk, {dep});
  sb.at(prev).kernels = 6;
  const double dkv_bytes = kF32 * 2.0 * nk;  // torch.cat([grad_key, grad_value]) in fp32
  // fp32 += 16-bit gradient: read 4 + e, write 4 per element.
  const double add = 2.0 * kF32 + c.e;
  int kv = -1, send = -1;
  for (int64_t i = 0; i < c.r; ++i) {
    const bool first = i == 0;
    const int next_kv = i < c.r - 1 ? emit_torch_cp_kv_exchange(sb, c, i, prev, kv) : -1;
    const int attn = emit_torch_cp_sdpa(sb, c, i, true, prev, kv);
    // Step 0 (and every step without load balancing): grad_key/value/query += whole blocks.
    // Steps i <= rank with load balancing: dK, dV halves added in place, then _partial_update's
    // torch.cat rebuilds each (read + write fp32); dQ added whole. Every step: cat of dK,dV for the
    // send (read + write fp32).
    double bytes = add * nq + 2.0 * dkv_bytes;
    int kernels = 2;
    if (first || !c.job.causal || !c.zigzag) {
      bytes += add * 2.0 * nk;
      kernels += 2;
    } else {
      bytes += add * nk + 2.0 * (2.0 * kF32 * nk);
      kernels += 4;
    }
    prev = sb.compute("cp_grad_accumulate", OpClass::kMemoryBound, 0, bytes, {attn, send});
    sb.at(prev).kernels = static_cast<uint8_t>(kernels);
    send = sb.comm("cp_dkv_send_recv", Stream::kRingComm, Category::kRingP2P, CommKind::kSendRecv,
                   c.g_ring, dkv_bytes, {prev, send});
    kv = next_kv;
  }
  // grad_query.to(bf16) and the received dK,dV .to(bf16).
  const int cast = sb.compute("cp_grad_cast", OpClass::kMemoryBound, 0, (kF32 + c.e) * (nq + 2.0 * nk),
                              {prev, send});
  sb.at(cast).kernels = 2;
  return cast;
}

}  // namespace spsim::detail
