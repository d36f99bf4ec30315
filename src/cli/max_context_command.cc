// spsim max-context: the longest sequence that fits in GPU memory for a plan (same inputs as run,
// without --seq), or with --best for each strategy over its legal degrees.
#include <cstdio>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/flag_checks.h"
#include "cli/job_options.h"
#include "search/max_context.h"
#include "spsim/engine.h"
#include "spsim/error.h"
#include "spsim/strategy.h"
#include "spsim/units.h"

namespace spsim::cli {

namespace {

nlohmann::json memory_json(const MemoryEstimate& m) {
  return {{"params", m.params},   {"grads", m.grads},     {"optimizer", m.optimizer},
          {"activations", m.activations}, {"buffers", m.buffers}, {"reserve", m.reserve},
          {"peak", m.peak()}};
}

nlohmann::json to_json(const MaxContextResult& r, const Topology& topology) {
  nlohmann::json j;
  j["strategy"] = r.job.strategy;
  j["num_gpus"] = r.job.num_gpus;
  j["tensor_model_parallel_size"] = r.job.tensor_parallel;
  j["ulysses_degree"] = r.job.ulysses_degree;
  j["ring_degree"] = r.job.ring_degree;
  j["data_parallel_size"] = r.job.data_parallel;
  j["pipeline_model_parallel_size"] = r.job.pipeline_parallel;
  j["virtual_pipeline_model_parallel_size"] = r.job.virtual_pipeline_stages;
  j["zero_stage"] = r.job.zero_stage;
  j["recompute_granularity"] = to_string(r.job.recompute);
  j["max_seq_length"] = r.max_seq;
  j["granularity"] = r.granularity;
  j["capped"] = r.capped;
  j["binding_term"] = r.binding_term;
  j["hbm_capacity"] = topology.gpu.hbm_bytes;
  j["memory_at_max"] = memory_json(r.memory);
  j["memory_at_max_plus_granularity"] = memory_json(r.memory_next);
  j["step_time_s"] = r.step_time_s;
  j["tokens_per_s"] = r.tokens_per_s;
  return j;
}

}  // namespace

void add_max_context_command(CLI::App& app) {
  auto options = std::make_shared<JobOptions>();
  auto best = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  auto granularity = std::make_shared<std::string>("1K");
  CLI::App* cmd = app.add_subcommand(
      "max-context", "longest sequence that fits in GPU memory for a plan (or --best per strategy)");
  add_job_options(cmd, *options, false);
  cmd->get_option("--seq")->group("");  // hidden: the sequence is the answer
  cmd->add_flag("--best", *best, "for each strategy (or each given with -s), search its legal "
                "degrees, ZeRO stages and recompute (unless --zero / --recompute fix them) for the "
                "longest context")->group("Search");
  cmd->add_option("--granularity", *granularity, "answer is a multiple of this and of the scheme's "
                  "divisibility (K/M suffixes binary)")->capture_default_str()->group("Search");
  cmd->add_flag("--json", *json, "print JSON")->group("Output");
  cmd->footer(
      "Examples:\n"
      "  spsim max-context -s ring --gpus 32 --zero 3\n"
      "  spsim max-context --best --gpus 64 -m llama-3-70b --recompute full --json");
  cmd->callback([=]() {
    if (cmd->count("--seq") > 0) {
      throw InputError("--seq", "max-context searches the sequence length, so it takes no --seq; "
                                "drop it (use spsim run for a given length)");
    }
    const int64_t base = parse_count(*granularity, "--granularity");
    const auto engine_name = options->engine;
    std::vector<MaxContextResult> results;
    std::vector<std::string> warnings;
    Topology topology;
    if (*best) {
      // Plan without degrees: resolve the common fields once, then search per strategy.
      JobOptions plain = *options;
      plain.strategies = {"ulysses"};
      {
        // A linear-attention model: the placeholder is the first sequence-splitting scheme that
        // can run it (LASP), so the shared fields resolve.
        const ModelSpec probe = resolve_base(plain).model;
        if (!applicability(strategy_traits(plain.strategies.front()), probe).empty()) {
          for (const auto& name : list_strategies()) {
            const StrategyTraits& traits = strategy_traits(name);
            if (traits.splits_sequence && traits.cli_picks_degrees && applicability(traits, probe).empty()) {
              plain.strategies = {name};
              break;
            }
          }
        }
      }
      const Setup setup = resolve_one_setup(plain, "max-context");
      warnings = unmodelled_warnings({setup});
      topology = setup.topology;
      // By default every scheme that splits the sequence (tensor parallelism alone does not).
      std::vector<std::string> strategies;
      if (options->command->count("--strategy") > 0) {
        strategies = applicable_strategies(split_list(options->strategies, "--strategy"), setup.model, nullptr);
      } else {
        for (const auto& name : list_strategies()) {
          const StrategyTraits& traits = strategy_traits(name);
          if (traits.splits_sequence && applicability(traits, setup.model).empty()) strategies.push_back(name);
        }
      }
      JobConfig job = setup.job;
      job.ulysses_degree = job.ring_degree = 1;
      const auto engine = make_engine(setup.engine);
      // ZeRO stage and recompute decide how long a context fits as much as the degrees do: the
      // search varies those the user did not fix (a 405B model fits nothing at ZeRO 0).
      MemoryKnobs knobs;
      if (options->command->count("--zero") == 0) knobs.zero_stages = {0, 1, 2, 3};
      if (options->command->count("--recompute") == 0) {
        knobs.recomputes = {Recompute::kNone, Recompute::kSelective, Recompute::kFull};
      }
      results = max_context_best(setup.model, topology, job, strategies, *engine, base, knobs);
      if (results.empty()) {
        throw InputError("--gpus", fmt::format("no strategy has legal degrees for {} GPUs and model "
                                               "{}; change the GPU count", job.num_gpus,
                                               setup.model.name));
      }
    } else {
      const Setup setup = resolve_one_setup(*options, "max-context");
      warnings = unmodelled_warnings({setup});
      topology = setup.topology;
      const auto engine = make_engine(setup.engine);
      results.push_back(max_context(setup.model, topology, setup.job, *engine, base));
    }
    print_warnings(warnings);
    if (*json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& r : results) out.push_back(to_json(r, topology));
      std::fputs((out.dump(2) + "\n").c_str(), stdout);
      return;
    }
    std::string text = fmt::format("{:<12} {:>5} {:<22} {:<18} {:>10} {:>6} {:>9} {:>8} {:<12} {:>10} {:>10}\n",
                                   "strategy", "gpus", "degrees", "memory", "max_seq", "gran", "peak_GiB",
                                   "HBM_GiB", "binding", "step_ms", "tokens/s");
    for (const auto& r : results) {
      const auto& j = r.job;
      text += fmt::format(
          "{:<12} {:>5} {:<22} {:<18} {:>10} {:>6} {:>9.1f} {:>8.1f} {:<12} {:>10.1f} {:>10.0f}{}\n",
          j.strategy, j.num_gpus,
          fmt::format("t{} u{} r{} dp{}{}{}", j.tensor_parallel, j.ulysses_degree, j.ring_degree,
                      j.data_parallel,
                      j.pipeline_parallel > 1 ? fmt::format(" pp{}", j.pipeline_parallel) : "",
                      j.virtual_pipeline_stages > 1
                          ? fmt::format(" v{}", j.virtual_pipeline_stages) : ""),
          fmt::format("zero{} rc:{}", j.zero_stage, to_string(j.recompute)),
          r.max_seq > 0 ? format_count(r.max_seq) : "none", format_count(r.granularity),
          r.memory.peak() / kGiB, topology.gpu.hbm_bytes / kGiB, r.binding_term,
          r.step_time_s * 1e3, r.tokens_per_s, r.capped ? "  (search cap reached)" : "");
    }
    std::fputs(text.c_str(), stdout);
  });
}

}  // namespace spsim::cli
