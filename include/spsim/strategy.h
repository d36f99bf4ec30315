// Strategy: a way to split one training step across GPUs. Each scheme is a plug-in that checks
// its rules and lowers the step to a TaskGraph (and its memory); engines never see a strategy.
#ifndef SPSIM_STRATEGY_H_
#define SPSIM_STRATEGY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "spsim/job.h"
#include "spsim/memory.h"
#include "spsim/model.h"
#include "spsim/pipeline.h"
#include "spsim/sequence_distribution.h"
#include "spsim/task_graph.h"

namespace spsim {

struct LoweredStep {
  JobConfig job;            // resolved: derived degrees filled in
  TaskGraph graph;          // p = 1: the step; p > 1: the first stage's program (no bubble)
  MemoryEstimate memory;    // p > 1: the stage with the larger peak (pipeline.memory_stage)
  PipelinePlan pipeline;    // p > 1: the pieces the schedule composes
};

/// What a scheme is made of, so that commands, sweeps and searches read flags instead of testing
/// its name. A scheme's own degrees are the sequence-parallel ones it adds (u, r or both); a
/// scheme with neither is tensor parallelism alone, whose own degree is t.
struct StrategyTraits {
  const char* name;
  bool uses_tensor;      // takes tensor_model_parallel_size > 1 (inside Ulysses / ring / USP)
  bool uses_ulysses;     // takes ulysses_degree > 1
  bool uses_ring;        // takes ring_degree > 1
  bool splits_sequence;  // a sequence's activations are split over its ranks (max-context --best)
  bool in_all;           // one of `--strategy all`, the schemes compared side by side
  /// Whether run, sweep and bench choose this scheme's degrees from the flags above (largest legal
  /// default, --cp, --dp, degree lists, and a best-plan search over its own degrees only). When
  /// false, as for the colai-sp baseline, the plug-in derives its degree (every GPU not used by
  /// the others) and the best-plan search tries every degree, letting the scheme's rules reject.
  bool cli_picks_degrees;
  /// The scheme parallelizes linear-attention layers (LASP, LASP-2): it needs a model with some,
  /// and the softmax-only schemes refuse a model that has any (applicability()).
  bool linear_attention = false;
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  /// Static data: the reference outlives the plug-in.
  virtual const StrategyTraits& traits() const = 0;
  const char* name() const { return traits().name; }
  /// One line for `spsim list strategies`, with the Megatron --cp-comm-type equivalent.
  virtual const char* description() const = 0;
  /// Checks every constraint of the scheme (each InputError names the rule and the fix) and
  /// returns the job the lowering runs: degrees derived, data_parallel and global_batch_size
  /// filled. Cheap: no task graph. `job.strategy` is ignored: the plug-in is the strategy.
  virtual JobConfig check(const ModelSpec& model, const JobConfig& job) const = 0;
  /// check(), then lowers one step.
  virtual LoweredStep lower(const ModelSpec& model, const JobConfig& job) const = 0;
};

/// Throws InputError with a "did you mean" for an unknown name.
std::unique_ptr<Strategy> make_strategy(std::string_view name);
/// Registered names, in the order of `spsim list strategies`.
std::vector<std::string> list_strategies();
/// The traits of a registered scheme; InputError with a "did you mean" for an unknown name.
const StrategyTraits& strategy_traits(std::string_view name);
/// `names` with "all" replaced by the schemes whose traits say in_all, in registry order; every
/// other name must be registered (InputError with a "did you mean" otherwise).
std::vector<std::string> expand_strategies(const std::vector<std::string>& names);

/// Why the scheme cannot run `model` at all ("" when it can): LASP needs linear-attention layers,
/// the softmax schemes model softmax attention only. `--strategy all` leaves such schemes out
/// and says why; naming one explicitly is an InputError with this reason.
std::string applicability(const StrategyTraits& traits, const ModelSpec& model);

/// Why the scheme is left out of `--strategy all` and the searches' default lists for a model
/// with sliding-window layers ("" when it is not): its ring passes K,V step by step (ring with
/// `ring_comm` p2p, USP, ColAI-SP), which no framework spsim models runs with a window (rules.cc
/// check_sliding_window refuses such a plan once the sequence is longer than the window).
std::string window_applicability(const StrategyTraits& traits, const ModelSpec& model, const std::string& ring_comm);

/// Whether `job`'s degrees make it a plan of the scheme `traits` describes rather than a simpler
/// scheme's plan under another name: every sequence-parallel degree the scheme adds is above 1
/// (USP: u > 1 and r > 1, since USP with u = 1 is ring and with r = 1 Ulysses; Ulysses: u > 1;
/// ring: r > 1) and a tensor-parallel-only scheme has t > 1. A scheme with no degree of its own
/// (dp) and one whose plug-in derives its degree (colai-sp) always pass. Best-plan searches keep
/// only these, so one plan has one name.
bool is_own_plan(const StrategyTraits& traits, const JobConfig& job);
/// The registered scheme (cli_picks_degrees) whose own plan `job`'s degrees are: u and r above 1
/// USP, u alone Ulysses, r alone ring, t alone Megatron-SP (or -TP without sequence_parallel),
/// none dp. Empty when no registered scheme matches.
std::string scheme_of_plan(const JobConfig& job);

/// Ways one sequence is split over the ranks of a plan: u r, times t with Megatron sequence
/// parallelism (t > 1 and job.sequence_parallel). seq_length must be a multiple of it.
int64_t sequence_split(const JobConfig& job);
/// Whether the plan balances a causal ring by zigzag chunks, so that seq_length must also be a
/// multiple of 2 r u.
bool zigzag_split(const JobConfig& job);
/// The sequence lengths the plan's rules accept are the multiples of this: sequence_split,
/// with 2 r u for a causal zigzag ring (their least common multiple).
int64_t sequence_granularity(const JobConfig& job);

/// How the plan splits a sample's query tokens over the ranks that share its attention, and over
/// how many (`ranks`): a ring (ring, USP's ring part, all-gather CP, ColAI-SP) by its variant over
/// r ranks; Ulysses and Megatron TP split heads, so every rank sees every token.
TokenSplit token_split(const JobConfig& job, int64_t* ranks);
/// The job's variable-length load (job.seq_dist) on its token split; a neutral VarlenBalance
/// (every factor 1) when the job has no distribution.
VarlenBalance job_varlen_balance(const JobConfig& job);

}  // namespace spsim

#endif  // SPSIM_STRATEGY_H_
