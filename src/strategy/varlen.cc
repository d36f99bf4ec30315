// Variable-length batches on a plan: which token split the scheme's attention uses, and the
// factor its attention FLOP take from the job's document-length distribution.
//
// Megatron CP / TransformerEngine split a sample into 2 cp chunks and give rank i chunks i and
// 2cp-1-i (megatron/training/utils.py get_batch_on_this_cp_rank); Llama 3's all-gather CP uses
// the same 2 x CP chunks (arXiv 2407.21783 §3.3.2). That zigzag balances one causal document: with
// many short documents the busiest rank is set by where the documents fall. Ulysses and Megatron
// TP split heads, so every rank computes every document (balanced).
#include <fmt/format.h>

#include "spsim/strategy.h"
#include "strategy/lowering.h"

namespace spsim {

TokenSplit token_split(const JobConfig& job, int64_t* ranks) {
  if (job.ring_degree <= 1) {
    if (ranks != nullptr) *ranks = 1;
    return TokenSplit::kHeads;
  }
  if (ranks != nullptr) *ranks = job.ring_degree;
  if (job.ring_variant == "basic") return TokenSplit::kContiguous;
  if (job.ring_variant == "stripe") return TokenSplit::kStripe;
  return TokenSplit::kZigzag;
}

VarlenBalance job_varlen_balance(const JobConfig& job) {
  if (!job.seq_dist) return VarlenBalance{};
  int64_t ranks = 1;
  const TokenSplit split = token_split(job, &ranks);
  return varlen_balance(*job.seq_dist, job.seq_length, ranks, split, job.causal);
}

namespace detail {

double varlen_attention_scale(const JobConfig& job) {
  // A standard (non-flash) kernel computes and masks the whole score matrix: a document mask
  // saves it nothing. Flash varlen kernels (flash_attn_varlen_func, TE THD) skip other documents.
  if (!job.seq_dist || job.attention_kernel != AttentionKernel::kFlash) return 1.0;
  return job_varlen_balance(job).work_scale;
}

}  // namespace detail

}  // namespace spsim
