// Transient buffers of one layer in flight: what a scheme's communication and the gradient
// reduction allocate beside the activations (the `buffers` term of MemoryEstimate). The same on
// every pipeline stage.
#pragma once

#include <cstdint>

namespace spsim::detail {

struct LayerBufferInputs {
  double element_bytes = 2;   // e: activation / communication element
  double micro_batch = 1;     // b
  double seq = 0;             // s: the whole sequence
  double dense_tokens = 0;    // tokens of one sequence through this GPU's GEMMs
  double q_block_tokens = 0;  // query tokens per head on this GPU (a ring block)
  double heads = 0, kv_heads = 0, head_dim = 0;  // in this GPU's attention core
  int64_t ulysses = 1, ring = 1;
  bool ring_allgather = false;  // all-gather CP (Llama 3 style)
  bool cp_per_step = false;     // PyTorch's context_parallel
  double kv_block = 0;          // one K,V ring block, bytes
  double cp_q_elems = 0, cp_k_elems = 0;  // PyTorch CP: one chunk's Q and K elements
  double tp_gather_bytes = 0;   // Megatron-SP: the all-gathered layer input (0 without SP)
  bool zero3_gathers = false;   // ZeRO-3 with data-parallel communication
  double zero3_prefetch_params = 0;  // gathered ahead beside the layer in use (0: a whole layer)
  // ZeRO-3: the live parameters the framework's prefetcher fills up to, at most the stage's own
  // (FrameworkProfile::zero3_live_params capped by the parameters on this GPU); 0: none.
  double zero3_live_params = 0;
  bool reduces_gradients = false;
  double layer_params = 0, param_bytes = 2, grad_bytes = 2;
  // Elements of the ZeRO optimizer's contiguous reduce bucket (FrameworkProfile::
  // resident_reduce_bucket), which then holds the gradients being reduced; 0: none, each layer's
  // gradients are reduced from their own buffer.
  double reduce_bucket_params = 0;
  // Bytes per element of that bucket: DeepSpeed's ZeRO-1/2 allocate it in the optimizer's 16-bit
  // dtype (stage_1_and_2.py setup_buckets), ZeRO-3 in the communication dtype (stage3.py:731-735:
  // fp32 when the job splits the sequence).
  double reduce_bucket_bytes = 2;
  int zero_stage = 0;
  int64_t micro_batches = 1;
  double largest_matrix = 0;  // elements of the layer's largest weight on this GPU (an MLP matrix)
};

/// Buffers alive at every moment of the step, the loss's included.
double layer_buffers(const LayerBufferInputs& in);

/// What the layers' backward holds beyond layer_buffers(): DeepSpeed's ZeRO-1/2 bucket, allocated
/// by the first gradient hook of a backward and released by its epilogue (every micro-batch under
/// ZeRO-2, at the accumulation boundary under ZeRO-1, stage_1_and_2.py:2494-2516, :829-831, :960;
/// engine.py:2903-2910), and under ZeRO-2/3 the gradient of one weight that autograd makes
/// before it is copied into the bucket (ZeRO-1 keeps its gradients, counted as such, and copies
/// after the backward).
double backward_buffers_beyond_layer(const LayerBufferInputs& in);

/// What the loss phase holds beyond layer_buffers() when ZeRO-3 gathers the LM head (`head_params`
/// on this GPU, with the final norm) whole for the head's forward and backward: the gathered head
/// in place of the layer in use (what is prefetched of the last layer for the backward stays). 0
/// without ZeRO-3 gathers, when a layer is the larger, or when the live set (DeepSpeed's
/// stage3_max_live_parameters) already holds the head. The head's gradient is not
/// here: a fused loss keeps it among its saved tensors (apply_loss); the standard loss's LM head
/// makes it after the loss's transients are freed.
double head_buffers_beyond_layer(const LayerBufferInputs& in, double head_params);

}  // namespace spsim::detail
