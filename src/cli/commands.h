// The subcommands of the spsim CLI. Each file src/cli/<name>_command.cc adds one subcommand to the
// app; its callback does the work and throws InputError on bad input (main.cc prints one line
// "spsim: error: <where>: <what>" and exits 2).
#ifndef SPSIM_CLI_COMMANDS_H_
#define SPSIM_CLI_COMMANDS_H_

#include <string>

#include <CLI/CLI.hpp>

namespace spsim::cli {

/// The whole command line: parses `argv`, runs the command, prints any error as one line.
/// Returns the exit code: 0, 2 (bad input) or 3 (a bug in spsim). `version` is --version's text.
int run_cli(int argc, const char* const* argv, const std::string& version);

void add_run_command(CLI::App& app);        // run_command.cc: one configuration, table/JSON
void add_list_command(CLI::App& app);       // list_command.cc: models, topologies, strategies
void add_explain_command(CLI::App& app);    // explain_command.cc: per-op breakdown of one layer
void add_bench_command(CLI::App& app);      // bench_command.cc: analytic / des throughput
void add_calibrate_command(CLI::App& app);  // calibrate_command.cc: nccl-tests/microbench -> topology
void add_sweep_command(CLI::App& app);      // sweep_command.cc: grids, --best plan search
void add_plot_command(CLI::App& app);       // plot_command.cc: PNG + SVG from a sweep result

/// Runs plots/spsim_plot.py on a sweep result (CSV or JSON) with the system python3, writing
/// the figures into `out_dir`. InputError when python3/matplotlib are missing or it fails.
void run_plot_script(const std::string& result_path, const std::string& out_dir);
/// The same for another script of plots/ (e.g. spsim_validate_plot.py).
void run_plot_script(const std::string& script_name, const std::string& result_path,
                     const std::string& out_dir);
void add_attention_command(CLI::App& app);  // attention_command.cc: attention-only benchmark runs
void add_max_context_command(CLI::App& app);  // max_context_command.cc: longest sequence that fits
void add_compare_command(CLI::App& app);    // compare_command.cc: two predictions side by side
void add_validate_command(CLI::App& app);   // validate_command.cc: predictions vs published runs

}  // namespace spsim::cli

#endif  // SPSIM_CLI_COMMANDS_H_
