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
  bool reduces_gradients = false;
  double layer_params = 0, param_bytes = 2, grad_bytes = 2;
};

double layer_buffers(const LayerBufferInputs& in);

}  // namespace spsim::detail
