#include "memory/activation_memory.h"

#include <algorithm>
#include <string_view>

#include "spsim/job.h"
#include "spsim/long_context.h"

namespace spsim::detail {

double sum_saved(const std::vector<OpCost>& ops) {
  double total = 0;
  for (const auto& op : ops) total += op.saved_bytes;
  return total;
}

double flash_attention_backward_workspace(double b, double q_tokens, double k_tokens, double heads,
                                          double kv_heads, double head_dim, double e) {
  const double q = b * q_tokens, k = b * k_tokens;
  const double dq_accum = 4.0 * q * heads * head_dim;
  const double gqa_expanded = kv_heads < heads ? 2.0 * e * k * heads * head_dim : 0.0;
  const double grads_out = e * (q * heads + 2.0 * k * kv_heads) * head_dim;
  const double dout = e * q * heads * head_dim;
  const double softmax_d = 4.0 * q * heads;
  return dq_accum + gqa_expanded + grads_out + dout + softmax_d;
}

namespace {

// The saved bytes of the MLP half of a layer (post-attention norm to the residual): what its
// backward has freed by the time the attention's backward runs.
double mlp_saved(const std::vector<OpCost>& ops) {
  double total = 0;
  for (const auto& op : ops) {
    const std::string_view name = op.name;
    if (name == "post_attn_norm" || name == "mlp_up" || name == "mlp_act" || name == "mlp_down" ||
        name == "mlp_residual" || name == "moe_router" || name == "moe_permute" || name == "moe_unpermute") {
      total += op.saved_bytes;
    }
  }
  return total;
}

}  // namespace

LayerActivations layer_activations(const ModelSpec& model, const LayerShard& shard,
                                   const std::vector<OpCost>& ops, int64_t mlp_tiles,
                                   const std::vector<OpCost>* ops_without_recompute,
                                   double attention_workspace) {
  LayerActivations out;
  out.saved = sum_saved(ops);
  // Two moments of a layer's backward can set the peak, each with gradients the saved tensors do
  // not count. The layer's output gradient dY waits at the residual add for the branch's gradient
  // (autograd sums them into the input's), so one [T_n, h] gradient is held throughout. The MLP's
  // (the whole layer's tensors held): the activation's backward reads dAct [T_d, f/t] from
  // mlp_down's dgrad and writes dUp [T_d, up f/t] while reading the up-projection's output, with
  // mlp_down's saved input (the activation's output, f/t in the saved dtype) freed; then the
  // up-projection's dgrad writes [T_d, h] beside dUp with the up output freed too: the larger,
  // a tile's with a tiled MLP, whose backward also fills a whole [T_d, h] x_grad (DeepSpeed
  // TiledMLP, ulysses_sp.py:1031). The attention kernel's: the MLP's tensors freed, the kernel's
  // workspace allocated.
  const double e = activation_bytes(shard.precision);
  const double e_in = shard.saved_gemm_input_bytes > 0 ? shard.saved_gemm_input_bytes : e;
  const double b = static_cast<double>(shard.micro_batch);
  const double t = static_cast<double>(std::max<int64_t>(1, shard.tensor_parallel));
  const double up = model.gated_mlp ? 2.0 : 1.0;
  const double tiles = static_cast<double>(std::max<int64_t>(1, mlp_tiles));
  // A MoE layer's experts see each token k times, with their own intermediate size (layer_ops).
  const double h = static_cast<double>(model.hidden_size);
  const double f = static_cast<double>(model.is_moe() ? model.moe.expert_ffn_size : model.ffn_hidden_size);
  const double dense = b * static_cast<double>(shard.dense_tokens) *
                       (model.is_moe() ? static_cast<double>(model.moe.experts_per_token) : 1.0);
  const double residual_grad = e * b * static_cast<double>(shard.norm_tokens) * h;
  const double activation_moment = dense * (e * (1.0 + up) - e_in) * f / t;
  const double up_dgrad_moment = dense * (e * h - e_in * f / t);
  const double mlp_grads = mlp_tiles > 0 ? e * dense * h + activation_moment / tiles
                                         : std::max(activation_moment, up_dgrad_moment);
  auto attention_phase_extra = [&](const std::vector<OpCost>& held) {
    double mlp = mlp_saved(held);
    if (mlp_tiles > 0) mlp -= mlp_intermediate_bytes(held) * (1.0 - 1.0 / static_cast<double>(mlp_tiles));
    return residual_grad + std::max(mlp_grads, std::max(0.0, attention_workspace - std::max(0.0, mlp)));
  };
  if (shard.recompute == Recompute::kNone && mlp_tiles == 0) {
    out.recomputed = attention_phase_extra(ops);
    return out;
  }
  std::vector<OpCost> built;
  if (ops_without_recompute == nullptr) {
    LayerShard kept = shard;
    kept.recompute = Recompute::kNone;
    built = layer_ops(model, kept);
  }
  const std::vector<OpCost>& kept_ops = ops_without_recompute ? *ops_without_recompute : built;
  // The layer being back-propagated holds what it re-ran on top of what it kept: about what it
  // would hold without recompute, less what it kept. Full: the re-run forward reads the saved
  // input itself (Megatron's CheckpointFunction and torch.utils.checkpoint detach it, which shares
  // its storage), so the input is counted once, as the checkpoint. Op-level keeps two tensors,
  // wq's and w2's outputs, that the unchecked layer does not: then nothing more.
  out.recomputed = std::max(0.0, sum_saved(kept_ops) - out.saved);
  if (mlp_tiles > 0) {
    // TiledMLP saves only its input, which mlp_up's saved input already counts.
    const double intermediates = mlp_intermediate_bytes(kept_ops);
    if (shard.recompute == Recompute::kFull) {
      out.recomputed -= intermediates;
    } else {
      out.saved -= intermediates;
    }
    out.recomputed += intermediates / static_cast<double>(mlp_tiles);
  }
  out.recomputed += attention_phase_extra(shard.recompute == Recompute::kNone ? ops : kept_ops);
  return out;
}

LayerActivations partly_recomputed(const LayerActivations& checkpointed, const LayerActivations& plain,
                                   int64_t chunk_layers, int64_t rerun, int64_t plain_first) {
  if (rerun <= 0 || chunk_layers <= 0) return plain;
  if (rerun >= chunk_layers) return checkpointed;
  const double n = static_cast<double>(chunk_layers), k = static_cast<double>(rerun);
  const double freed = static_cast<double>(std::clamp<int64_t>(plain_first, 0, chunk_layers - rerun));
  LayerActivations out;
  out.saved = (k * checkpointed.saved + (n - k) * plain.saved) / n;
  out.recomputed = std::max(plain.recomputed, checkpointed.recomputed - freed * plain.saved);
  return out;
}

MemoryEstimate stage_memory(const StageMemoryInputs& in, const LayerActivations& layer,
                            const JobConfig& job) {
  MemoryEstimate estimate;
  add_model_states(estimate, in.params_local, job.zero_stage, in.zero_group, job.precision,
                   in.grad_bytes);
  estimate.buffers = in.buffers;
  if (job.offload_optimizer) {
    // DeepSpeed's offload_optimizer: the fp32 master weights, Adam's m and v and the fp32
    // gradient partition live in host memory (stage_1_and_2.py / stage3.py with cpu_offload);
    // the GPU keeps the 16-bit parameters, and under ZeRO-1 its unpartitioned 16-bit gradients
    // until they are reduced. ZeRO-2/3 copy each reduced partition out as it is produced.
    const double shard = in.params_local / static_cast<double>(std::max<int64_t>(1, in.zero_group));
    estimate.host += estimate.optimizer + 4.0 * shard;
    // fp32 training keeps the fp32 master copy on the host too (the GPU's parameters are its own).
    if (job.precision == Precision::kFp32 || job.precision == Precision::kTf32) estimate.host += 4.0 * shard;
    estimate.optimizer = 0;
    if (job.zero_stage >= 2) estimate.grads = 0;
    if (job.zero_stage <= 2) {
      // stage_1_and_2.py with cpu_offload: a pinned 16-bit copy of the parameter partition and a
      // pinned gradient staging buffer of the largest parameter on the host, its twin on the GPU;
      // under gradient accumulation, the accumulated 16-bit gradients on the host.
      estimate.host += 2.0 * shard + 2.0 * in.largest_param;
      estimate.buffers += 2.0 * in.largest_param;
      if (in.micro_batches > 1) estimate.host += 2.0 * shard;
    }
  }
  // Layers whose saved tensors are on the GPU at the loss and the first layer's backward. With
  // offload_activations each layer's checkpoint leaves for the host after its forward and
  // returns before its backward, one at a time (ALST's blocking copies): the GPU holds one.
  double kept = in.layers_in_flight;
  if (job.offload_params) {
    // ZeRO-3's offload_param: the 16-bit partition lives in pinned host memory; the GPU holds only
    // the layers being fetched (the ZeRO-3 gather buffers of memory/layer_buffers.h).
    estimate.host += estimate.params;
    // fp32 training with the optimizer on the GPU: Adam's fp32 master cannot alias a host
    // partition, so a GPU copy is cloned (stage3.py:1112-1122).
    const bool fp32 = job.precision == Precision::kFp32 || job.precision == Precision::kTf32;
    if (fp32 && !job.offload_optimizer) estimate.optimizer += estimate.params;
    estimate.params = 0;
  }
  if (job.offload_activations) {
    estimate.host += in.layers_in_flight * layer.saved;
    kept = std::min(1.0, in.layers_in_flight);
  }
  // The moments of the step (the head is freed before the first layer's backward), each with
  // the gradients alive then.
  struct Moment {
    double activations, grads, buffers = 0;  // buffers: beyond in.buffers
  };
  const double all_grads = estimate.grads;
  const double per_param = in.params_local > 0 ? all_grads / in.params_local : 0.0;
  const double at_loss = kept * layer.saved + in.extra_saved + in.head_peak;
  const double at_first_layer = kept * layer.saved + in.extra_saved + layer.recomputed;
  const double at_last_layer = std::min(1.0, in.layers_in_flight) * layer.saved + in.extra_saved + layer.recomputed;
  const bool one_micro_batch = in.micro_batches <= 1;
  const bool made_in_backward = in.grad_lifetime != GradLifetime::kResident && one_micro_batch;
  std::vector<Moment> moments;
  if (in.grad_lifetime == GradLifetime::kPartitionPerBackward) {
    // The partition (all_grads under ZeRO-2) appears at the first layer's backward; with
    // accumulation the sum of the earlier micro-batches is there from the loss on.
    const double earlier = one_micro_batch ? 0.0 : all_grads;
    moments = {{at_loss, earlier, in.head_buffers}, {at_first_layer, earlier + all_grads, in.backward_buffers}};
  } else if (made_in_backward) {
    // The head's gradients and the first layer's own before the layers' backward frees anything;
    // all but the input embedding's at the last layer's backward; all at the embedding's.
    moments = {{at_loss, 0.0, in.head_buffers},
               {at_first_layer, per_param * (in.head_grad_params + in.layer_params), in.backward_buffers},
               {at_last_layer, all_grads - per_param * in.tail_grad_params, in.backward_buffers},
               {in.extra_saved, all_grads, in.backward_buffers}};
  } else {
    moments = {{at_loss, all_grads, in.head_buffers}, {at_first_layer, all_grads, in.backward_buffers}};
  }
  const bool sixteen_bit = job.precision != Precision::kFp32 && job.precision != Precision::kTf32;
  if (in.grad_lifetime == GradLifetime::kMadeInBackwardCastAtStep && sixteen_bit) {
    // The step, activations freed: each 16-bit gradient, its fp32 copy and the flat fp32 one.
    moments.push_back({0.0, all_grads + 8.0 * in.params_local});
  }
  if (in.grad_lifetime == GradLifetime::kMadeInBackwardPartitionedAfter && !job.offload_optimizer) {
    // After the backward the reduction allocates this rank's 16-bit partition beside the whole
    // gradients (with offload_optimizer the partition goes to the host instead). The reduce
    // bucket is no extra then: copying a gradient into it repoints param.grad and frees autograd's
    // tensor (stage_1_and_2.py:1222-1227), so it holds gradients counted here.
    moments.push_back({in.extra_saved, all_grads + all_grads / static_cast<double>(std::max<int64_t>(1, in.zero_group))});
  }
  const Moment* peak = &moments.front();
  for (const Moment& m : moments) {
    if (m.activations + m.grads + m.buffers > peak->activations + peak->grads + peak->buffers) peak = &m;
  }
  estimate.buffers += peak->buffers;
  estimate.buffers_of_the_peak = peak->buffers;
  estimate.saved_layers = kept * layer.saved + in.extra_saved;
  estimate.grads_at_start = made_in_backward ? 0.0 : all_grads;
  estimate.grads_made_in_backward = made_in_backward ? all_grads : 0.0;
  estimate.activations = peak->activations;
  estimate.grads = peak->grads;
  estimate.reserve = job.framework_reserve_bytes;
  return estimate;
}

}  // namespace spsim::detail
