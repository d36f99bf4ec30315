// FLOP accounting conventions. Sources publish TFLOP/s under different conventions (causal or not,
// recompute counted or not), so spsim reports time plus TFLOP/s under each named convention and
// compares published numbers only in the source's own convention.
#ifndef SPSIM_FLOPS_H_
#define SPSIM_FLOPS_H_

#include "spsim/job.h"
#include "spsim/model.h"

namespace spsim {

/// FLOP of one whole optimizer step (all GPUs, all micro-batches) under each convention.
struct StepFlops {
  /// "model": 3 x forward FLOP of every GEMM (incl. LM head) + attention with the job's mask
  /// (causal halved), no recompute. The basis of `mfu`.
  double model = 0;
  /// Megatron-DeepSpeed megatron/utils.py: 24 f_ck B s L h^2 (1 + s/(6h) + V/(16 L h)),
  /// f_ck = 4 with activation checkpointing else 3, attention non-causal.
  double megatron_deepspeed = 0;
  /// NeMo flops_formulas llama: gbs s L h^2 (12 + 12k/a + 18f/h + 12s/h + 6V/(Lh)).
  double nemo = 0;
  /// USP / FlashAttention: like "model" but attention always causal-halved.
  double causal_halved = 0;
  /// NeMo up to 24.12 / 25.07 tables (derived from them) on any layer shape: 6 x matmul
  /// parameters (incl. LM head, published vocabulary) + 12 L (a d_h) s per token, non-causal.
  /// Equal to `nemo` for SwiGLU models with d_h = h / a.
  double nemo_noncausal = 0;
  /// Megatron-Bridge from 25.09 (derived from its published tables): like `nemo` with causal
  /// attention, 6 x matmul parameters (incl. LM head) + 6 L (a d_h) s per token.
  double mbridge = 0;
  /// torchtitan (train.py / utils.get_num_flop_per_token): 6 x parameters (embeddings included)
  /// + 12 L a d_h s per token, non-causal.
  double torchtitan = 0;
  /// PaLM appendix B (Llama 3, MegaScale): 6 N + 12 L a d_h s per token, non-causal, N the
  /// non-embedding parameters (layer matrices and norms, LM head).
  double palm = 0;
  /// What the GPUs execute: model + recompute + flash-attention backward (2.5x) = hardware FLOP.
  double hardware = 0;
};

StepFlops step_flops(const ModelSpec& model, const JobConfig& job);

}  // namespace spsim

#endif  // SPSIM_FLOPS_H_
