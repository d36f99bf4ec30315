// spsim command line: one verb per concern. Every error is one line on stderr and exit code 2.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/commands.h"
#include "spsim/error.h"

int main(int argc, char** argv) {
  CLI::App app{"spsim: simulator and cost model for sequence-parallel Transformer training\n"
               "(DeepSpeed-Ulysses, Megatron-SP, Ring attention, USP) on real GPU clusters."};
  app.set_version_flag("--version", fmt::format("spsim {} ({})", SPSIM_VERSION, SPSIM_GIT_COMMIT));
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  spsim run --strategy all --gpus 8,64 --seq 128K\n"
      "  spsim run -m llama-3-70b -T dgx-h100 --strategy usp -u 8 -r 4 --gpus 32 --seq 256K --json\n"
      "  spsim explain --strategy ring --gpus 8 --seq 128K\n"
      "  spsim sweep --best -o out/sweep --plot out/plots\n"
      "  spsim validate\n"
      "  spsim list models");
  spsim::cli::add_run_command(app);
  spsim::cli::add_explain_command(app);
  spsim::cli::add_list_command(app);
  spsim::cli::add_bench_command(app);
  spsim::cli::add_calibrate_command(app);
  spsim::cli::add_sweep_command(app);
  spsim::cli::add_plot_command(app);
  spsim::cli::add_attention_command(app);
  spsim::cli::add_max_context_command(app);
  spsim::cli::add_validate_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 exits 100-127 on bad flags; spsim's contract is exit 2 for any bad input.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  } catch (const spsim::InputError& e) {
    std::fprintf(stderr, "spsim: error: %s\n", e.full().c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "spsim: error: %s\n", e.what());
    return 3;
  }
  return 0;
}
