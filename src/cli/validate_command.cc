// `spsim validate`: run the shipped validation set of published, measured training results and
// report how far spsim's predictions are from them (README "How accurate is spsim").
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.h"
#include "common/atomic_write.h"
#include "common/json_reader.h"
#include "spsim/error.h"
#include "spsim/validate.h"

namespace spsim::cli {

namespace {

struct ValidateFlags {
  std::string dir;
  ValidateOptions options;
  bool json = false, summary_only = false;
  std::string output_dir, check_baseline, write_baseline;
};

}  // namespace

void add_validate_command(CLI::App& app) {
  auto f = std::make_shared<ValidateFlags>();
  CLI::App* cmd = app.add_subcommand(
      "validate", "predict every published run of the validation set and report the error");
  cmd->add_option("--set-dir", f->dir, "validation set folder (holds sources/*.json; default: the shipped one)")
      ->group("Input");
  cmd->add_option("--engine", f->options.engine, "analytic or des")->capture_default_str()->group("Input");
  cmd->add_option("--set", f->options.overrides,
                  "override a field of every topology, e.g. --set gpu.gemm_efficiency=0.7 (repeatable)")
      ->group("Input");
  cmd->add_option("-T,--topology", f->options.topology_swaps,
                  "NAME=PATH: rows on topology NAME use PATH; PATH alone: rows whose GPU has PATH's GPU "
                  "name use PATH (e.g. a calibrated file)")
      ->group("Input");
  cmd->add_option("--source", f->options.sources, "only these sources (comma list of keys)")
      ->delimiter(',')->group("Input");
  cmd->add_flag("--json", f->json, "print the rows and summary as JSON")->group("Output");
  cmd->add_flag("--summary", f->summary_only, "print the summary only, not the row table")->group("Output");
  cmd->add_option("-o,--output", f->output_dir,
                  "write validation.csv, validation.json and the figures (predicted_vs_measured, "
                  "error_vs_seq) into this folder")
      ->group("Output");
  cmd->add_option("--check-baseline", f->check_baseline,
                  "compare the summary with this baseline (validation/baseline.json); exit 1 if any "
                  "error grows or agreement drops by more than one point")
      ->group("Output");
  cmd->add_option("--write-baseline", f->write_baseline, "write the summary as a baseline file")
      ->group("Output");
  cmd->footer(
      "Metrics are compared in the source's own terms (its FLOP convention, its MFU peak). Rows spsim\n"
      "cannot express are counted as unsupported/incomplete with the reason. See validation/README.md.\n"
      "Examples:\n"
      "  spsim validate --summary\n"
      "  spsim validate --source tt2412,mbridge -o out/validation\n"
      "  spsim validate -T topologies/calibrated/dgx-h100-nccl-tests.json --summary");
  cmd->callback([f]() {
    const std::string dir = f->dir.empty() ? default_validation_dir() : f->dir;
    nlohmann::json baseline;
    if (!f->check_baseline.empty()) {
      baseline = detail::parse_json(detail::read_file(f->check_baseline), f->check_baseline);
      if (!baseline.is_object()) throw InputError(f->check_baseline, "expected a baseline object");
    }
    const ValidationSet set = load_validation_set(dir);
    const auto results = run_validation(set, f->options);
    const ValidationSummary summary = summarize(results, f->options.engine);
    const nlohmann::json json = validation_json(results, summary);
    if (!f->output_dir.empty()) {
      namespace fs = std::filesystem;
      std::error_code ec;
      fs::create_directories(f->output_dir, ec);
      if (ec) throw InputError("-o", fmt::format("cannot create folder {} ({})", f->output_dir, ec.message()));
      const std::string json_path = (fs::path(f->output_dir) / "validation.json").string();
      write_file_atomically((fs::path(f->output_dir) / "validation.csv").string(), validation_csv(results));
      write_file_atomically(json_path, json.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
      run_plot_script("spsim_validate_plot.py", json_path, f->output_dir);
    }
    if (!f->write_baseline.empty()) {
      write_file_atomically(f->write_baseline, baseline_of(summary).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    }
    if (f->json) {
      std::fputs((json.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n").c_str(), stdout);
    } else {
      if (!f->summary_only) std::fputs((format_validation_table(results) + "\n").c_str(), stdout);
      std::fputs(format_validation_summary(summary).c_str(), stdout);
    }
    if (!f->check_baseline.empty()) {
      const auto worse = compare_to_baseline(summary, baseline);
      if (!worse.empty()) {
        std::string text;
        for (const auto& w : worse) text += "\n  " + w;
        std::fprintf(stderr, "spsim: validation is worse than %s:%s\n", f->check_baseline.c_str(), text.c_str());
        std::fflush(stdout);
        std::exit(1);
      }
      std::fprintf(stderr, "spsim: validation is no worse than %s\n", f->check_baseline.c_str());
    }
  });
}

}  // namespace spsim::cli
