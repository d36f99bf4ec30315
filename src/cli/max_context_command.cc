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
#include "spsim/long_context.h"
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

// The long-context techniques a plan uses, for the --techniques column: "-" when none.
std::string techniques_used(const JobConfig& job) {
  std::string out;
  if (job.loss != "standard") out = "loss:" + job.loss;
  if (job.tiled_mlp != 0) out += std::string(out.empty() ? "" : ",") + "tiled-mlp:" + tiled_mlp_name(job.tiled_mlp);
  return out.empty() ? "-" : out;
}

}  // namespace

void add_max_context_command(CLI::App& app) {
  auto options = std::make_shared<JobOptions>();
  auto best = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  auto granularity = std::make_shared<std::string>("1K");
  auto techniques = std::make_shared<bool>(false);
  CLI::App* cmd = app.add_subcommand(
      "max-context", "longest sequence that fits in GPU memory for a plan (or --best per strategy)");
  add_job_options(cmd, *options, false);
  cmd->get_option("--seq")->group("");  // hidden: the sequence is the answer
  cmd->add_flag("--best", *best, "for each strategy (or each given with -s), search its legal "
                "degrees, ZeRO stages and recompute (unless --zero / --recompute fix them) for the "
                "longest context")->group("Search");
  cmd->add_flag("--techniques", *techniques, "with --best: also search the long-context techniques "
                "(--loss chunked:8 / fused, --tiled-mlp auto) unless --loss / --tiled-mlp fix them, under "
                "the frameworks that have them (deepspeed, fsdp) unless --framework fixes it, and show "
                "each strategy's longest plan without and with them")->group("Search");
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
    if (*techniques && !*best) {
      throw InputError("--techniques", "searches the long-context techniques with --best; for one plan give "
                                       "--loss / --tiled-mlp instead");
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
      const Setup setup = resolve_one_setup(plain, "max-context");
      warnings = unmodelled_warnings({setup});
      topology = setup.topology;
      // By default every scheme that splits the sequence (tensor parallelism alone does not).
      std::vector<std::string> strategies;
      if (options->command->count("--strategy") > 0) {
        strategies = expand_strategies(split_list(options->strategies, "--strategy"));
      } else {
        for (const auto& name : list_strategies()) {
          if (strategy_traits(name).splits_sequence) strategies.push_back(name);
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
      if (*techniques && !results.empty()) {
        // The same search with the techniques too; rows interleave: without, with.
        MemoryKnobs with = knobs;
        if (options->command->count("--loss") == 0) with.losses = {"standard", "chunked:8", "fused"};
        if (options->command->count("--tiled-mlp") == 0) with.tiled_mlps = {0, -1};
        // Unless --framework fixes it, also the frameworks whose code has the techniques (DeepSpeed
        // / ALST: all; torchtitan: the chunked loss) for the schemes they run.
        if (options->command->count("--framework") == 0) with.frameworks = {"", "deepspeed", "fsdp"};
        const auto longer = max_context_best(setup.model, topology, job, strategies, *engine, base, with);
        std::vector<MaxContextResult> both;
        for (auto& r : results) {
          both.push_back(r);
          for (const auto& w : longer) {
            if (w.job.strategy == r.job.strategy) both.push_back(w);
          }
        }
        results = std::move(both);
      }
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
      for (const auto& r : results) {
        out.push_back(to_json(r, topology));
        if (*techniques) {
          out.back()["framework"] = r.job.framework;
          out.back()["loss"] = r.job.loss;
          out.back()["tiled_mlp"] = tiled_mlp_name(r.job.tiled_mlp);
          out.back()["steps_per_s"] = r.step_time_s > 0 ? 1.0 / r.step_time_s : 0.0;
        }
      }
      std::fputs((out.dump(2) + "\n").c_str(), stdout);
      return;
    }
    std::string text = fmt::format("{:<12} {:>5} {:<22} {:<18} {:>10} {:>6} {:>9} {:>8} {:<12} {:>10} {:>10}\n",
                                   "strategy", "gpus", "degrees", "memory", "max_seq", "gran", "peak_GiB",
                                   "HBM_GiB", "binding", "step_ms", "tokens/s");
    if (*techniques) {
      text.pop_back();
      text += fmt::format(" {:>9}  {}\n", "steps/s", "framework techniques");
    }
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
      if (*techniques) {
        text.pop_back();
        text += fmt::format(" {:>9.3g}  {} {}\n", r.step_time_s > 0 ? 1.0 / r.step_time_s : 0.0, j.framework,
                            techniques_used(j));
      }
    }
    std::fputs(text.c_str(), stdout);
  });
}

}  // namespace spsim::cli
