// Longest-context search: the longest sequence whose per-GPU memory fits the GPU's HBM for a plan,
// or for each strategy over its legal degrees. Internal to spsim_core; `spsim max-context` is its
// front end.
#ifndef SPSIM_SEARCH_MAX_CONTEXT_H_
#define SPSIM_SEARCH_MAX_CONTEXT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "spsim/engine.h"
#include "spsim/job.h"
#include "spsim/memory.h"
#include "spsim/model.h"
#include "spsim/topology.h"

namespace spsim {

/// Largest sequence the search tries: job_from_json's bound on seq_length (2^34 tokens).
inline constexpr int64_t kMaxContextCap = int64_t{1} << 34;

struct MaxContextResult {
  JobConfig job;            // resolved plan; seq_length = max_seq (the input's when max_seq is 0)
  int64_t granularity = 0;  // the answer is a multiple of this
  int64_t max_seq = 0;      // 0: not even one granule fits
  bool capped = false;      // still fits at kMaxContextCap
  MemoryEstimate memory;    // at max_seq
  MemoryEstimate memory_next;  // at max_seq + granularity (does not fit unless capped)
  /// The memory term that grows most from max_seq to max_seq + granularity: the one that makes
  /// the next granule not fit ("activations", "buffers", ...).
  /// "min tokens/s" or "max step time" when a throughput limit, not memory, ends the search;
  /// "rule: FIELD" when a rule refuses the next granule (a ring past a sliding window).
  std::string binding_term;
  double step_time_s = 0;   // engine's step time at max_seq (0 when max_seq is 0)
  double tokens_per_s = 0;
};

/// What a usable answer must meet besides fitting the HBM (issue 16: a context that fits but
/// trains at a few hundred tokens/s is not an answer). 0 leaves a limit off.
struct MaxContextLimits {
  double memory_bytes = 0;      // per-GPU memory the plan may use (HBM minus --headroom); 0: HBM
  double min_tokens_per_s = 0;  // --min-tokens-per-s
  double max_step_time_s = 0;   // --max-step-time
  bool throughput_limited() const { return min_tokens_per_s > 0 || max_step_time_s > 0; }
};

/// Sequence granularity of a plan: lcm(base, the scheme's divisibility): u·r (x t with
/// Megatron-SP), and 2·r·u for causal zigzag rings.
int64_t sequence_granularity(const JobConfig& job, int64_t base);

/// Longest sequence (a multiple of the granularity) whose peak memory fits topology.gpu.hbm_bytes
/// (or limits.memory_bytes), for the plan `job` (its seq_length is ignored), and, with a
/// throughput limit, whose step meets it: step time grows with the length at a fixed batch, and
/// tokens/s rises at short lengths and falls once attention (quadratic in s) dominates, so
/// doubling lengths are scanned up to the first miss above a length that meets the limit, and the
/// answer bisected between them (a lower bound if tokens/s had several peaks). Throws the
/// strategy's InputError when the plan is illegal whatever the length.
MaxContextResult max_context(const ModelSpec& model, const Topology& topology, const JobConfig& job,
                             const Engine& engine, int64_t base_granularity,
                             const MaxContextLimits& limits = {});

/// The memory knobs a --best search varies besides the degrees: each list empty keeps the job's.
struct MemoryKnobs {
  std::vector<int> zero_stages;
  std::vector<Recompute> recomputes;
  // Long-context techniques (spsim/long_context.h): losses ("standard", "chunked:8", ...) and
  // tiled-MLP settings (0 off, -1 auto) to try.
  std::vector<std::string> losses;
  std::vector<int64_t> tiled_mlps;
  // Offloads to try (spsim/long_context.h set_offload text: "none", "optimizer,activations").
  std::vector<std::string> offloads;
  // Frameworks to try ("" = the job's, or the strategy's usual one): a technique runs only under
  // a framework whose training code has it (FrameworkProfile::loss_kinds, tiled_mlp).
  std::vector<std::string> frameworks;
};

/// For each strategy in `strategies`, the legal degrees (t x u x r x dp x p = GPUs; Megatron t and
/// the Ulysses part of USP within a node; p the job's when > 1, else every p dividing the GPUs and
/// the layers), ZeRO stage and recompute (from `knobs`) with the longest context, ties broken by
/// tokens/s (plans of different dp run different batches, so not by step time). The plan's other
/// fields (micro-batch, batch, ...) are kept. Strategies with no legal plan are left out, and
/// `unanswered` (when given) gets one line per such strategy saying why: no legal degrees for the
/// GPU count, no degrees whose data parallelism divides the batch, or the model's rule they break.
std::vector<MaxContextResult> max_context_best(const ModelSpec& model, const Topology& topology,
                                               const JobConfig& job,
                                               const std::vector<std::string>& strategies,
                                               const Engine& engine, int64_t base_granularity,
                                               const MemoryKnobs& knobs = {},
                                               const MaxContextLimits& limits = {},
                                               std::vector<std::string>* unanswered = nullptr);

}  // namespace spsim

#endif  // SPSIM_SEARCH_MAX_CONTEXT_H_
