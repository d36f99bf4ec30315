#include <cstdio>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/job_options.h"
#include "cli/launch_options.h"
#include "common/atomic_write.h"
#include "common/json_reader.h"
#include "spsim/engine.h"
#include "spsim/error.h"
#include "spsim/report.h"
#include "spsim/training_cost.h"
#include "spsim/units.h"

namespace spsim::cli {

namespace {

// An experiment file with a "sweep" block describes a sweep: `spsim run` runs only its "job".
// Without a job there is nothing of the file's to run (the defaults would run instead): an error.
// With one, a note says what ran and how to run the rest.
std::string config_sweep_note(const JobOptions& options) {
  if (options.config_path.empty()) return "";
  const auto json = detail::parse_json(detail::read_file(options.config_path), options.config_path);
  if (!json.is_object() || !json.contains("sweep")) return "";
  if (!json.contains("job")) {
    throw InputError(options.config_path,
                     fmt::format("has a \"sweep\" block and no \"job\", and spsim run runs one job; run "
                                 "the sweep with spsim sweep --config {}",
                                 options.config_path));
  }
  return fmt::format("note: ran the \"job\" of {} with the flags given; its \"sweep\" block is not run "
                     "here: spsim sweep --config {}",
                     options.config_path, options.config_path);
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto options = std::make_shared<JobOptions>();
  auto json = std::make_shared<bool>(false);
  auto verbose = std::make_shared<bool>(false);
  auto output = std::make_shared<std::string>();
  auto trace = std::make_shared<std::string>();
  auto trace_all = std::make_shared<bool>(false);
  auto all_gpus = std::make_shared<bool>(false);
  auto plan_output = std::make_shared<PlanOutputOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run", "time one training step and its memory, for one or more strategies side by side");
  add_job_options(cmd, *options, true);
  add_plan_output_options(cmd, *plan_output);
  cmd->add_flag("--json", *json, "print JSON (stable keys, SI units) instead of the table")->group("Output");
  cmd->add_option("-o,--output", *output, "also write the JSON to this file (atomically)")->group("Output");
  cmd->add_flag("-v,--verbose", *verbose, "print the per-op and per-collective breakdown of one layer")
      ->group("Output");
  cmd->add_option("--trace", *trace, "des engine: write a Chrome/Perfetto trace to this file")->group("Output");
  cmd->add_flag("--trace-all-gpus", *trace_all, "des engine: one trace process per GPU (default: representatives)")
      ->group("Output");
  cmd->add_flag("--simulate-all-gpus", *all_gpus, "des engine: no symmetry reduction")->group("Output");
  cmd->footer(
      "Examples:\n"
      "  spsim run --strategy all --gpus 8,64 --seq 128K\n"
      "  spsim run -s ulysses -u 8 --gpus 64 --seq 256K --zero 3 --json\n"
      "  spsim run --config experiments/ring-basic-vs-zigzag.json   (its \"job\"; spsim sweep --config runs its sweep)\n"
      "  spsim run -s ring -r 8 --gpus 8 --seq 64K --zero 1 --emit megatron\n"
      "  spsim run --from-args run_llama.sh --train-tokens 1T --gpu-hour-cost 2.5");
  cmd->callback([=]() {
    // A bad -o or --trace fails before the work (D19: -o '' was silently ignored).
    for (const auto& [flag, path] : {std::pair<const char*, std::string>{"--output", *output}, {"--trace", *trace}}) {
      if (cmd->count(flag) == 0) continue;
      if (path.empty()) throw InputError(flag, "an empty path; give a file name");
      check_output_path(path);
    }
    const std::string sweep_note = config_sweep_note(*options);
    // A plan to emit is predicted for the framework that will run it.
    JobOptions job_options = *options;
    if (!plan_output->emit.empty() && !cmd->count("--framework")) job_options.framework = emit_framework(*plan_output);
    const auto setups = resolve_setups(job_options);
    if (!plan_output->emit.empty() && setups.size() != 1) {
      throw InputError("--emit", "launch settings are for one plan; give one strategy, GPU count and sequence");
    }
    const double tokens = train_tokens(*plan_output);
    std::vector<RunReport> reports;
    EngineOptions engine_options;
    engine_options.trace_path = *trace;
    engine_options.trace_all_gpus = *trace_all;
    engine_options.simulate_all_gpus = *all_gpus;
    if (!trace->empty() && setups.size() != 1) {
      throw InputError("--trace", "a trace needs exactly one configuration; give one strategy, GPU count and sequence");
    }
    for (const auto& setup : setups) {
      const auto engine = make_engine(setup.engine);
      reports.push_back(evaluate(setup.model, setup.topology, setup.job, *engine, engine_options));
    }
    std::vector<TrainingCost> costs;
    for (const auto& r : reports) {
      if (tokens > 0) {
        costs.push_back(training_cost(r.result.step_time_s, static_cast<double>(r.lowered.graph.tokens_per_step),
                                      r.lowered.job.num_gpus, tokens, plan_output->gpu_hour_cost));
      }
    }
    std::optional<LaunchSettings> launch;
    if (!plan_output->emit.empty()) launch = emit_report(*plan_output, reports.front());
    nlohmann::json out = nlohmann::json::array();
    for (size_t i = 0; i < reports.size(); ++i) {
      nlohmann::json one = to_json(reports[i]);
      if (!costs.empty()) one["training"] = to_json(costs[i]);
      out.push_back(std::move(one));
    }
    if (reports.size() == 1) out = nlohmann::json(out.front());
    if (launch) out["launch"] = to_json(*launch);
    const std::string text = out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    if (!output->empty()) write_file_atomically(*output, text);
    if (!sweep_note.empty()) std::fprintf(stderr, "%s\n", sweep_note.c_str());
    warn_unmodelled(setups);
    if (*json) {
      std::fputs(text.c_str(), stdout);
    } else if (launch) {
      std::fputs(launch->text.c_str(), stdout);
    } else {
      std::fputs(format_table(reports).c_str(), stdout);
      for (size_t i = 0; i < costs.size(); ++i) {
        const JobConfig& job = reports[i].lowered.job;
        std::fputs(fmt::format("{} {} GPUs {}: {}\n", job.strategy, job.num_gpus, format_count(job.seq_length),
                               format_training_cost(costs[i]))
                       .c_str(),
                   stdout);
      }
      if (*verbose) {
        for (const auto& r : reports) std::fputs(("\n" + format_explain(r)).c_str(), stdout);
      }
    }
    // After the output, so that an error leaves nothing but its one line; stdout first, so that
    // with 2>&1 the notes never land inside a table row.
    std::fflush(stdout);
    if (!trace->empty()) {
      std::fprintf(stderr, "wrote %s (Chrome trace: ui.perfetto.dev or chrome://tracing)\n", trace->c_str());
    }
    if (!output->empty()) std::fprintf(stderr, "wrote %s\n", output->c_str());
    if (launch) {
      for (const auto& note : launch->notes) std::fprintf(stderr, "spsim: note: %s\n", note.c_str());
    }
    for (const auto& note : setups.front().notes) std::fprintf(stderr, "spsim: note: %s\n", note.c_str());
  });
}

void add_explain_command(CLI::App& app) {
  auto options = std::make_shared<JobOptions>();
  CLI::App* cmd = app.add_subcommand(
      "explain", "show every op and collective of one layer with its FLOP, bytes and time");
  add_job_options(cmd, *options, false);
  cmd->footer("Example:\n  spsim explain --strategy ulysses -u 8 --gpus 8 --seq 128K");
  cmd->callback([=]() {
    const Setup setup = resolve_one_setup(*options, "explain");
    const auto engine = make_engine(setup.engine);
    const auto report = evaluate(setup.model, setup.topology, setup.job, *engine);
    std::fputs(format_table({report}).c_str(), stdout);
    std::fputs(("\n" + format_explain(report)).c_str(), stdout);
  });
}

}  // namespace spsim::cli
