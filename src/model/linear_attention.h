// FLOP of linear attention as its chunked kernels compute it. Internal to src/ (model/, strategy/).
#ifndef SPSIM_MODEL_LINEAR_ATTENTION_H_
#define SPSIM_MODEL_LINEAR_ATTENTION_H_

#include <cstdint>

namespace spsim::detail {

/// Chunked linear-attention kernels (Lightning Attention-2, arXiv 2401.04658; flash-linear-attention
/// fla/ops chunk kernels) tile the tokens into blocks of this many: within a block the causal
/// product [(Q K^T) . M] V, across blocks a d x d state. 64 is flash-linear-attention's chunk size.
inline constexpr double kLinearAttentionBlock = 64;

/// Forward FLOP of `tokens` query tokens of `heads` heads of dimension `head_dim` over their own
/// tokens, per micro-batch sequence: the diagonal blocks 4 T B d (halved when causal; B at most T) and the
/// inter-block state product and update 4 T d^2.
inline double linear_attention_fwd_flops(double tokens, double heads, double head_dim, bool causal) {
  const double block = tokens < kLinearAttentionBlock ? tokens : kLinearAttentionBlock;
  const double diagonal = (causal ? 2.0 : 4.0) * tokens * block * head_dim;
  return heads * (diagonal + 4.0 * tokens * head_dim * head_dim);
}

}  // namespace spsim::detail

#endif  // SPSIM_MODEL_LINEAR_ATTENTION_H_
