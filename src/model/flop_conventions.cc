// FLOP of one optimizer step under each published accounting convention (include/spsim/flops.h).
// Every convention counts the whole step: all GPUs, all micro-batches, B = global batch.
#include <fmt/format.h>

#include "spsim/error.h"
#include "model/linear_attention.h"
#include "spsim/flops.h"
#include "spsim/job.h"
#include "spsim/pipeline.h"
#include "spsim/sequence_distribution.h"

namespace spsim {

namespace {

/// Sequences per optimizer step: global_batch_size, else micro_batch_size x data_parallel with an
/// unresolved data_parallel (0) derived as num_gpus / (t u r p).
double global_batch(const JobConfig& job) {
  if (job.global_batch_size > 0) return static_cast<double>(job.global_batch_size);
  int64_t dp = job.data_parallel;
  if (dp <= 0) {
    const int64_t model_parallel = job.tensor_parallel * job.ulysses_degree * job.ring_degree *
                                   job.pipeline_parallel;
    if (model_parallel <= 0 || job.num_gpus % model_parallel != 0) {
      throw InputError("num_gpus",
                       fmt::format("must be a multiple of tensor x ulysses x ring x pipeline = {} "
                                   "(got {}); change the GPU count or the degrees",
                                   model_parallel, job.num_gpus));
    }
    dp = job.num_gpus / model_parallel;
  }
  return static_cast<double>(job.micro_batch_size) * static_cast<double>(dp);
}

}  // namespace

StepFlops step_flops(const ModelSpec& model, const JobConfig& job) {
  const double batch = global_batch(job);                    // B
  const double s = static_cast<double>(job.seq_length);
  const double tokens = batch * s;
  const double h = static_cast<double>(model.hidden_size);
  const double layers = static_cast<double>(model.num_layers);
  const double heads = static_cast<double>(model.num_attention_heads);
  const double kv_heads = static_cast<double>(model.num_key_value_heads);
  // A mixture-of-experts layer (every layer, layer_ops.cc) runs each token through its k routed
  // experts: the dense MLP's formulas with k x the expert's width, as Megatron's
  // num_floating_point_operations counts it (training.py: F_moe k f per MoE layer; the router GEMM
  // is not counted there, only in "hardware" below).
  const double ffn = model.is_moe() ? static_cast<double>(model.moe.expert_ffn_size * model.moe.experts_per_token)
                                    : static_cast<double>(model.ffn_hidden_size);
  const double router_fwd_per_token =
      model.is_moe() ? 2.0 * static_cast<double>(model.hidden_size * model.moe.num_experts) : 0.0;
  // The LM-head GEMM runs on Megatron's padded vocabulary (equal to vocab_size for HF models
  // unless t does not divide it).
  const double padded_vocab = static_cast<double>(model.padded_vocab(job.tensor_parallel));

  // --- Per-layer forward FLOP, counted as 2 FLOP per multiply-add of every GEMM. -------------
  // Q, K, V and output projections, and the 3 (SwiGLU) or 2 (GeLU) MLP matrices.
  const double q = static_cast<double>(model.q_width());
  const double kv = static_cast<double>(model.kv_width());
  const double layer_matrix_params =
      h * q + 2.0 * h * kv + q * h + (model.gated_mlp ? 3.0 : 2.0) * h * ffn;
  const double layer_gemm_fwd = 2.0 * tokens * layer_matrix_params;
  // The matrices op-level checkpointing re-runs (every second mm: layer_ops.cc).
  const double op_rerun_matrix_params = h * kv + q * h + (model.gated_mlp ? h * ffn : ffn * h);
  // Attention core, FlashAttention convention (benchmarks/benchmark_flash_attention.py):
  // QK^T and PV are 2 b s^2 a d_h each, so 4 b s^2 a d_h, halved when causal.
  const double attention_full_fwd = 4.0 * batch * s * s * q;
  const double attention_fwd = job.causal ? 0.5 * attention_full_fwd : attention_full_fwd;
  // Variable-length batches (job.seq_dist): per-document masks leave the sum of the documents'
  // attention, a fraction of one sample-long document's. The model convention counts that; a flash
  // varlen kernel executes only that, a standard kernel the whole masked matrix.
  // Sliding-window layers (model.h) compute only their band; the lowering refuses windows with
  // packed documents, so at most one of the two is not 1.
  const double varlen =
      job.seq_dist ? varlen_balance(*job.seq_dist, job.seq_length, 1, TokenSplit::kHeads, job.causal).work_fraction
                   : sliding_window_attention_scale(model, job.seq_length);
  // LM head: h x V GEMM on every token.
  const double head_fwd = 2.0 * tokens * h * padded_vocab;

  StepFlops out;
  // "model": backward = 2 x forward for every GEMM and for attention (Korthikanti et al.
  // 2205.05198 eq. 7 counts the same with f = 4h, non-causal: 72 B L s h^2 (1 + s/6h + V/12hL)).
  // Linear-attention layers (model.linear_attention_layers) cost the chunked kernel's FLOP over
  // the whole sequence, not s^2 (model/linear_attention.h).
  const double linear_layers = static_cast<double>(model.linear_attention_layers);
  const double softmax_layers = layers - linear_layers;
  const double linear_fwd =
      batch * detail::linear_attention_fwd_flops(s, heads, static_cast<double>(model.head_dim), job.causal);
  out.model = model.linear_attention_layers == 0
                  ? 3.0 * (layers * (layer_gemm_fwd + varlen * attention_fwd) + head_fwd)
                  : 3.0 * (layers * layer_gemm_fwd + softmax_layers * varlen * attention_fwd +
                           linear_layers * linear_fwd + head_fwd);
  // "causal_halved": USP (2405.07719 §5, "the lower triangle of causal attention") and the
  // FlashAttention benchmarks count causal attention at half, whatever the job's mask is.
  out.causal_halved = 3.0 * (layers * (layer_gemm_fwd + 0.5 * attention_full_fwd) + head_fwd);

  // "megatron_deepspeed": megatron/utils.py throughput_calculator (Megatron-DeepSpeed, used for
  // every DeepSpeed-Ulysses TFLOPs number):
  //   24 * f_ck * B * s * L * h^2 * (1 + s/(6h) + V/(16 L h)),  V = args.padded_vocab_size,
  //   f_ck = 4 with activation checkpointing / recompute_granularity set, else 3.
  // It assumes MHA, f = 4h and non-causal attention, whatever the model is.
  const double f_ck = job.recompute == Recompute::kNone ? 3.0 : 4.0;
  out.megatron_deepspeed = 24.0 * f_ck * batch * s * layers * h * h *
                           (1.0 + s / (6.0 * h) + padded_vocab / (16.0 * layers * h));

  // "nemo": nemo/utils/flops_formulas.py llama2/llama3 (NeMo 2.0 FLOPs callback):
  //   gbs * s * L * h^2 * (12 + 12 k/a + 18 f/h + 12 s/h + 6 V/(L h)),
  // V = the family's published vocabulary (LLM_VOCAB_SIZE_MAP), so the raw vocab_size here.
  // It assumes SwiGLU, d_h = h/a and non-causal attention.
  const double vocab = static_cast<double>(model.vocab_size);
  out.nemo = batch * s * layers * h * h *
             (12.0 + 12.0 * kv_heads / heads + 18.0 * ffn / h + 12.0 * s / h +
              6.0 * vocab / (layers * h));

  // Per-token conventions on the model's own parameter counts (any MLP or attention shape).
  // Matmul parameters: every layer's projections and MLP matrices, and the LM head on the
  // published vocabulary (NeMo's LLM_VOCAB_SIZE_MAP and the papers use the raw vocab).
  const double lm_head_params = h * vocab;
  const double matmul_params = layers * layer_matrix_params + lm_head_params;
  const double attention_noncausal_per_token = 12.0 * layers * q * s;  // 3 x 4 L (a d_h) s
  out.nemo_noncausal = tokens * (6.0 * matmul_params + attention_noncausal_per_token);
  // "mbridge": Megatron-Bridge 25.09+ tables imply causal attention (half the S^2 term).
  out.mbridge = tokens * (6.0 * matmul_params + 0.5 * attention_noncausal_per_token);
  // "torchtitan": 6 x all parameters (the checkpoint's count: embeddings, norms, untied head)
  // + 12 L H Q T.
  out.torchtitan =
      tokens * (6.0 * static_cast<double>(model.active_params()) + attention_noncausal_per_token);
  // "palm": 6 N + 12 L H Q T with N the non-embedding parameters: layers (norms included) and the
  // LM head (a matmul on every token), not the input embedding lookup.
  const double palm_params =
      layers * static_cast<double>(model.layer_params(0, true)) + lm_head_params;
  out.palm = tokens * (6.0 * palm_params + attention_noncausal_per_token);

  // "hardware": what the GPUs execute. GEMMs fwd + 2x bwd; attention fwd + bwd where the
  // FlashAttention backward is 2.5 x forward (it recomputes S = QK^T; benchmark_flash_attention.py)
  // and a standard kernel's is 2x; plus recompute: full re-runs each layer's forward (not the
  // LM head), selective re-runs the attention core (Korthikanti §5).
  const double attention_bwd_factor =
      job.attention_kernel == AttentionKernel::kFlash ? 2.5 : 2.0;
  const double executed_attention =
      job.attention_kernel == AttentionKernel::kFlash ? varlen * attention_fwd : attention_fwd;
  // Full recompute of part of the layers (Megatron's block method): their share re-runs.
  const double rerun_share = job.recompute == Recompute::kFull && job.recompute_layers > 0
                                 ? static_cast<double>(model_recomputed_layers(model, job)) /
                                       static_cast<double>(model.num_layers)
                                 : 1.0;
  auto hardware_layer = [&](double attention, double bwd_factor) {
    const double gemm_fwd = layer_gemm_fwd + tokens * router_fwd_per_token;
    double flops = 3.0 * gemm_fwd + (1.0 + bwd_factor) * attention;
    if (job.recompute == Recompute::kFull) flops += rerun_share * (gemm_fwd + attention);
    if (job.recompute == Recompute::kSelective) flops += attention;
    // Op-level (torchtitan): wk, wo and w3 (w2 without a gate) re-run; SDPA does not.
    if (job.recompute == Recompute::kOp) flops += 2.0 * tokens * op_rerun_matrix_params;
    return flops;
  };
  out.hardware = softmax_layers * hardware_layer(executed_attention, attention_bwd_factor) +
                 linear_layers * hardware_layer(linear_fwd, 2.0) + 3.0 * head_fwd;
  return out;
}

}  // namespace spsim
