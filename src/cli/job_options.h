// Flags shared by run, explain and bench: model, topology, strategy and every JobConfig field,
// with Megatron-LM names and short aliases, or an experiment JSON file (--config).
#ifndef SPSIM_CLI_JOB_OPTIONS_H_
#define SPSIM_CLI_JOB_OPTIONS_H_

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/launch_options.h"
#include "spsim/job.h"
#include "spsim/model.h"
#include "spsim/topology.h"

namespace spsim::cli {

struct JobOptions {
  std::string config_path;
  std::string model = "llama-3-8b";
  std::string topology = "dgx-h100";
  std::string engine = "analytic";
  std::vector<std::string> strategies{"ulysses"};
  std::vector<std::string> gpus{"8"};
  std::vector<std::string> seq{"128K"};
  std::vector<std::string> overrides;  // --set key=value on the topology
  int64_t micro_batch_size = 1, global_batch_size = 0;
  std::string tokens_per_step;  // --tokens-per-step (K/M/G binary); "" = not given
  int64_t tp = 1, ulysses = 1, ring = 1, dp = 0, cp = 0, pp = 1, vpp = 1;
  // Megatron-LM's uneven pipeline layouts (src/pipeline/layout.cc).
  int64_t first_stage_layers = 0, last_stage_layers = 0;
  bool embedding_in_pipeline_split = false, loss_in_pipeline_split = false;
  int zero_stage = 0;
  std::string recompute = "none", precision = "bf16", ring_variant = "zigzag", ring_comm = "p2p";
  std::string attention_kernel = "flash";
  std::string framework, fp8_recipe, attention_impl, elementwise_impl;  // "" = the strategy's usual framework, the framework's recipe
  std::string backward_prefetch;  // --backward-prefetch pre | post; "" = the framework's
  bool no_sequence_parallel = false, no_kv_replication = false, ulysses_overlap = false;
  bool no_causal = false;
  double reserve_gib = -1;
  std::string seq_dist;  // --seq-dist: a file of document lengths, one per line
  std::string loss = "standard", tiled_mlp = "off", offload = "none";  // long-context techniques (spsim/long_context.h)
  LaunchImportOptions launch;  // --from-args / --from-deepspeed / --from-torchtitan: the job instead of --config
  CLI::App* command = nullptr;
};

/// One fully specified configuration to evaluate.
struct Setup {
  ModelSpec model;
  Topology topology;
  JobConfig job;
  std::string engine;
  std::vector<std::string> notes;  // about the inputs (what a launch input ignored), for stderr
};

void add_job_options(CLI::App* command, JobOptions& options, bool multi);

/// Reads an experiment file's text as --config does (model, topology, engine, overrides, job);
/// InputError on anything wrong. The sweep block is check_sweep_block's (sweep_command.cc).
void check_experiment(const std::string& text, const std::string& path);
/// Reads an experiment file's "sweep" block as `spsim sweep --config` does.
void check_sweep_block(const std::string& text, const std::string& path);

/// What every setup of one invocation shares: model, topology (overrides applied), engine, the
/// base job (--config file merged with the flags, validated) and the strategies to run.
struct BaseSetup {
  ModelSpec model;
  Topology topology;
  std::string engine;
  JobConfig job;
  bool from_file = false;  // --config had a "job"
  std::vector<std::string> strategies;
  int64_t tokens_per_step = 0;  // --tokens-per-step; 0: the batch is job.global_batch_size
  std::vector<std::string> notes;  // about the inputs (what a launch input ignored), for stderr
};
BaseSetup resolve_base(const JobOptions& options);

/// expand_strategies, and when `asked` holds "all", without the schemes that cannot run `model`
/// (applicability(): LASP on a softmax model, softmax schemes on a linear one) unless named too;
/// and, for a model with sliding windows, the schemes whose ring has no window with `ring_comm`
/// (window_applicability()); one note in `notes` says which were left out and why. InputError when
/// none is left.
std::vector<std::string> applicable_strategies(const std::vector<std::string>& asked, const ModelSpec& model,
                                               std::vector<std::string>* notes, const std::string& ring_comm);

/// The job of one (strategy, gpus, seq) on top of `base`, degrees as the flags say or, when the
/// user gave none, chosen by `default_degrees`. resolve_setups is resolve_base + this.
/// `degrees_fixed`: the caller set base.job's degrees itself (sweep lists); keep them as they are.
/// `failure`, when given, says why no default degree is legal (left empty when one is).
JobConfig setup_job(const JobOptions& options, const BaseSetup& base, const std::string& strategy,
                    int64_t gpus, int64_t seq, bool degrees_fixed = false, std::string* failure = nullptr);

/// Sequences per step at sequence length `seq`: --tokens-per-step / seq when given (InputError
/// naming --tokens-per-step when seq does not divide it), else base.job.global_batch_size (0: one
/// micro-batch per data-parallel rank).
int64_t global_batch_for(const BaseSetup& base, int64_t seq);

/// The global batch that commands comparing plans (sweep, max-context --best) use when the user
/// gives neither --gbs nor --tokens-per-step: the least common multiple of the GPU counts, in
/// sequences, so that every data-parallel degree of every GPU count divides it. InputError
/// naming --gbs when it is absurdly large (GPU counts with no common structure).
int64_t default_global_batch(const std::vector<int64_t>& gpu_counts);
/// How that default is stated to the user.
inline constexpr const char* kDefaultBatchRule =
    "the least common multiple of the GPU counts, so every data-parallel degree divides it";

/// Whether the user fixed the batch (--gbs, --tokens-per-step, or a global_batch_size in
/// --config's job).
bool batch_given(const JobOptions& options, const BaseSetup& base);

/// What the inputs say that the chosen engine does not model, one sentence each: the model's own
/// warnings (HF sliding window, soft-capping) and, for jobs of `max_gpus` that leave one node, a
/// leaf-spine oversubscription the analytic engine ignores (the DES models it, rail placement
/// included).
std::vector<std::string> unmodelled_warnings(const ModelSpec& model, const Topology& topology,
                                             const std::string& engine, int64_t max_gpus);
/// The warnings of every setup (may repeat; print_warnings prints each once).
std::vector<std::string> unmodelled_warnings(const std::vector<Setup>& setups);
/// Prints each distinct warning of `setups` once to stderr ("spsim: warning: ..."), after the
/// command has succeeded (an error stays the only line).
void warn_unmodelled(const std::vector<Setup>& setups);
void print_warnings(const std::vector<std::string>& warnings);

/// Expands the options (and --config) into setups: strategies x gpus x seq. Degrees the user did
/// not give are chosen by `default_degrees`.
std::vector<Setup> resolve_setups(const JobOptions& options);

/// resolve_setups for a command that takes one configuration: InputError naming `command` when the
/// flags give several (a strategy list or "all", several GPU counts or sequence lengths).
Setup resolve_one_setup(const JobOptions& options, const std::string& command);

/// When the user names no degree, spread the sequence over as many GPUs as the scheme's rules
/// allow (Megatron-SP and the Ulysses part of USP: within one node), the rest data parallel:
/// the largest legal degree, found by asking the strategy itself.
/// When none is legal, `job` gets the largest tried and `failure` (if given) the reason.
void default_degrees(const ModelSpec& model, const Topology& topology, JobConfig& job,
                     bool degree_given, std::string* failure = nullptr);

}  // namespace spsim::cli

#endif  // SPSIM_CLI_JOB_OPTIONS_H_
