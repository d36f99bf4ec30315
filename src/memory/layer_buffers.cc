#include "memory/layer_buffers.h"

#include <algorithm>

namespace spsim::detail {

namespace {

// Parameters ZeRO-3 holds gathered while `in_use` (a layer's, or the LM head's) are: those, what is
// prefetched of the next, or the live set the prefetcher fills, whichever is larger.
double gathered_params(const LayerBufferInputs& in, double in_use) {
  const double ahead = in.zero3_prefetch_params > 0 ? std::min(in.layer_params, in.zero3_prefetch_params)
                                                    : in.layer_params;
  return std::max(in_use + ahead, in.zero3_live_params);
}

// Whether the ZeRO optimizer's reduce bucket lives through the whole step rather than the
// backward only: ZeRO-3 allocates it at initialisation (stage3.py:731-735); ZeRO-1 with gradient
// accumulation keeps it from the first micro-batch's backward to the boundary.
bool bucket_held_all_step(const LayerBufferInputs& in) {
  return in.zero_stage >= 3 || (in.zero_stage == 1 && in.micro_batches > 1);
}

}  // namespace

double layer_buffers(const LayerBufferInputs& in) {
  const double e = in.element_bytes, b = in.micro_batch;
  double buffers = 0;
  if (in.ulysses > 1) {
    // DeepSpeed single_all_to_all allocates torch.empty_like(input): the Q, K, V outputs.
    buffers += e * b * in.dense_tokens * (in.heads + 2 * in.kv_heads) * static_cast<double>(in.ulysses) *
               in.head_dim;
  }
  if (in.ring > 1) {
    if (in.cp_per_step) {
      // PyTorch context_parallel: the gathered (repeated) K,V, or the K,V block being received
      // and the one in use, plus the backward's larger set of fp32 buffers: dQ, dK, dV
      // accumulators and the dK,dV being received (_attention.py).
      buffers += (in.ring_allgather ? 2.0 * e * b * in.seq * in.heads * in.head_dim : 2.0 * in.kv_block) +
                 4.0 * (in.cp_q_elems + 4.0 * in.cp_k_elems);
    } else if (in.ring_allgather) {
      buffers += 2.0 * e * b * in.seq * in.kv_heads * in.head_dim;  // the gathered K,V
    } else {
      // Double-buffered K,V receive + fp32 out and lse accumulators (zhuzilin README).
      buffers += 2.0 * in.kv_block + 4.0 * b * in.q_block_tokens * in.heads * in.head_dim +
                 4.0 * b * in.q_block_tokens * in.heads;
    }
  }
  buffers += in.tp_gather_bytes;
  if (in.zero3_gathers) buffers += gathered_params(in, in.layer_params) * in.param_bytes;
  if (in.reduce_bucket_params > 0) {
    // Allocated whole whatever the model's size and the data-parallel degree; otherwise it lives
    // in the backward only (backward_buffers_beyond_layer).
    if (bucket_held_all_step(in)) buffers += in.reduce_bucket_params * in.reduce_bucket_bytes;
  } else if (in.reduces_gradients) {
    buffers += in.layer_params * in.grad_bytes;  // one layer's gradient bucket
  }
  return buffers;
}

double backward_buffers_beyond_layer(const LayerBufferInputs& in) {
  if (in.reduce_bucket_params <= 0) return 0.0;
  double extra = in.zero_stage >= 2 ? in.largest_matrix * in.param_bytes : 0.0;
  if (!bucket_held_all_step(in)) extra += in.reduce_bucket_params * in.reduce_bucket_bytes;
  return extra;
}

double head_buffers_beyond_layer(const LayerBufferInputs& in, double head_params) {
  if (!in.zero3_gathers) return 0.0;
  return std::max(0.0, (gathered_params(in, head_params) - gathered_params(in, in.layer_params)) * in.param_bytes);
}

}  // namespace spsim::detail
