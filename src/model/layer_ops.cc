// Per-op FLOP, HBM bytes and saved-activation bytes of one pre-norm decoder layer on one GPU.
//
// Saved bytes follow Korthikanti et al. 2022 (arXiv 2205.05198) §4.1: each op keeps the inputs its
// backward needs; 1-byte dropout masks; the softmax/dropout score terms only with the standard
// (non-flash) kernel. For GPT (f = 4h, MHA, standard kernel, dropout on, t = 1) the layer sums to
// s·b·h·(34 + 5·a·s/h) exactly (tests/model/layer_ops_test.cc checks every row of their table).
//
// FLOP: GEMM forward 2·m·n·k, backward 2x forward (dgrad + wgrad); attention by the FlashAttention
// benchmark convention (4·b·q·kv·heads·d_h·mask forward, 2.5x backward for flash because it
// recomputes the scores, 2x for the standard kernel which keeps them). Memory-bound ops carry a few
// FLOP per element; their time is set by their HBM bytes.
#include <vector>

#include "spsim/model.h"

namespace spsim {

namespace {

// Small FLOP counts per element of the memory-bound ops (their roofline time is byte-bound).
constexpr double kNormFlopsPerElement = 5;      // mean/variance (or RMS), scale
constexpr double kRopeFlopsPerElement = 3;      // two multiplies and an add
constexpr double kResidualFlopsPerElement = 2;  // dropout scale + residual add
constexpr double kSwigluFlopsPerElement = 6;    // silu(gate) * up
constexpr double kGeluFlopsPerElement = 8;      // tanh approximation
constexpr double kSoftmaxFlopsPerElement = 5;   // cross entropy: max, exp, sum, log, subtract
constexpr double kSoftcapFlopsPerElement = 3;   // Gemma-2 soft-capping: cap * tanh(x / cap)

OpCost gemm(const char* name, double tokens, double in_width, double out_width, double weight_elems,
            bool bias, double e) {
  OpCost op;
  op.name = name;
  op.op_class = OpClass::kGemm;
  op.fwd_flops = 2.0 * tokens * in_width * out_width + (bias ? tokens * out_width : 0.0);
  op.bwd_flops = 2.0 * op.fwd_flops;
  const double io = tokens * in_width + weight_elems + tokens * out_width;
  op.fwd_bytes = io * e;
  op.bwd_bytes = 2.0 * io * e;  // dgrad: dY, W -> dX; wgrad: X, dY -> dW
  return op;
}

OpCost memory_op(const char* name, double elements, double flops_per_element, double fwd_rw,
                 double bwd_rw, double e) {
  OpCost op;
  op.name = name;
  op.op_class = OpClass::kMemoryBound;
  op.fwd_flops = flops_per_element * elements;
  op.bwd_flops = 2.0 * op.fwd_flops;
  op.fwd_bytes = fwd_rw * elements * e;
  op.bwd_bytes = bwd_rw * elements * e;
  return op;
}

/// Folds a norm over `elements` (keeping its input) into `op`: Gemma's extra norms sit next to
/// the residual adds, and the layer keeps its op list (the lowering indexes it).
void add_norm(OpCost& op, double elements, double weights, double e) {
  const OpCost norm = memory_op("norm", elements, kNormFlopsPerElement, 2, 3, e);
  op.fwd_flops += norm.fwd_flops;
  op.bwd_flops += norm.bwd_flops;
  op.fwd_bytes += norm.fwd_bytes + weights * e;
  op.bwd_bytes += norm.bwd_bytes;
  op.saved_bytes += e * elements;
}

/// torchtitan's op-level selective activation checkpointing (pytorch/torchtitan@9dec370
/// torchtitan/parallelisms/parallelize_llama.py:214-276; later torchtitan changed the save set:
/// addmm and linear counted, abs dropped, distributed/activation_checkpoint.py @b5bcd76): each
/// TransformerBlock is checkpointed, and its policy MUST_SAVEs the outputs of the SDPA kernel
/// and of aten.mm calls 1, 3, 5, 7 in forward order (it counts mm calls per block and saves
/// "all compute ops, except every second mm"); everything else is PREFER_RECOMPUTE, re-run in
/// the backward. The block's mm calls are wq, wk, wv (Attention.forward), wo, then w1, w3, w2
/// (FeedForward: w2(silu(w1(x)) * w3(x))): wq, wv, w1 and w2 are kept, wk, wo and w3 re-run
/// with every norm, RoPE, residual add and the SwiGLU product. SDPA is not re-run: its backward
/// reads the kept output and log-sum-exp and the re-built Q, K (RoPE again) and kept V.
/// What stays per layer: the block input (the checkpoint's), the four mm outputs, the SDPA
/// output and its fp32 log-sum-exp. The ops here are one per fused matrix (qkv_proj holds wq,
/// wk, wv; mlp_up holds w1 and w3), so a re-run matrix adds its share of the op's forward to
/// the op's backward. The lowering refuses the combinations this does not describe (TP, CP,
/// FP8 GEMMs, the standard attention kernel: framework/profiles.cc).
void apply_op_level_checkpointing(std::vector<OpCost>& ops, const ModelSpec& model, const LayerShard& shard,
                                  double e, double td, double tn, double t) {
  const double h = static_cast<double>(model.hidden_size);
  const double qw = static_cast<double>(model.q_width());
  const double kvw = static_cast<double>(model.kv_width());
  const double f = static_cast<double>(model.ffn_hidden_size);
  struct Matmul {
    size_t op;        // index in ops (layer order, as lowering_context.h LayerOp)
    double share;     // this matrix's share of the op's forward FLOP and bytes
    double out_elems; // its output
  };
  constexpr size_t kInput = 0, kQkv = 1, kAttn = 3, kOut = 4, kUp = 7, kDown = 9;
  const double qkv = qw + 2 * kvw;
  std::vector<Matmul> order = {{kQkv, qw / qkv, td * qw / t}, {kQkv, kvw / qkv, td * kvw / t},
                               {kQkv, kvw / qkv, td * kvw / t}, {kOut, 1.0, tn * h}};
  if (model.gated_mlp) {
    order.push_back({kUp, 0.5, td * f / t});  // w1 (gate)
    order.push_back({kUp, 0.5, td * f / t});  // w3 (up)
  } else {
    order.push_back({kUp, 1.0, td * f / t});
  }
  order.push_back({kDown, 1.0, tn * h});
  auto rerun = [&](OpCost& op, double share) {
    op.bwd_flops += share * op.fwd_flops;
    op.bwd_bytes += share * op.fwd_bytes;
  };
  std::vector<double> share_rerun(ops.size(), 0.0);
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].op_class == OpClass::kMemoryBound) share_rerun[i] = 1.0;  // norms, RoPE, adds, SwiGLU
  }
  for (auto& op : ops) op.saved_bytes = 0;
  ops[kInput].saved_bytes = e * tn * h;  // the checkpointed block's input
  for (size_t n = 0; n < order.size(); ++n) {
    const bool kept = n % 2 == 0;  // mm calls 1, 3, 5, 7
    if (kept) {
      ops[order[n].op].saved_bytes += e * order[n].out_elems;
    } else {
      share_rerun[order[n].op] += order[n].share;
    }
  }
  const double q_tok = static_cast<double>(shard.micro_batch) * static_cast<double>(shard.attn_q_tokens);
  const double heads = static_cast<double>(shard.attn_heads);
  ops[kAttn].saved_bytes = e * q_tok * heads * static_cast<double>(model.head_dim) + 4.0 * q_tok * heads;
  for (size_t i = 0; i < ops.size(); ++i) rerun(ops[i], share_rerun[i]);
}

// A mixture-of-experts layer as Megatron-Core runs it by default (NVIDIA/Megatron-LM @d98e8a64,
// megatron/core/transformer/moe/): expert parallelism 1 and expert TP = TP (every GPU of the TP
// group holds every expert, each split as the dense MLP is: fc1 [h, 2F/t], fc2 [F/t, h]); the
// allgather token dispatcher, which gathers the TP group's tokens (td on this GPU), so that each
// GPU runs all E experts on them; SequentialMLP (moe_grouped_gemm off: one GEMM per expert and
// linear, experts.py:1409-1524); dropless top-k routing, spread evenly over the experts (no load
// balancing is on by default and no imbalance figure is published: an even spread is the
// optimistic bound). N = td·k rows reach the experts.
//
// 8-10. The routed experts: fc1, the probability-weighted SwiGLU (probs multiply after the
// activation, fused_bias_swiglu.py:266-337) and fc2. Each GEMM is E kernels of N/E rows. Saved:
// fc1's input (the permuted tokens, N x h), fc1's output, fc2's input and the probabilities.
void append_routed_experts(std::vector<OpCost>& ops, const ModelSpec& model, double e, double td, double t) {
  const double h = static_cast<double>(model.hidden_size);
  const double f = static_cast<double>(model.moe.expert_ffn_size);
  const double experts = static_cast<double>(model.moe.num_experts);
  const double n = td * static_cast<double>(model.moe.experts_per_token);
  const double up_mats = model.gated_mlp ? 2 : 1;
  const int kernels = static_cast<int>(model.moe.num_experts);
  OpCost up = gemm("mlp_up", n, h, up_mats * f / t, experts * up_mats * h * f / t, false, e);
  up.saved_bytes = e * n * h;
  up.kernels = kernels;
  ops.push_back(up);
  OpCost act = model.gated_mlp ? memory_op("mlp_act", n * f / t, kSwigluFlopsPerElement + 1, 3, 5, e)
                               : memory_op("mlp_act", n * f / t, kGeluFlopsPerElement + 1, 2, 3, e);
  act.saved_bytes = e * up_mats * n * f / t + e * n;
  act.kernels = kernels;  // SequentialMLP runs each expert's MLP, its activation included
  ops.push_back(act);
  OpCost down = gemm("mlp_down", n, f / t, h, experts * f * h / t, false, e);
  down.saved_bytes = e * n * f / t;
  down.kernels = kernels;
  ops.push_back(down);
}

// 12-14. Routing around the experts (router.py, moe_utils.py, token_dispatcher.py allgather):
// moe_router: logits = x W^T over this GPU's own (sequence-parallel) tokens tn, in the activation
//   dtype (moe_router_dtype unset), keeping its input; top-k, a softmax over the k and the
//   scatter into dense [tn, E] probabilities and a routing map, keeping the [tn, k] fp32 softmax
//   and two int64 index tensors.
// moe_permute: index_select of the N rows from the gathered [td, h] tokens (keeps int64 row
//   indices); its backward zero-fills [td, h] and index_adds the N rows' gradient.
// moe_unpermute: SequentialMLP's torch.cat of the experts' outputs, then zeros [td, h] and a
//   scatter_add of the N rows (moe_utils.py:600-618); its backward gathers N rows.
void append_routing(std::vector<OpCost>& ops, const ModelSpec& model, double e, double td, double tn) {
  const double h = static_cast<double>(model.hidden_size);
  const double experts = static_cast<double>(model.moe.num_experts);
  const double k = static_cast<double>(model.moe.experts_per_token);
  const double n = td * k;
  OpCost router = gemm("moe_router", tn, h, experts, h * experts, false, e);
  // top-k reads the logits; the scatter writes probabilities and a boolean map.
  router.fwd_bytes += tn * experts * (e + e + 1);
  router.saved_bytes = e * tn * h + tn * k * (4 + 8);  // input, softmax, top-k indices
  ops.push_back(router);
  // Backward: SequentialMLP's torch.split concatenates the experts' input gradients (N rows
  // read and written), then the zero-fill and index_add.
  OpCost permute = memory_op("moe_permute", n * h, 0, 2, 0, e);
  permute.bwd_bytes = (3 * n + 2 * td) * h * e;
  permute.saved_bytes = 8 * n;  // the sorted row indices, which unpermute uses too
  permute.kernels = 3;  // local map and probs slices, index_select
  ops.push_back(permute);
  OpCost unpermute = memory_op("moe_unpermute", 0, 0, 0, 0, e);
  unpermute.fwd_bytes = (3 * n + 3 * td) * h * e;
  unpermute.bwd_bytes = 2 * n * h * e;  // gather: N rows read, N written
  unpermute.kernels = 3;  // cat, zeros, scatter_add
  ops.push_back(unpermute);
}

}  // namespace

double attention_fwd_flops(int64_t micro_batch, int64_t q_tokens, int64_t kv_tokens, int64_t heads,
                           int64_t head_dim, double mask_fraction) {
  // QK^T and PV: 2 GEMMs of 2·q·kv·d_h each, per head.
  return 4.0 * static_cast<double>(micro_batch) * static_cast<double>(q_tokens) *
         static_cast<double>(kv_tokens) * static_cast<double>(heads) *
         static_cast<double>(head_dim) * mask_fraction;
}

std::vector<OpCost> layer_ops(const ModelSpec& model, const LayerShard& shard) {
  const double e = activation_bytes(shard.precision);
  const double e_in = shard.saved_gemm_input_bytes > 0 ? shard.saved_gemm_input_bytes : e;
  const double b = static_cast<double>(shard.micro_batch);
  const double td = b * static_cast<double>(shard.dense_tokens);  // b·T_d
  const double tn = b * static_cast<double>(shard.norm_tokens);   // b·T_n
  const double t = static_cast<double>(shard.tensor_parallel > 0 ? shard.tensor_parallel : 1);
  const double h = static_cast<double>(model.hidden_size);
  const double qw = static_cast<double>(model.q_width());
  const double kvw = static_cast<double>(model.kv_width());
  const double f = static_cast<double>(model.ffn_hidden_size);
  const double dh = static_cast<double>(model.head_dim);
  const bool dropout = model.hidden_dropout > 0;
  const double norm_weights = model.norm == NormKind::kLayerNorm ? 2 * h : h;

  std::vector<OpCost> ops;
  ops.reserve(11);

  // 1. Input norm on the (sequence-parallel) local tokens; keeps its input.
  OpCost input_norm = memory_op("input_norm", tn * h, kNormFlopsPerElement, 2, 3, e);
  input_norm.fwd_bytes += norm_weights * e;
  input_norm.saved_bytes = e * tn * h;
  ops.push_back(input_norm);

  // 2. QKV projection, column-parallel over t. Keeps its input: the local shard under Megatron-SP
  //    (re-gathered in backward), the full replicated input under plain TP (T_n = T_d there).
  OpCost qkv = gemm("qkv_proj", td, h, (qw + 2 * kvw) / t, h * (qw + 2 * kvw) / t, model.qkv_bias, e);
  qkv.saved_bytes = e_in * tn * h;
  ops.push_back(qkv);

  // 3. Rotary embedding on Q and K (elementwise; its outputs are what attention saves).
  OpCost rope = memory_op("rope", td * (qw + kvw) / t, kRopeFlopsPerElement, 2, 2, e);
  if (model.qk_norm) {
    // Qwen3 / Gemma-3 q_norm and k_norm: an RMSNorm per head on Q and K before RoPE, keeping
    // its input like any norm; folded into this op so the layer keeps its op list.
    const OpCost qk = memory_op("qk_norm", td * (qw + kvw) / t, kNormFlopsPerElement, 2, 3, e);
    rope.fwd_flops += qk.fwd_flops;
    rope.bwd_flops += qk.bwd_flops;
    rope.fwd_bytes += qk.fwd_bytes;
    rope.bwd_bytes += qk.bwd_bytes;
    rope.saved_bytes += e * td * (qw + kvw) / t;
  }
  ops.push_back(rope);

  // 4. Attention core on the heads and tokens this GPU holds (after any all-to-all / ring).
  OpCost attn;
  attn.name = "attention_core";
  attn.op_class = OpClass::kAttention;
  const double q_tok = b * static_cast<double>(shard.attn_q_tokens);
  const double kv_tok = b * static_cast<double>(shard.attn_kv_tokens);
  const double heads = static_cast<double>(shard.attn_heads);
  const double kv_heads = static_cast<double>(shard.attn_kv_heads);
  const double mask = shard.attn_mask_fraction;
  attn.fwd_flops = attention_fwd_flops(shard.micro_batch, shard.attn_q_tokens, shard.attn_kv_tokens,
                                       shard.attn_heads, model.head_dim, mask);
  // Gemma-2 attention soft-capping runs inside the kernel (FlashAttention >= 2.6 `softcap`): a
  // few elementwise FLOP per computed score on top of the two GEMMs.
  const double softcap_flops =
      model.attn_logit_softcapping > 0
          ? kSoftcapFlopsPerElement * q_tok * static_cast<double>(shard.attn_kv_tokens) * heads * mask
          : 0.0;
  attn.fwd_flops += softcap_flops;
  const double qkvo_bytes = e * (2 * q_tok * heads * dh + 2 * kv_tok * kv_heads * dh);
  const double lse_bytes = 4.0 * q_tok * heads;  // fp32 log-sum-exp per query row
  const double scores = q_tok * static_cast<double>(shard.attn_kv_tokens) * heads * mask;
  // Q, K, V as held here (per the shard: Ulysses holds a/u heads of all s, ring s/r tokens).
  attn.saved_bytes = e * q_tok * (heads + 2 * kv_heads) * dh;
  if (shard.attention_kernel == AttentionKernel::kFlash) {
    attn.bwd_flops = 2.5 * attn.fwd_flops;  // FlashAttention recomputes S and P in backward
    attn.fwd_bytes = qkvo_bytes + lse_bytes;
    attn.bwd_bytes = 2.0 * qkvo_bytes + lse_bytes;  // read Q,K,V,O,dO; write dQ,dK,dV
    attn.saved_bytes += lse_bytes;
  } else {
    attn.bwd_flops = 2.0 * attn.fwd_flops;
    const bool attn_dropout = model.attention_dropout > 0;
    // Scores written, softmax read/written, P read by PV (+ dropout mask and output).
    attn.fwd_bytes = qkvo_bytes + scores * (4 * e + (attn_dropout ? 1 + 2 * e : 0));
    attn.bwd_bytes = 2.0 * qkvo_bytes + scores * (4 * e + (attn_dropout ? 1 + e : 0));
    if (shard.recompute == Recompute::kSelective) {
      attn.bwd_flops += attn.fwd_flops;  // Korthikanti selective: re-run QK^T, softmax, dropout, PV
      attn.bwd_bytes += attn.fwd_bytes;
    } else {
      // Softmax output (e bytes), dropout mask (1 byte), dropout output (e bytes) per score.
      attn.saved_bytes += scores * (e + (attn_dropout ? 1 + e : 0));
    }
  }
  ops.push_back(attn);

  // 5. Output projection, row-parallel; keeps its input (the attention output shard).
  OpCost out = gemm("out_proj", td, qw / t, h, qw * h / t, model.linear_bias, e);
  out.saved_bytes = e_in * td * qw / t;
  ops.push_back(out);

  // 6. Dropout + residual add on the local tokens; keeps a 1-byte mask when dropout is on.
  OpCost attn_res = memory_op("attn_residual", tn * h, kResidualFlopsPerElement, 3, 3, e);
  attn_res.saved_bytes = dropout ? tn * h : 0.0;
  if (model.sandwich_norms) add_norm(attn_res, tn * h, norm_weights, e);  // Gemma post_attention_layernorm
  ops.push_back(attn_res);

  // 7. Post-attention norm.
  OpCost post_norm = memory_op("post_attn_norm", tn * h, kNormFlopsPerElement, 2, 3, e);
  post_norm.fwd_bytes += norm_weights * e;
  post_norm.saved_bytes = e * tn * h;
  ops.push_back(post_norm);

  const double up_mats = model.gated_mlp ? 2 : 1;
  if (model.is_moe()) {
    append_routed_experts(ops, model, e, td, t);
  } else {
    // 8. MLP up: SwiGLU gate and up (two h -> f matrices), GeLU one. Keeps its input.
    OpCost up = gemm("mlp_up", td, h, up_mats * f / t, up_mats * h * f / t, model.linear_bias, e);
    up.saved_bytes = e_in * tn * h;
    ops.push_back(up);

    // 9. Activation: GeLU keeps its input, SwiGLU keeps gate and up.
    OpCost act = model.gated_mlp
                     ? memory_op("mlp_act", td * f / t, kSwigluFlopsPerElement, 3, 5, e)
                     : memory_op("mlp_act", td * f / t, kGeluFlopsPerElement, 2, 3, e);
    act.saved_bytes = e * up_mats * td * f / t;
    ops.push_back(act);

    // 10. MLP down, row-parallel; keeps its input.
    OpCost down = gemm("mlp_down", td, f / t, h, f * h / t, model.linear_bias, e);
    down.saved_bytes = e_in * td * f / t;
    ops.push_back(down);
  }

  // 11. Dropout + residual.
  OpCost mlp_res = memory_op("mlp_residual", tn * h, kResidualFlopsPerElement, 3, 3, e);
  mlp_res.saved_bytes = dropout ? tn * h : 0.0;
  if (model.sandwich_norms) add_norm(mlp_res, tn * h, norm_weights, e);  // Gemma post_feedforward_layernorm
  ops.push_back(mlp_res);

  if (model.is_moe()) append_routing(ops, model, e, td, tn);

  if (shard.recompute == Recompute::kFull) {
    // Only the layer input is kept; backward first re-runs the whole forward.
    for (auto& op : ops) {
      op.bwd_flops += op.fwd_flops;
      op.bwd_bytes += op.fwd_bytes;
      op.saved_bytes = 0;
    }
    ops.front().saved_bytes = e * tn * h;
  }
  if (shard.recompute == Recompute::kOp) apply_op_level_checkpointing(ops, model, shard, e, td, tn, t);
  return ops;
}

std::vector<OpCost> head_ops(const ModelSpec& model, const LayerShard& shard) {
  const double e = activation_bytes(shard.precision);
  const double b = static_cast<double>(shard.micro_batch);
  const double td = b * static_cast<double>(shard.dense_tokens);
  const double tn = b * static_cast<double>(shard.norm_tokens);
  const int64_t tp = shard.tensor_parallel > 0 ? shard.tensor_parallel : 1;
  const double t = static_cast<double>(tp);
  const double h = static_cast<double>(model.hidden_size);
  const double v_local = static_cast<double>(model.padded_vocab(tp)) / t;  // vocab-parallel

  std::vector<OpCost> ops;
  ops.reserve(4);

  // Embedding lookup (vocab-parallel under TP: every rank looks up all local tokens, then the
  // partial rows are reduced). Memory-bound; backward scatters the gradient rows.
  OpCost embedding = memory_op("embedding", td * h, 0, 2, 2, e);
  embedding.fwd_flops = embedding.bwd_flops = 0;
  embedding.saved_bytes = model.hidden_dropout > 0 ? tn * h : 0.0;  // embedding dropout mask
  ops.push_back(embedding);

  OpCost final_norm = memory_op("final_norm", tn * h, kNormFlopsPerElement, 2, 3, e);
  final_norm.saved_bytes = e * tn * h;
  ops.push_back(final_norm);

  // LM head, column-parallel over the padded vocabulary; keeps its (local) input.
  OpCost lm_head = gemm("lm_head", td, h, v_local, h * v_local, false, e);
  lm_head.saved_bytes = e * tn * h;
  ops.push_back(lm_head);

  // Cross entropy on fp32 logits (Megatron upcasts them), which stay for the backward:
  // Korthikanti's 4·s·b·v/t term.
  OpCost loss = memory_op("cross_entropy", td * v_local, kSoftmaxFlopsPerElement, 0, 0, e);
  loss.fwd_bytes = td * v_local * (e + 4 + 4);  // read logits, write and re-read fp32 copy
  loss.bwd_bytes = td * v_local * (4 + e);      // read fp32 softmax, write the logits' gradient
  loss.saved_bytes = 4.0 * td * v_local;
  if (model.final_logit_softcapping > 0) {
    // Gemma-2: logits = cap * tanh(logits / cap) before the loss: read and write the logits, keep
    // the tanh output for its backward, and read it plus the gradient in backward.
    loss.fwd_flops += kSoftcapFlopsPerElement * td * v_local;
    loss.bwd_flops += 2 * kSoftcapFlopsPerElement * td * v_local;
    loss.fwd_bytes += 2 * e * td * v_local;
    loss.bwd_bytes += 3 * e * td * v_local;
    loss.saved_bytes += e * td * v_local;
  }
  ops.push_back(loss);

  // Full recompute checkpoints the layers only; the head keeps its activations either way.
  return ops;
}

}  // namespace spsim
