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
  int64_t tp = 1, ulysses = 1, ring = 1, dp = 0, cp = 0, pp = 1, vpp = 1;
  // Megatron-LM's uneven pipeline layouts (src/pipeline/layout.cc).
  int64_t first_stage_layers = 0, last_stage_layers = 0;
  bool embedding_in_pipeline_split = false, loss_in_pipeline_split = false;
  int zero_stage = 0;
  std::string recompute = "none", precision = "bf16", ring_variant = "zigzag", ring_comm = "p2p";
  std::string attention_kernel = "flash";
  std::string framework, fp8_recipe, attention_impl;  // "" = the strategy's usual framework, the framework's recipe
  bool no_sequence_parallel = false, no_kv_replication = false, ulysses_overlap = false;
  bool no_causal = false;
  double reserve_gib = -1;
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

/// What every setup of one invocation shares: model, topology (overrides applied), engine, the
/// base job (--config file merged with the flags, validated) and the strategies to run.
struct BaseSetup {
  ModelSpec model;
  Topology topology;
  std::string engine;
  JobConfig job;
  bool from_file = false;  // --config had a "job"
  std::vector<std::string> strategies;
  std::vector<std::string> notes;  // about the inputs (what a launch input ignored), for stderr
};
BaseSetup resolve_base(const JobOptions& options);

/// The job of one (strategy, gpus, seq) on top of `base`, degrees as the flags say or, when the
/// user gave none, chosen by `default_degrees`. resolve_setups is resolve_base + this.
/// `degrees_fixed`: the caller set base.job's degrees itself (sweep lists); keep them as they are.
JobConfig setup_job(const JobOptions& options, const BaseSetup& base, const std::string& strategy,
                    int64_t gpus, int64_t seq, bool degrees_fixed = false);

/// Expands the options (and --config) into setups: strategies x gpus x seq. Degrees the user did
/// not give are chosen by `default_degrees`.
std::vector<Setup> resolve_setups(const JobOptions& options);

/// When the user names no degree, spread the sequence over as many GPUs as the scheme's rules
/// allow (Megatron-SP and the Ulysses part of USP: within one node), the rest data parallel:
/// the largest legal degree, found by asking the strategy itself.
void default_degrees(const ModelSpec& model, const Topology& topology, JobConfig& job,
                     bool degree_given);

}  // namespace spsim::cli

#endif  // SPSIM_CLI_JOB_OPTIONS_H_
