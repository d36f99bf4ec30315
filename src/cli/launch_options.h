// The command line's side of include/spsim/launch.h: reading a launch script or config as the job
// (--from-args, --from-deepspeed, --from-torchtitan, taken by every command that reads a job) and
// writing a plan's launch settings (--emit) and its training time and cost (--train-tokens,
// --gpu-hour-cost), taken by `run`.
#ifndef SPSIM_CLI_LAUNCH_OPTIONS_H_
#define SPSIM_CLI_LAUNCH_OPTIONS_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "spsim/job.h"
#include "spsim/launch.h"
#include "spsim/model.h"
#include "spsim/report.h"

namespace spsim::cli {

/// --from-args / --from-deepspeed / --from-torchtitan.
struct LaunchImportOptions {
  std::string args;        // a Megatron-LM / Megatron-Bridge argument string, or a script file
  std::string deepspeed;   // a DeepSpeed config JSON file
  std::string torchtitan;  // a torchtitan job TOML file
};
void add_launch_import_options(CLI::App* command, LaunchImportOptions& options);

/// A launch input read as a job: what resolve_base uses in place of a --config job.
struct ImportedJob {
  JobConfig job;                   // the settings' job, JobConfig's defaults for what they do not carry
  std::optional<ModelSpec> model;  // the model the settings carry
  std::vector<std::string> notes;  // what was ignored, not carried or read loosely: one line each
};

/// The job the import options name, or nullopt when none is given. `given(flag)` tells whether
/// the user gave a command-line flag: a setting the input leaves to a default spsim does not know
/// (a recipe's, the launcher's) is an InputError unless its flag is given.
std::optional<ImportedJob> read_launch_import(const LaunchImportOptions& options,
                                              const std::function<bool(const char*)>& given);

/// --emit, --train-tokens, --gpu-hour-cost (run).
struct PlanOutputOptions {
  std::string emit;          // megatron | nemo | deepspeed | torchtitan; "" = none
  std::string train_tokens;  // "1T", "300B", "2e12"; "" = none
  double gpu_hour_cost = -1;  // price of one GPU-hour; < 0 = not given
  CLI::App* command = nullptr;
};
/// `with_emit` false: only --train-tokens and --gpu-hour-cost (sweep --best's table).
void add_plan_output_options(CLI::App* command, PlanOutputOptions& options, bool with_emit = true);

/// --train-tokens as a count (0 when not given); InputError for --gpu-hour-cost without it.
double train_tokens(const PlanOutputOptions& options);

/// The framework profile --emit launches ("" without --emit): the prediction of a plan to emit
/// is made for the framework that will run it, unless --framework says otherwise.
std::string emit_framework(const PlanOutputOptions& options);

/// The launch settings of `report`'s plan as --emit prints them (comments naming the prediction).
LaunchSettings emit_report(const PlanOutputOptions& options, const RunReport& report);

/// --train-tokens as a token count: decimal suffixes K, M, B/G, T (1T = 10^12) or a plain number.
double parse_train_tokens(const std::string& text, const std::string& where);

}  // namespace spsim::cli

#endif  // SPSIM_CLI_LAUNCH_OPTIONS_H_
