// spsim max-context: the longest sequence that fits in GPU memory for a plan (same inputs as run,
// without --seq), or with --best for each strategy over its legal degrees.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/flag_checks.h"
#include "cli/job_options.h"
#include "search/max_context.h"
#include "spsim/engine.h"
#include "spsim/error.h"
#include "spsim/framework.h"
#include "spsim/launch.h"
#include "spsim/limits.h"
#include "spsim/long_context.h"
#include "spsim/strategy.h"
#include "spsim/sweep.h"
#include "spsim/units.h"

namespace spsim::cli {

namespace {

nlohmann::json memory_json(const MemoryEstimate& m) {
  return {{"params", m.params},   {"grads", m.grads},     {"optimizer", m.optimizer},
          {"activations", m.activations}, {"buffers", m.buffers}, {"reserve", m.reserve},
          {"peak", m.peak()}};
}

/// Sequences per step and micro-batches per data-parallel rank of a resolved plan (gbs 0: one
/// micro-batch per data-parallel rank).
std::pair<int64_t, int64_t> batch_of(const JobConfig& j) {
  const int64_t per_step = std::max<int64_t>(1, j.micro_batch_size * std::max<int64_t>(1, j.data_parallel));
  const int64_t gbs = j.global_batch_size > 0 ? j.global_batch_size : per_step;
  return {gbs, gbs / per_step};
}

/// --headroom: GiB kept free per GPU ("4", "4GiB", "4G") or a share of the HBM ("10%").
double parse_headroom(const std::string& text, double hbm_bytes) {
  std::string number = text;
  bool percent = false;
  for (const char* suffix : {"GiB", "G", "%"}) {
    const std::string s(suffix);
    if (number.size() > s.size() && number.compare(number.size() - s.size(), s.size(), s) == 0) {
      number.resize(number.size() - s.size());
      percent = s == "%";
      break;
    }
  }
  char* end = nullptr;
  const double value = std::strtod(number.c_str(), &end);
  if (number.empty() || end != number.c_str() + number.size() || !std::isfinite(value) || value < 0) {
    throw InputError("--headroom", fmt::format("'{}' is not a memory amount; give GiB per GPU (4, 4GiB) "
                                               "or a share of the HBM (10%)", text));
  }
  const double bytes = percent ? value / 100 * hbm_bytes : value * kGiB;
  if (!(bytes < hbm_bytes)) {
    throw InputError("--headroom", fmt::format("{} leaves nothing of the {:.1f} GiB HBM; give less",
                                               text, hbm_bytes / kGiB));
  }
  return bytes;
}

/// What the launch settings cannot say (model code), each once, on stderr after the output.
void print_launch_notes(const std::vector<std::optional<LaunchSettings>>& launches) {
  std::vector<std::string> seen;
  for (const auto& l : launches) {
    if (!l) continue;
    for (const auto& note : l->notes) {
      if (std::find(seen.begin(), seen.end(), note) != seen.end()) continue;
      seen.push_back(note);
      std::fprintf(stderr, "spsim: note: %s\n", note.c_str());
    }
  }
}

nlohmann::json to_json(const MaxContextResult& r, const Topology& topology, double memory_limit) {
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
  if (r.job.recompute_layers > 0) {
    j["recompute_method"] = "block";
    j["recompute_num_layers"] = r.job.recompute_layers;
  }
  j["max_seq_length"] = r.max_seq;
  j["granularity"] = r.granularity;
  j["capped"] = r.capped;
  j["binding_term"] = r.binding_term;
  j["hbm_capacity"] = topology.gpu.hbm_bytes;
  j["memory_limit"] = memory_limit;
  const auto [gbs, micro_batches] = batch_of(r.job);
  j["global_batch_size"] = gbs;
  j["micro_batch_size"] = r.job.micro_batch_size;
  j["micro_batches"] = micro_batches;
  j["memory_at_max"] = memory_json(r.memory);
  j["memory_at_max_plus_granularity"] = memory_json(r.memory_next);
  j["step_time_s"] = r.step_time_s;
  j["tokens_per_s"] = r.tokens_per_s;
  return j;
}

/// The launch settings of one answer (issue 19: the best plan of max-context --best, per row),
/// headed by comments naming the prediction as `run --emit` does.
LaunchSettings emit_answer(LaunchFormat format, const ModelSpec& model, const Topology& topology,
                           const MaxContextResult& r) {
  const JobConfig& j = r.job;
  const auto [gbs, micro_batches] = batch_of(j);
  const std::vector<std::string> comments{
      fmt::format("spsim {}: {} on {} x {} ({}), seq {} (max-context answer)", SPSIM_VERSION, model.name,
                  j.num_gpus, topology.gpu.name, topology.name, format_count(r.max_seq)),
      fmt::format("plan: {} t{} u{} r{} dp{} pp{} zero{} mbs{} gbs{} recompute {} {}", j.strategy,
                  j.tensor_parallel, j.ulysses_degree, j.ring_degree, j.data_parallel, j.pipeline_parallel,
                  j.zero_stage, j.micro_batch_size, gbs, recompute_name(j), to_string(j.precision)),
      fmt::format("predicted: step {:.1f} ms, {:.0f} tokens/s, peak memory {:.1f} GiB of {:.1f} GiB",
                  r.step_time_s * 1e3, r.tokens_per_s, r.memory.peak() / kGiB, topology.gpu.hbm_bytes / kGiB)};
  (void)micro_batches;
  return emit_launch(format, model, topology, j, comments);
}

// One point of the context-vs-throughput curve: the fastest plan of the answer's strategy on its
// GPUs at a length, at the answer's batch.
struct CurvePoint {
  int64_t seq = 0;
  SweepRow row;
};

// Doubling lengths from 8K (or the granularity when larger) below the answer, then the answer: the
// fastest plan of the strategy at each (search_best_plan over degrees, ZeRO and recompute the
// user did not fix; the micro-batch and batch stay the answer's), so a user sees what a longer
// context costs in throughput, not only where memory ends.
std::vector<CurvePoint> context_curve(const ModelSpec& model, const Topology& topology, const MaxContextResult& r,
                                      const JobConfig& asked, bool zero_fixed, bool recompute_fixed,
                                      const std::string& engine) {
  std::vector<CurvePoint> curve;
  if (r.max_seq <= 0) return curve;
  std::vector<int64_t> lengths;
  for (int64_t s = std::max<int64_t>(8192, r.granularity); s < r.max_seq; s *= 2) {
    lengths.push_back((s + r.granularity - 1) / r.granularity * r.granularity);
  }
  lengths.push_back(r.max_seq);
  SearchSpace space;
  space.micro_batch_size = {r.job.micro_batch_size};
  if (zero_fixed) space.zero_stage = {asked.zero_stage};
  if (recompute_fixed) space.recompute = {asked.recompute};
  if (asked.pipeline_parallel > 1) space.pipeline_parallel = {asked.pipeline_parallel};
  const auto strategy = make_strategy(r.job.strategy);
  JobConfig base = asked;
  base.strategy = r.job.strategy;
  base.num_gpus = r.job.num_gpus;
  base.global_batch_size = r.job.global_batch_size;
  base.framework = r.job.framework;
  for (int64_t seq : lengths) {
    if (!curve.empty() && curve.back().seq == seq) continue;
    base.seq_length = seq;
    curve.push_back({seq, search_best_plan(model, topology, *strategy, base, space, engine)});
  }
  return curve;
}

// A step time a person reads at a glance (study S8: "step_ms 2865874255.2" was a 33-day step):
// ms below a second, then s, min, h and days.
std::string step_duration(double seconds) {
  if (!(seconds > 0)) return "-";
  if (seconds < 1) return fmt::format("{:.1f} ms", seconds * 1e3);
  if (seconds < 120) return fmt::format("{:.2f} s", seconds);
  if (seconds < 7200) return fmt::format("{:.1f} min", seconds / 60);
  if (seconds < 2 * 86400) return fmt::format("{:.1f} h", seconds / 3600);
  return fmt::format("{:.1f} d", seconds / 86400);
}

std::string curve_plan(const SweepRow& row) {
  if (row.status != "ok") return row.status;
  return fmt::format("t{} u{} r{} dp{}{} zero{} rc:{}", row.tensor_parallel, row.ulysses_degree, row.ring_degree,
                     row.data_parallel, row.pipeline_parallel > 1 ? fmt::format(" pp{}", row.pipeline_parallel) : "",
                     row.zero_stage, row.recompute);
}

// The long-context techniques a plan uses, for the --techniques column: "-" when none.
std::string techniques_used(const JobConfig& job) {
  std::string out;
  if (job.loss != "standard") out = "loss:" + job.loss;
  if (job.tiled_mlp != 0) out += std::string(out.empty() ? "" : ",") + "tiled-mlp:" + tiled_mlp_name(job.tiled_mlp);
  if (job.offloads_to_host()) {
    out += std::string(out.empty() ? "" : ",") + "offload:" + offload_name(job);
  }
  return out.empty() ? "-" : out;
}

}  // namespace

void add_max_context_command(CLI::App& app) {
  auto options = std::make_shared<JobOptions>();
  auto best = std::make_shared<bool>(false);
  auto json = std::make_shared<bool>(false);
  auto granularity = std::make_shared<std::string>("1K");
  auto headroom = std::make_shared<std::string>();
  auto limits = std::make_shared<MaxContextLimits>();
  auto emit = std::make_shared<std::string>();
  auto techniques = std::make_shared<bool>(false);
  auto curve = std::make_shared<bool>(false);
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
  cmd->add_flag("--curve", *curve, "with --best: also the context-vs-throughput curve of each answer: the "
                "fastest plan of its strategy on its GPUs at doubling lengths from 8K up to the answer, at "
                "the same batch")->group("Search");
  cmd->add_option("--granularity", *granularity, "answer is a multiple of this and of the scheme's "
                  "divisibility (K/M suffixes binary)")->capture_default_str()->group("Search");
  cmd->add_option("--headroom", *headroom, "HBM to keep free per GPU: GiB (4, 4GiB) or a share of "
                  "the HBM (10%); the answer fits the rest")->group("Search");
  cmd->add_option("--min-tokens-per-s", limits->min_tokens_per_s, "throughput floor: the longest "
                  "context whose step still trains at least this many tokens/s")
      ->check(finite_number(1e-9, 1e15))->group("Search");
  cmd->add_option("--max-step-time", limits->max_step_time_s, "the longest context whose step "
                  "takes at most this many seconds (at the batch stated above the table)")
      ->check(finite_number(1e-9, 1e12))->group("Search");
  cmd->add_option("--emit", *emit, "also print each answer's launch settings: megatron, nemo, deepspeed "
                  "or torchtitan (as run --emit; the search keeps to plans that framework runs); with "
                  "--json, a \"launch\" object per row")->group("Output");
  cmd->add_flag("--json", *json, "print JSON")->group("Output");
  cmd->footer(
      "Examples:\n"
      "  spsim max-context -s ring --gpus 32 --zero 3\n"
      "  spsim max-context --best --gpus 64 -m llama-3-70b --recompute full --json\n"
      "  spsim max-context --best --gpus 64,128,256 -m llama-3-70b --gbs 256   (one search per GPU count)\n"
      "  spsim max-context --best --gpus 64 -m llama-3-70b --gbs 64 --headroom 4 --min-tokens-per-s 2000");
  cmd->callback([=]() {
    if (cmd->count("--seq") > 0) {
      throw InputError("--seq", "max-context searches the sequence length, so it takes no --seq; "
                                "drop it (use spsim run for a given length)");
    }
    if (options->command->count("--tokens-per-step") > 0) {
      throw InputError("--tokens-per-step", "max-context varies the sequence length, so a fixed "
                                            "number of tokens per step would change the batch with "
                                            "it; give the batch in sequences with --gbs");
    }
    if (*curve && !*best) {
      throw InputError("--curve", "draws each --best answer's context-vs-throughput curve; add --best (for one "
                                  "plan at several lengths use spsim sweep --seq 8K:1M:x2)");
    }
    if (*techniques && !*best) {
      throw InputError("--techniques", "searches the long-context techniques with --best; for one plan give "
                                       "--loss / --tiled-mlp instead");
    }
    const int64_t base = parse_count(*granularity, "--granularity");
    std::string batch_line;
    // Answers to launch are searched and predicted for the framework that will run them.
    std::optional<LaunchFormat> format;
    if (!emit->empty()) {
      format = parse_launch_format(*emit, "--emit");
      if (options->command->count("--framework") == 0) options->framework = launch_framework(*format);
    }
    std::vector<MaxContextResult> results;
    // Which rows come from the --techniques search (they follow the row of their strategy and GPU
    // count without techniques; a strategy the technique search finds nothing for has none).
    std::vector<bool> from_techniques;
    std::vector<std::string> warnings;
    JobConfig asked_job;  // --best: the job the search starts from (framework, precision, batch, ...)
    std::string curve_engine = "analytic";
    Topology topology;
    ModelSpec model_of_results;
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
      // --best answers per GPU count of a list (one search each, at one batch for all of them).
      std::vector<int64_t> gpu_counts;
      if (options->command->count("--gpus") > 0) {
        for (const auto& g : split_list(options->gpus, "--gpus")) gpu_counts.push_back(parse_count(g, "--gpus", kMaxGpus));
        plain.gpus = {std::to_string(gpu_counts.front())};
      }
      // The placeholder only carries the shared fields; when its default degrees are illegal for
      // the GPU count (Ulysses on 24 GPUs of a 32-head model), another scheme's are used, the ones
      // asked for first, then every registered one, so the search is not refused for a scheme
      // nobody asked about.
      std::vector<std::string> placeholders = {plain.strategies.front()};
      if (options->command->count("--strategy") > 0) {
        for (const auto& name : split_list(options->strategies, "--strategy")) {
          if (name != "all") placeholders.push_back(name);
        }
      }
      for (const auto& name : list_strategies()) placeholders.push_back(name);
      std::optional<Setup> resolved;
      std::optional<InputError> first_error;
      for (const auto& name : placeholders) {
        plain.strategies = {name};
        try {
          resolved = resolve_one_setup(plain, "max-context");
          break;
        } catch (const InputError& e) {
          if (!first_error) first_error = e;
        }
      }
      if (!resolved) throw *first_error;
      const Setup& setup = *resolved;
      if (gpu_counts.empty()) gpu_counts.push_back(setup.job.num_gpus);  // --config's job
      warnings = unmodelled_warnings(setup.model, setup.topology, setup.engine,
                                     *std::max_element(gpu_counts.begin(), gpu_counts.end()));
      topology = setup.topology;
      model_of_results = setup.model;
      // By default every scheme that splits the sequence (tensor parallelism alone does not).
      std::vector<std::string> strategies;
      if (options->command->count("--strategy") > 0) {
        strategies = applicable_strategies(split_list(options->strategies, "--strategy"), setup.model, nullptr,
                                           setup.job.ring_comm);
      } else {
        for (const auto& name : list_strategies()) {
          const StrategyTraits& traits = strategy_traits(name);
          if (traits.splits_sequence && applicability(traits, setup.model).empty() &&
              window_applicability(traits, setup.model, setup.job.ring_comm).empty()) {
            strategies.push_back(name);
          }
        }
      }
      JobConfig job = setup.job;
      job.ulysses_degree = job.ring_degree = 1;
      // Plans are compared at one batch, as in sweep: the user's, else the least common multiple of
      // the GPU counts (every data-parallel degree divides it), never one sequence per DP rank.
      if (job.global_batch_size > 0) {
        batch_line = fmt::format("global batch: {} sequences per step for every plan", job.global_batch_size);
      } else {
        job.global_batch_size = default_global_batch(gpu_counts);
        batch_line = fmt::format("global batch: {} sequences per step for every plan (default: {}; "
                                 "set --gbs)", job.global_batch_size, kDefaultBatchRule);
      }
      asked_job = job;
      curve_engine = setup.engine;
      if (*curve && setup.engine != "analytic") {
        // Each point is a best-plan search (hundreds of plans): minutes per point under the DES.
        throw InputError("--curve", "searches the best plan at every length, which the analytic engine does in "
                                    "seconds and the DES in hours; drop --engine des (then check a point with "
                                    "spsim run --engine des)");
      }
      const auto engine = make_engine(setup.engine);
      // ZeRO stage and recompute decide how long a context fits as much as the degrees do: the
      // search varies those the user did not fix (a 405B model fits nothing at ZeRO 0).
      MemoryKnobs knobs;
      if (options->command->count("--zero") == 0) knobs.zero_stages = {0, 1, 2, 3};
      if (options->command->count("--recompute") == 0) {
        // The modes the framework offers (framework.h): torchtitan's op-level one instead of
        // Megatron's selective; the default frameworks (Megatron, DeepSpeed) have the three.
        knobs.recomputes = offered_recomputes(setup.job.framework);
      }
      if (!headroom->empty()) limits->memory_bytes = topology.gpu.hbm_bytes - parse_headroom(*headroom, topology.gpu.hbm_bytes);
      // The answers at every GPU count, for one set of knobs.
      std::vector<std::string> unanswered;  // strategies with no plan, and why (first search)
      auto search_every_count = [&](const MemoryKnobs& searched, std::vector<std::string>* why) {
        std::vector<MaxContextResult> found;
        for (int64_t gpus : gpu_counts) {
          job.num_gpus = gpus;
          for (auto& r : max_context_best(setup.model, topology, job, strategies, *engine, base, searched, *limits,
                                          why)) {
            found.push_back(std::move(r));
          }
        }
        return found;
      };
      results = search_every_count(knobs, &unanswered);
      if (*techniques && !results.empty()) {
        // The same search with the techniques too; rows interleave: without, with.
        MemoryKnobs with = knobs;
        if (options->command->count("--loss") == 0) with.losses = {"standard", "chunked:8", "fused"};
        if (options->command->count("--tiled-mlp") == 0) with.tiled_mlps = {0, -1};
        // DeepSpeed's offloads (the optimizer, ZeRO-3's parameters with it; full recompute's
        // checkpoints too): refused, so skipped, under the other frameworks and on topologies
        // without a host block.
        if (options->command->count("--offload") == 0) with.offloads = kSearchedOffloads;
        // Unless --framework fixes it, also the frameworks whose code has the techniques (DeepSpeed
        // / ALST: all; torchtitan: the chunked loss) for the schemes they run.
        if (options->command->count("--framework") == 0) with.frameworks = {"", "deepspeed", "fsdp"};
        const std::vector<MaxContextResult> longer = search_every_count(with, nullptr);
        std::vector<MaxContextResult> both;
        std::vector<bool> both_from_techniques;
        for (auto& r : results) {
          both.push_back(r);
          both_from_techniques.push_back(false);
          for (const auto& w : longer) {
            if (w.job.strategy == r.job.strategy && w.job.num_gpus == r.job.num_gpus) {
              both.push_back(w);
              both_from_techniques.push_back(true);
            }
          }
        }
        results = std::move(both);
        from_techniques = std::move(both_from_techniques);
      }
      if (results.empty()) {
        std::string why;
        for (const auto& line : unanswered) why += (why.empty() ? "" : "; ") + line;
        throw InputError(job.global_batch_size > 0 ? "--gbs" : "--gpus",
                         fmt::format("no strategy has a plan for {} GPUs and model {} ({})", fmt::join(gpu_counts, ","),
                                     setup.model.name, why));
      }
      // A strategy asked for (or searched) without an answer is said, not silently left out.
      for (const auto& line : unanswered) warnings.push_back("no answer for " + line);
    } else {
      const Setup setup = resolve_one_setup(*options, "max-context");
      warnings = unmodelled_warnings({setup});
      topology = setup.topology;
      model_of_results = setup.model;
      const auto engine = make_engine(setup.engine);
      if (!headroom->empty()) limits->memory_bytes = topology.gpu.hbm_bytes - parse_headroom(*headroom, topology.gpu.hbm_bytes);
      results.push_back(max_context(setup.model, topology, setup.job, *engine, base, *limits));
    }
    // The curve of each answer (with --techniques, of the rows without them: the techniques only
    // move where memory ends).
    std::vector<std::vector<CurvePoint>> curves(results.size());
    if (*curve) {
      // The curve's plans must fit what the answer fits: the HBM less --headroom.
      Topology curve_topology = topology;
      if (limits->memory_bytes > 0) curve_topology.gpu.hbm_bytes = limits->memory_bytes;
      for (size_t i = 0; i < results.size(); ++i) {
        if (i < from_techniques.size() && from_techniques[i]) continue;
        curves[i] = context_curve(model_of_results, curve_topology, results[i], asked_job,
                                  options->command->count("--zero") > 0,
                                  options->command->count("--recompute") > 0, curve_engine);
      }
    }
    print_warnings(warnings);
    const double memory_limit = limits->memory_bytes > 0 ? limits->memory_bytes : topology.gpu.hbm_bytes;
    // Launch settings per answer: a plan the framework cannot express says why, the rest print.
    std::vector<std::optional<LaunchSettings>> launches(results.size());
    std::vector<std::string> refusals(results.size());
    if (format) {
      for (size_t i = 0; i < results.size(); ++i) {
        if (results[i].max_seq == 0) {
          refusals[i] = "nothing fits: no plan to launch";
          continue;
        }
        try {
          launches[i] = emit_answer(*format, model_of_results, topology, results[i]);
        } catch (const InputError& e) {
          refusals[i] = e.full();
        }
      }
    }
    if (*json) {
      nlohmann::json out = nlohmann::json::array();
      for (size_t i = 0; i < results.size(); ++i) {
        nlohmann::json row = to_json(results[i], topology, memory_limit);
        if (launches[i]) row["launch"] = to_json(*launches[i]);
        if (!refusals[i].empty()) row["launch_refused"] = refusals[i];
        if (*curve && !curves[i].empty()) {
          nlohmann::json points = nlohmann::json::array();
          for (const auto& p : curves[i]) {
            nlohmann::json point = row_to_json(p.row);
            points.push_back(std::move(point));
          }
          row["curve"] = std::move(points);
        }
        if (*techniques) {
          const MaxContextResult& r = results[i];
          row["framework"] = r.job.framework;
          row["loss"] = r.job.loss;
          row["tiled_mlp"] = tiled_mlp_name(r.job.tiled_mlp);
          row["offload"] = offload_name(r.job);
          row["steps_per_s"] = r.step_time_s > 0 ? 1.0 / r.step_time_s : 0.0;
          row["from_techniques_search"] = i < from_techniques.size() && from_techniques[i];
        }
        out.push_back(std::move(row));
      }
      std::fputs((out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n").c_str(), stdout);
      print_launch_notes(launches);
      return;
    }
    std::string text;
    if (!batch_line.empty()) text += batch_line + "\n";
    if (limits->memory_bytes > 0) {
      text += fmt::format("memory limit: {:.1f} GiB per GPU ({:.1f} GiB HBM less --headroom {})\n",
                          limits->memory_bytes / kGiB, topology.gpu.hbm_bytes / kGiB, *headroom);
    }
    if (limits->throughput_limited()) {
      std::string floor;
      if (limits->min_tokens_per_s > 0) floor += fmt::format("at least {:.0f} tokens/s", limits->min_tokens_per_s);
      if (limits->max_step_time_s > 0) {
        floor += fmt::format("{}at most {:g} s per step", floor.empty() ? "" : " and ", limits->max_step_time_s);
      }
      text += fmt::format("throughput limit: {} (binding \"min tokens/s\" / \"max step time\" when it, "
                          "not memory, ends the search)\n", floor);
    }
    text += fmt::format("{:<12} {:>5} {:<22} {:>6} {:>4} {:<18} {:>10} {:>6} {:>9} {:>8} {:<13} {:>10} {:>10}\n",
                        "strategy", "gpus", "degrees", "gbs", "mb", "memory", "max_seq", "gran", "peak_GiB",
                        "HBM_GiB", "binding", "step", "tokens/s");
    if (*techniques) {
      text.pop_back();
      text += fmt::format(" {:>9}  {}\n", "steps/s", "framework techniques");
    }
    for (const auto& r : results) {
      const auto& j = r.job;
      const auto [gbs, micro_batches] = batch_of(j);
      text += fmt::format(
          "{:<12} {:>5} {:<22} {:>6} {:>4} {:<18} {:>10} {:>6} {:>9.1f} {:>8.1f} {:<13} {:>10} {:>10.0f}{}\n",
          j.strategy, j.num_gpus,
          fmt::format("t{} u{} r{} dp{}{}{}", j.tensor_parallel, j.ulysses_degree, j.ring_degree,
                      j.data_parallel,
                      j.pipeline_parallel > 1 ? fmt::format(" pp{}", j.pipeline_parallel) : "",
                      j.virtual_pipeline_stages > 1
                          ? fmt::format(" v{}", j.virtual_pipeline_stages) : ""),
          gbs, micro_batches, fmt::format("zero{} rc:{}", j.zero_stage, recompute_name(j)),
          r.max_seq > 0 ? format_count(r.max_seq) : "none", format_count(r.granularity),
          r.memory.peak() / kGiB, topology.gpu.hbm_bytes / kGiB, r.binding_term,
          step_duration(r.step_time_s), r.tokens_per_s, r.capped ? "  (search cap reached)" : "");
      if (*techniques) {
        text.pop_back();
        text += fmt::format(" {:>9.3g}  {} {}\n", r.step_time_s > 0 ? 1.0 / r.step_time_s : 0.0, j.framework,
                            techniques_used(j));
      }
    }
    if (*curve) {
      text += fmt::format("\ncontext vs throughput: the fastest plan at each length, {} sequences per step\n",
                          asked_job.global_batch_size);
      text += fmt::format("{:<12} {:>5} {:>10} {:>10} {:>10} {:>9}  {}\n", "strategy", "gpus", "seq", "tokens/s",
                          "step", "mem_GiB", "plan");
      for (size_t i = 0; i < results.size(); ++i) {
        for (const auto& p : curves[i]) {
          const bool ok = p.row.status == "ok";
          text += fmt::format("{:<12} {:>5} {:>10} {:>10} {:>10} {:>9}  {}\n", results[i].job.strategy,
                              results[i].job.num_gpus, format_count(p.seq),
                              ok ? fmt::format("{:.0f}", p.row.tokens_per_s) : "-",
                              ok ? step_duration(p.row.step_time_s) : "-",
                              ok ? fmt::format("{:.1f}", p.row.mem_peak / kGiB) : "-", curve_plan(p.row));
        }
      }
    }
    if (format) {
      for (size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        text += fmt::format("\n==> {} {} GPUs, max_seq {}: --emit {} <==\n", r.job.strategy, r.job.num_gpus,
                            r.max_seq > 0 ? format_count(r.max_seq) : "none", *emit);
        text += launches[i] ? launches[i]->text : fmt::format("# not emitted: {}\n", refusals[i]);
      }
    }
    std::fputs(text.c_str(), stdout);
    print_launch_notes(launches);
  });
}

}  // namespace spsim::cli
