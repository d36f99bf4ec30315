// The spsim command line as a function, so that main() and the CLI fuzz target run the same code.
// Exit codes: 0 success, 2 anything the input caused (one line "spsim: error: ..."), 3 a bug in
// spsim (one line that says so and asks for a report).
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <new>
#include <string>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "spsim/error.h"

namespace spsim::cli {

namespace {

// CLI11's messages are sentences ("The following arguments were not expected: x"), some on two
// lines; spsim's style is one lowercase line.
std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '.')) text.pop_back();
  if (text.size() > 1 && std::isupper(static_cast<unsigned char>(text[0])) &&
      (std::islower(static_cast<unsigned char>(text[1])) || text[1] == ' ')) {
    text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  }
  return text;
}

void print_error(const std::string& line) { std::fprintf(stderr, "spsim: error: %s\n", line.c_str()); }

// "spsim" or "spsim run": the command whose --help the user should read.
std::string command_path(CLI::App& app) {
  std::string path = "spsim";
  CLI::App* current = &app;
  while (true) {
    const auto selected = current->get_subcommands();
    if (selected.empty()) break;
    current = selected.front();
    path += " " + current->get_name();
  }
  return path;
}

}  // namespace

int run_cli(int argc, const char* const* argv, const std::string& version) {
  CLI::App app{"spsim: simulator and cost model for sequence-parallel Transformer training\n"
               "(DeepSpeed-Ulysses, Megatron-SP, Ring attention, USP) on real GPU clusters."};
  app.set_version_flag("--version", version);
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  spsim run --strategy all --gpus 8,64 --seq 128K\n"
      "  spsim run -m llama-3-70b -T dgx-h100 --strategy usp -u 8 -r 4 --gpus 32 --seq 256K --json\n"
      "  spsim explain --strategy ring --gpus 8 --seq 128K\n"
      "  spsim sweep --best -o out/sweep --plot out/plots\n"
      "  spsim validate\n"
      "  spsim list models");
  add_run_command(app);
  add_explain_command(app);
  add_list_command(app);
  add_bench_command(app);
  add_calibrate_command(app);
  add_sweep_command(app);
  add_plot_command(app);
  add_attention_command(app);
  add_max_context_command(app);
  add_validate_command(app);
  add_compare_command(app);
  try {
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      names.push_back(sub->get_name());
    }
    if (argc > 1 && argv[1][0] != '-' && std::find(names.begin(), names.end(), argv[1]) == names.end()) {
      const std::string hint = closest_match(argv[1], names);
      throw InputError("", fmt::format("unknown command \"{}\"; {}see spsim --help", argv[1],
                                            hint.empty() ? "" : fmt::format("did you mean \"{}\"? ", hint)));
    }
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" that exit 0 after printing.
    if (e.get_exit_code() == 0) return app.exit(e);
    print_error(fmt::format("{}; see {} --help", one_line(e.what()), command_path(app)));
    return 2;
  } catch (const InputError& e) {
    print_error(one_line(e.full()));
    return 2;
  } catch (const std::bad_alloc&) {
    print_error("out of memory: this input needs more memory than the machine has; use fewer GPUs, "
                "points or micro-batches (README \"Limits and errors\")");
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {
    print_error(one_line(e.what()));
    return 2;
  } catch (const std::exception& e) {
    // Library code reports bad input as InputError, so anything else is a bug in spsim.
    std::string what = one_line(e.what());
    if (what.rfind("internal error: ", 0) == 0) what = what.substr(16);
    std::fprintf(stderr,
                 "spsim: internal error: %s; this is a bug in spsim, please report it with the "
                 "command line and the output of spsim --version\n",
                 what.c_str());
    return 3;
  }
  return 0;
}

}  // namespace spsim::cli
