#include "memory/layer_buffers.h"

namespace spsim::detail {

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
  if (in.zero3_gathers) buffers += 2.0 * in.layer_params * in.param_bytes;  // this layer's and the next's
  if (in.reduces_gradients) buffers += in.layer_params * in.grad_bytes;    // one layer's gradient bucket
  return buffers;
}

}  // namespace spsim::detail
