// Activation memory of a lowered step: what one layer saves for its backward, what the layer
// being back-propagated holds again (recompute, tiled MLP), and the per-GPU estimate of one
// pipeline stage at its peak (the start of a backward). The lowering reports the facts (ops,
// layers in flight, buffers); the arithmetic is here.
#pragma once

#include <cstdint>
#include <vector>

#include "spsim/memory.h"
#include "spsim/model.h"

namespace spsim {
struct JobConfig;
}

namespace spsim::detail {

struct LayerActivations {
  double saved = 0;       // bytes one layer keeps from its forward to its backward
  double recomputed = 0;  // bytes the layer being back-propagated holds again
};

/// `ops`: the layer's ops under `shard` (its recompute policy applied). Full recompute holds the
/// whole forward again; selective recompute the attention core's re-materialised score terms
/// (softmax, dropout mask and output of a standard kernel; nothing for flash). With `mlp_tiles`
/// > 0 (tiled MLP) no layer keeps its MLP intermediates and the layer in the backward holds one
/// tile's. `ops_without_recompute`: the layer's ops under `shard` with recompute off, if the
/// caller has them (the lowering's task ops under full recompute), so they are not built again.
/// `attention_workspace`: what the attention kernel's backward allocates for the call
/// (flash_attention_backward_workspace); the layer holds it once its MLP's backward has freed the
/// MLP's tensors, so it raises the peak only by what exceeds them.
LayerActivations layer_activations(const ModelSpec& model, const LayerShard& shard,
                                   const std::vector<OpCost>& ops, int64_t mlp_tiles,
                                   const std::vector<OpCost>* ops_without_recompute = nullptr,
                                   double attention_workspace = 0);

/// Bytes flash-attn 2's backward (mha_bwd in csrc/flash_attn/flash_api.cpp, and PyTorch's copy of
/// it behind SDPA's flash backend) holds beyond the forward's saved tensors for one call of
/// `q_tokens` queries against `k_tokens` keys (b sequences, `heads` query and `kv_heads` KV heads of
/// `head_dim`): the fp32 dQ accumulator (b, s_q, heads, d), dK and dV expanded to the query
/// heads under GQA (dk_expanded / dv_expanded, summed per group afterwards), the dQ, dK, dV it
/// returns, the gradient dO it reads, and softmax_d (fp32 per query row).
double flash_attention_backward_workspace(double b, double q_tokens, double k_tokens, double heads,
                                          double kv_heads, double head_dim, double e);

/// Full recompute of `rerun` of a chunk's `chunk_layers` layers: per layer in flight, the average
/// of what a checkpointed layer keeps and what a `plain` one keeps. The first checkpointed layer
/// to be back-propagated runs its forward again after `plain_first` plain layers have freed
/// theirs (Megatron's block method checkpoints a chunk's first layers: all its plain ones;
/// torchtitan's every k-th block: the L mod k after the last), so it adds only what exceeds those.
LayerActivations partly_recomputed(const LayerActivations& checkpointed, const LayerActivations& plain,
                                   int64_t chunk_layers, int64_t rerun, int64_t plain_first);

double sum_saved(const std::vector<OpCost>& ops);

struct StageMemoryInputs {
  double params_local = 0;      // parameters this GPU holds before ZeRO sharding (after TP)
  double layers_in_flight = 0;  // layers whose saved activations are alive at the peak
  double extra_saved = 0;       // embedding activations, alive the whole step
  // The loss phase: what the head (final norm, LM head, loss) holds at the loss's worst moment,
  // its saved tensors and the loss's transient ones; 0 off the last stage. The head is freed
  // before the layers' backward, so it never meets a layer's re-run (LayerActivations::recomputed).
  double head_peak = 0;
  double buffers = 0;           // transient buffers (memory/layer_buffers.h, pipeline receives)
  double head_buffers = 0;      // what the loss phase holds beyond them (head_buffers_beyond_layer)
  double backward_buffers = 0;  // what the layers' backward holds beyond them (backward_buffers_beyond_layer)
  int64_t zero_group = 1;       // ranks the ZeRO shards span
  double grad_bytes = 2;        // the framework's gradient dtype
  double largest_param = 0;     // elements of the largest weight on this GPU (offload buffers)
  int64_t micro_batches = 1;    // gradient accumulation steps (offload buffers)
  // When the gradients exist (the framework's lifetime at the job's ZeRO stage; resident with
  // gradient accumulation), and which of this stage's parameters get theirs first and last:
  // the head's backward makes the LM head's and final norm's before any layer's, the input
  // embedding's comes after every layer's.
  GradLifetime grad_lifetime = GradLifetime::kResident;
  double head_grad_params = 0;
  double tail_grad_params = 0;
  double layer_params = 0;      // one layer's, whose gradients its backward makes
};

/// Per-GPU memory of one stage at its peak: model states (ZeRO-sharded), every in-flight layer's
/// saved activations plus the extras and the recomputed layer, buffers and the job's reserve.
/// The peak is the largest of the step's moments: the loss, the first layer's backward, the
/// last layer's backward, the embedding's backward, and what the framework's lifetime adds after
/// the backward (GradLifetime). Resident gradients add the same bytes to each, so only the first
/// two can be largest; gradients made in the backward grow as the layers' activations are freed,
/// and the estimate's activations and grads are those of the moment that holds the most.
MemoryEstimate stage_memory(const StageMemoryInputs& in, const LayerActivations& layer,
                            const JobConfig& job);

}  // namespace spsim::detail
