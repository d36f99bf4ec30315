// Attention-only runs: the attention core of one layer (optionally with the QKV and output
// projections), forward and forward+backward, for a given shape and sequence-parallel plan. This
// is how the ring-attention and USP libraries publish their benchmarks (iterations/s and TFLOP/s
// under the FlashAttention convention), so users compare like with like. Internal to spsim_core;
// the `spsim attention` subcommand is its front end.
#ifndef SPSIM_ATTENTION_ATTENTION_ONLY_H_
#define SPSIM_ATTENTION_ATTENTION_ONLY_H_

#include <cstdint>
#include <string>

#include "spsim/engine.h"
#include "spsim/model.h"
#include "spsim/result.h"
#include "spsim/task_graph.h"
#include "spsim/topology.h"

namespace spsim {

/// The attention problem, as the FlashAttention / ring-flash-attention benchmarks state it.
struct AttentionShape {
  int64_t heads = 32;       // query heads (whole problem, before any split)
  int64_t kv_heads = 0;     // 0: same as heads (MHA)
  int64_t head_dim = 128;
  int64_t batch = 1;
  int64_t seq = 131072;     // global sequence length
  bool causal = true;
  bool projections = false; // also time the QKV and output projections (hidden = heads x head_dim)
  // A query attends to at most this many keys, the latest (a windowed layer: Mistral, Gemma-2/3,
  // Phi-3); 0: the whole causal prefix. The FLOP reported are the window's.
  int64_t sliding_window = 0;
  Precision precision = Precision::kBf16;
};

/// How the attention is split: a strategy plug-in and its degrees (GPUs = t x u x r).
struct AttentionPlan {
  std::string strategy = "ulysses";
  int64_t tensor_parallel = 1;
  int64_t ulysses_degree = 1;
  int64_t ring_degree = 1;
  std::string ring_variant = "zigzag";
  std::string ring_comm = "p2p";
  bool kv_replication = true;
  /// "" = the scheme's usual framework and that framework's attention kernel (as spsim run does).
  std::string framework;
  std::string attention_impl;  // "standard": the unfused kernel (ColAI-SP), which no impl changes  // cudnn | flash2 | triton
};

struct AttentionRun {
  int64_t num_gpus = 1;
  std::string framework;       // the framework and kernel that were timed (resolved defaults)
  std::string attention_impl;
  StepResult forward;          // forward only
  StepResult forward_backward; // forward then backward
  /// FlashAttention convention, whole problem (all GPUs): 4 b s^2 heads d_h, halved when causal.
  double fwd_flops = 0;
  double bwd_flops = 0;        // 2.5 x fwd_flops
  /// QKV and output projection GEMM FLOP, whole problem (0 without projections); bwd = 2 x fwd.
  double projection_fwd_flops = 0;
  double comm_fwd_bytes = 0;   // bytes one GPU sends in the forward
  double comm_bwd_bytes = 0;   // ... and in the backward
};

/// FLOP of one attention forward by the FlashAttention benchmark convention
/// (benchmarks/benchmark_flash_attention.py): 4 b s^2 heads d_h / (2 if causal).
double flash_attention_fwd_flops(int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
                                 bool causal);

/// Checks the shape against the plan (InputErrors name the flag: --heads, --kv-heads, --seq, ...)
/// and times the attention with `engine`.
AttentionRun run_attention_only(const AttentionShape& shape, const AttentionPlan& plan,
                                const Topology& topology, const Engine& engine);

/// The attention part of a lowered layer segment: the tasks strictly between the ops named
/// `after` and `before` (first `after`, first `before` following it), with dependencies on dropped
/// tasks replaced by those tasks' own surviving dependencies. Exposed for tests.
Segment carve_segment(const Segment& segment, const char* after, const char* before);

}  // namespace spsim

#endif  // SPSIM_ATTENTION_ATTENTION_ONLY_H_
