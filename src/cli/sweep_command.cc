// `spsim sweep`: a grid of configurations (range syntax on every dimension) or, with --best, the
// fastest plan that fits for each (model, topology, GPUs, sequence) and strategy. Rows go to
// PREFIX.csv / PREFIX.json; the best plan per point is printed as a table.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <tuple>

#include <fmt/color.h>
#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/flag_checks.h"
#include "cli/job_options.h"
#include "cli/launch_options.h"
#include "cli/mpi_world.h"
#include "common/atomic_write.h"
#include "common/json_reader.h"
#include "spsim/error.h"
#include "spsim/launch.h"
#include "spsim/limits.h"
#include "spsim/long_context.h"
#include "spsim/report.h"
#include "spsim/strategy.h"
#include "spsim/sweep.h"
#include "spsim/training_cost.h"
#include "spsim/units.h"

namespace spsim::cli {

namespace {

struct SweepOptions {
  JobOptions job;
  // Lists that replace the single-valued flags of add_job_options.
  std::vector<std::string> models, topologies, tp, ulysses, ring, dp, pp, zero, mbs, recompute, ring_variant;
  bool best = false, resume = false, techniques = false;
  int jobs = 1;
  std::string output = "spsim-sweep";
  PlanOutputOptions cost;  // --train-tokens, --gpu-hour-cost: the best table's run columns
  std::string plot_dir;
  std::string progress = "auto";
};

// The "sweep" block of an experiment file: the same dimensions as the flags, with the job JSON's
// key names. Values are range strings ("8K:256K:x2", "8,16") or arrays.
struct FileSweep {
  std::map<std::string, std::vector<std::string>> lists;  // key -> items (each a range or a name)
  std::optional<bool> best;
  bool has_models = false;
};

const std::vector<std::string> kListKeys = {
    "models", "topologies", "strategies", "num_gpus", "seq_length", "tensor_model_parallel_size",
    "ulysses_degree", "ring_degree", "data_parallel_size", "pipeline_model_parallel_size",
    "zero_stage", "micro_batch_size",
    "recompute_granularity", "ring_variant"};

FileSweep parse_sweep_block(const std::string& text, const std::string& path) {
  FileSweep out;
  const auto json = detail::parse_json(text, path);
  if (!json.is_object() || !json.contains("sweep")) return out;
  detail::ObjectReader top(json, path);
  detail::ObjectReader in = top.object("sweep");
  for (const auto& key : kListKeys) {
    if (!in.has(key)) continue;
    const auto& value = in.raw(key);
    std::vector<std::string> items;
    if (value.is_string()) {
      items.push_back(value.get<std::string>());
    } else if (value.is_array() && !value.empty()) {
      for (const auto& item : value) {
        if (item.is_string()) {
          items.push_back(item.get<std::string>());
        } else if (item.is_number_integer()) {
          items.push_back(std::to_string(item.get<int64_t>()));
        } else {
          in.fail(key, "expected a range string (\"8K:256K:x2\") or a list of values");
        }
      }
    } else {
      in.fail(key, "expected a range string (\"8K:256K:x2\") or a non-empty list of values");
    }
    out.lists[key] = items;
  }
  if (in.has("best")) out.best = in.boolean("best");
  in.finish();
  out.has_models = out.lists.count("models") > 0;
  if (out.has_models && json.contains("model")) {
    throw InputError(path, "give either \"model\" or \"sweep\": {\"models\": [...]}, not both");
  }
  if (out.lists.count("topologies") > 0 && json.contains("topology")) {
    throw InputError(path, "give either \"topology\" or \"sweep\": {\"topologies\": [...]}, not both");
  }
  return out;
}

FileSweep read_sweep_block(const std::string& path) {
  return path.empty() ? FileSweep{} : parse_sweep_block(detail::read_file(path), path);
}

bool given(const JobOptions& o, const char* flag) { return o.command->count(flag) > 0; }

// Items from the flag if given (comma lists split, empty items refused), else from the file's
// sweep block, else `fallback`.
std::vector<std::string> pick(const JobOptions& o, const char* flag, const std::vector<std::string>& flag_items,
                              const FileSweep& file, const std::string& key,
                              const std::vector<std::string>& fallback) {
  if (given(o, flag)) return split_list(flag_items, flag);
  const auto it = file.lists.find(key);
  if (it != file.lists.end()) return it->second;
  return fallback;
}

std::vector<int64_t> numbers(const std::vector<std::string>& items, const std::string& where, int64_t max) {
  std::vector<int64_t> out;
  for (const auto& item : items) {
    for (int64_t v : parse_range(item, where)) {
      if (v > max) {
        throw InputError(where, fmt::format("{} is too large: past the limit of {} (README \"Limits and "
                                            "errors\")", v, max));
      }
      out.push_back(v);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.size() > kMaxRangePoints) {
    throw InputError(where, fmt::format("expands to more than {} values; split the sweep", kMaxRangePoints));
  }
  return out;
}

std::vector<int64_t> zero_numbers(const std::vector<std::string>& items, const std::string& where) {
  // ZeRO stages include 0, which range syntax (positive values) does not: plain lists only.
  std::vector<int64_t> out;
  for (const auto& item : items) {
    if (item.size() != 1 || item[0] < '0' || item[0] > '3') {
      throw InputError(where, fmt::format("ZeRO stage must be 0, 1, 2 or 3 (got \"{}\"); e.g. 0,1,3", item));
    }
    out.push_back(item[0] - '0');
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Replaces a single-valued option of add_job_options by a list with the same names.
void relist(CLI::App* cmd, const char* name, const std::string& names, std::vector<std::string>& target,
            const std::string& help, const std::string& group) {
  cmd->remove_option(cmd->get_option(name));
  cmd->add_option(names, target, help)->group(group);  // comma lists: split_list in pick()
}

struct Progress {
  bool enabled = false, color = false;
  std::chrono::steady_clock::time_point start, last;
  size_t first_done = 0;
  bool started = false, drawn = false;
  void update(size_t done, size_t total) {
    const auto now = std::chrono::steady_clock::now();
    if (!started) {
      started = true;
      start = now;
      first_done = done;
    }
    if (!enabled) return;
    if (done < total && drawn && now - last < std::chrono::milliseconds(100)) return;  // <= 10 Hz
    last = now;
    drawn = true;
    const double elapsed = std::chrono::duration<double>(now - start).count();
    const double rate = elapsed > 0 ? static_cast<double>(done - first_done) / elapsed : 0;
    const std::string eta = rate > 0 ? fmt::format("{:.0f} s", static_cast<double>(total - done) / rate) : "?";
    const std::string head = color ? fmt::format(fmt::emphasis::bold, "sweep") : "sweep";
    std::fprintf(stderr, "\r%s %zu/%zu points  %.1f points/s  ETA %s   ", head.c_str(), done, total, rate,
                 eta.c_str());
    if (done == total) std::fputc('\n', stderr);
    std::fflush(stderr);
  }
};

std::string plan_text(const SweepRow& row, bool show_variant) {
  // A scheme with no degree of its own (plain data parallelism) is named by its dp degree alone:
  // "dp8 zero1 ...", not "dp dp8 zero1 ...".
  const StrategyTraits& traits = strategy_traits(row.strategy);
  const bool plain_dp = traits.cli_picks_degrees && !traits.uses_tensor && !traits.uses_ulysses && !traits.uses_ring;
  std::string degrees;
  if (row.tensor_parallel > 1 || row.strategy.rfind("megatron", 0) == 0) degrees += fmt::format(" t{}", row.tensor_parallel);
  if (row.ulysses_degree > 1) degrees += fmt::format(" u{}", row.ulysses_degree);
  if (row.ring_degree > 1) degrees += fmt::format(" r{}", row.ring_degree);
  if (row.ring_degree > 1 && (show_variant || row.ring_variant != "zigzag")) degrees += " " + row.ring_variant;
  degrees += fmt::format(" dp{}", row.data_parallel);
  if (row.pipeline_parallel > 1) degrees += fmt::format(" pp{}", row.pipeline_parallel);
  if (row.virtual_pipeline_stages > 1) degrees += fmt::format(" v{}", row.virtual_pipeline_stages);
  return fmt::format("{}{} zero{} mbs{} rc:{}", plain_dp ? "" : row.strategy,
                     plain_dp ? degrees.substr(1) : degrees, row.zero_stage, row.micro_batch_size, row.recompute);
}

int64_t micro_batches(const SweepRow& row) {
  const int64_t per_step = row.micro_batch_size * std::max<int64_t>(1, row.data_parallel);
  return per_step > 0 ? row.global_batch_size / per_step : 0;
}

std::string margin_text(const SweepRow& row, const ModelError& error) {
  if (row.runner_up.empty()) return "only scheme that fits";
  const bool tie = error.known && row.margin < error.median_abs;
  return fmt::format("{} {:+.1f}%{}", row.runner_up, 100.0 * row.margin, tie ? " tie" : "");
}

std::string grid_margin_text(const SweepRow& row, double next_tokens_per_s, const ModelError& error) {
  if (next_tokens_per_s <= 0) return "";
  const double margin = row.tokens_per_s / next_tokens_per_s - 1;
  const bool tie = error.known && margin < error.median_abs;
  return fmt::format(", {:+.1f}% over the next plan{}", 100.0 * margin, tie ? " tie" : "");
}

std::string batch_rule(const BaseSetup& batch, bool is_default) {
  if (batch.tokens_per_step > 0) {
    return fmt::format("{} tokens per step (--tokens-per-step): {} / seq-length sequences",
                       format_count(batch.tokens_per_step), format_count(batch.tokens_per_step));
  }
  if (is_default) {
    return fmt::format("{} sequences per step at every point (default: {}; set --gbs or --tokens-per-step)",
                       batch.job.global_batch_size, kDefaultBatchRule);
  }
  return fmt::format("{} sequences per step at every point (--gbs)", batch.job.global_batch_size);
}

// One line per (model, topology, gpus, seq): under --best the fastest plan, the fastest plan of
// another scheme and the margin (a tie when below the model's error); in a grid every row, the
// fastest of each point starred. A point where nothing fits says whether memory or the rules
// stopped it, and the nearest GPU count that works.
// With --train-tokens, a best plan also says the run it takes (and its cost with --gpu-hour-cost).
void print_table(const SweepPlan& plan, const std::vector<SweepRow>& rows, const std::string& batch_line,
                 const ModelError& error, double train_tokens, double gpu_hour_cost) {
  struct Key {
    std::string model, topology;
    int64_t gpus, seq;
    bool operator<(const Key& o) const {
      return std::tie(model, topology, gpus, seq) < std::tie(o.model, o.topology, o.gpus, o.seq);
    }
  };
  std::map<Key, std::vector<size_t>> points;  // row indices (= point indices) per key
  for (size_t i = 0; i < rows.size(); ++i) {
    points[{rows[i].model, rows[i].topology, rows[i].gpus, rows[i].seq_length}].push_back(i);
  }
  fmt::print("global batch: {}\n", batch_line);
  if (error.known) {
    fmt::print("model error: throughput median |error| {:.1f}% over {} published runs ({}); a margin "
               "below it is marked tie\n",
               100.0 * error.median_abs, error.rows, error.source);
  } else {
    fmt::print("model error: unknown (no validation/baseline.json); margins are not marked as ties\n");
  }
  const bool best = plan.best;
  std::string cost_header;
  if (best && train_tokens > 0) {
    cost_header = fmt::format(" {:>8} {:>11}", "days", "GPU-hours");
    if (gpu_hour_cost >= 0) cost_header += fmt::format(" {:>13}", "cost");
  }
  fmt::print("{:<14} {:<14} {:>5} {:>6} {:>6} {:>5}  {:<40} {:>12} {:>9} {:>9}{}  {}\n", "model", "topology", "gpus",
             "seq", "gbs", "mb", best ? "best plan" : "plan", "tokens/s", "TFLOP/s", "mem GiB", cost_header,
             best ? "runner-up (other scheme), margin" : "");
  for (const auto& [key, indices] : points) {
    const std::string head = fmt::format("{:<14} {:<14} {:>5} {:>6}", key.model, key.topology, key.gpus,
                                         format_count(key.seq));
    const SweepRow* winner = nullptr;
    for (size_t i : indices) {
      if (rows[i].best_at_point) winner = &rows[i];
    }
    if (!best) {
      // A grid compares plans of any scheme (basic vs zigzag ring, ZeRO stages): the fastest row
      // says its margin over the next fastest row of the point, whatever its scheme.
      double next = 0;
      for (size_t i : indices) {
        if (rows[i].status == "ok" && &rows[i] != winner) next = std::max(next, rows[i].tokens_per_s);
      }
      for (size_t i : indices) {
        const SweepRow& row = rows[i];
        if (row.status == "invalid") {
          fmt::print("{} {:>6} {:>5}  {:<40} invalid: {}\n", head, row.global_batch_size, "-", plan_text(row, true),
                     row.reason);
          continue;
        }
        fmt::print("{} {:>6} {:>5}  {:<40} {:>12.0f} {:>9.1f} {:>9.1f}  {}\n", head, row.global_batch_size,
                   micro_batches(row), plan_text(row, true), row.tokens_per_s, row.tflops_model,
                   row.mem_peak / kGiB,
                   row.status == "oom" ? "OOM" : row.best_at_point ? "* fastest" + grid_margin_text(row, next, error) : "");
      }
      continue;
    }
    if (winner != nullptr) {
      std::string cost_columns;
      if (train_tokens > 0) {
        const TrainingCost c = training_cost(winner->step_time_s, std::round(winner->tokens_per_s * winner->step_time_s),
                                             winner->gpus, train_tokens, gpu_hour_cost);
        cost_columns = fmt::format(" {:>8.1f} {:>11.0f}", c.days, c.gpu_hours);
        if (gpu_hour_cost >= 0) cost_columns += fmt::format(" {:>13.0f}", c.cost);
      }
      fmt::print("{} {:>6} {:>5}  {:<40} {:>12.0f} {:>9.1f} {:>9.1f}{}  {}\n", head, winner->global_batch_size,
                 micro_batches(*winner), plan_text(*winner, false), winner->tokens_per_s, winner->tflops_model,
                 winner->mem_peak / kGiB, cost_columns, margin_text(*winner, error));
      continue;
    }
    // Nothing fits: the plan that misses by the least memory, or why no plan is legal.
    const SweepRow* closest = nullptr;
    size_t schemes = 0;
    int64_t searched = 0;
    for (size_t i : indices) {
      const SweepRow& row = rows[i];
      ++schemes;
      searched += row.plans_searched;
      if (row.status == "oom" && row.has_numbers &&
          (closest == nullptr || row.over_bytes() < closest->over_bytes())) {
        closest = &row;
      }
    }
    std::string why;
    if (closest != nullptr && closest->mem_peak <= closest->hbm_capacity) {
      // Its GPU memory fits: what it offloads does not fit its host (the row's reason says how much).
      why = fmt::format("none fits: closest {} {} ({} schemes, {} plans searched)", plan_text(*closest, false),
                        closest->reason.substr(0, closest->reason.find(';')), schemes, searched);
    } else if (closest != nullptr) {
      why = fmt::format("none fits: closest {} needs {:.1f} GiB per GPU of {:.1f} ({} schemes, {} plans searched)",
                        plan_text(*closest, false), closest->mem_peak / kGiB, closest->hbm_capacity / kGiB,
                        schemes, searched);
    } else {
      why = fmt::format("no legal plan ({}: {})", rows[indices.front()].strategy, rows[indices.front()].reason);
    }
    const GpuSuggestion suggestion = nearest_fitting_gpus(plan, indices);
    if (suggestion.gpus > 0) {
      why += fmt::format("; nearest GPU count that fits: {} ({}{})", suggestion.gpus,
                         plan_text(suggestion.row, false),
                         suggestion.gpus < key.gpus ? ", fewer GPUs: the degrees, not memory, stop this count" : "");
    }
    fmt::print("{} {:>6} {:>5}  {}\n", head, "-", "-", why);
  }
}

/// sweep --best --emit (issue 19): the launch settings of each point's best plan, after the
/// table, and in PREFIX.launch.json as [{model, topology, gpus, seq_length, strategy, launch |
/// launch_refused}]. PREFIX.csv/.json are unchanged (they are the resume fingerprint's outputs).
void emit_best_plans(const SweepPlan& plan, const std::vector<SweepRow>& rows, const std::string& emit,
                     const std::string& prefix) {
  const LaunchFormat format = parse_launch_format(emit, "--emit");
  nlohmann::ordered_json all = nlohmann::ordered_json::array();
  std::string text;
  std::vector<std::string> notes;
  // In the table's order: model, topology, GPUs, sequence.
  std::vector<size_t> order;
  for (size_t i = 0; i < rows.size() && i < plan.points.size(); ++i) {
    if (rows[i].best_at_point) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::tie(rows[a].model, rows[a].topology, rows[a].gpus, rows[a].seq_length) <
           std::tie(rows[b].model, rows[b].topology, rows[b].gpus, rows[b].seq_length);
  });
  for (size_t i : order) {
    const SweepRow& row = rows[i];
    const auto& point = plan.points[i];
    const ModelSpec& model = plan.models.at(point.model);
    const Topology& topology = plan.topologies.at(point.topology);
    const JobConfig job = job_of_row(row, point.job);  // the row's plan on the point's job
    nlohmann::ordered_json entry{{"model", row.model}, {"topology", row.topology}, {"gpus", row.gpus},
                                 {"seq_length", row.seq_length}, {"strategy", row.strategy}};
    text += fmt::format("\n==> {} {} {} GPUs {}: {} --emit {} <==\n", row.model, row.topology, row.gpus,
                        format_count(row.seq_length), plan_text(row, true), emit);
    try {
      const JobConfig resolved = make_strategy(job.strategy)->check(model, job);
      const std::vector<std::string> comments{
          fmt::format("spsim {}: {} on {} x {} ({}), seq {} (sweep --best)", SPSIM_VERSION, model.name,
                      resolved.num_gpus, topology.gpu.name, topology.name, format_count(resolved.seq_length)),
          fmt::format("predicted: step {:.1f} ms, {:.0f} tokens/s, peak memory {:.1f} GiB of {:.1f} GiB",
                      row.step_time_s * 1e3, row.tokens_per_s, row.mem_peak / kGiB, row.hbm_capacity / kGiB)};
      const LaunchSettings launch = emit_launch(format, model, topology, resolved, comments);
      text += launch.text;
      entry["launch"] = nlohmann::ordered_json::parse(to_json(launch).dump());
      for (const auto& note : launch.notes) {
        if (std::find(notes.begin(), notes.end(), note) == notes.end()) notes.push_back(note);
      }
    } catch (const InputError& e) {
      text += fmt::format("# not emitted: {}\n", e.full());
      entry["launch_refused"] = e.full();
    }
    all.push_back(std::move(entry));
  }
  write_file_atomically(prefix + ".launch.json", all.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  std::fputs(text.c_str(), stdout);
  for (const auto& note : notes) std::fprintf(stderr, "spsim: note: %s\n", note.c_str());
}

void run_sweep_command(SweepOptions& options, const MpiWorld& world);

}  // namespace

void check_sweep_block(const std::string& text, const std::string& path) { parse_sweep_block(text, path); }

void add_sweep_command(CLI::App& app) {
  auto o = std::make_shared<SweepOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sweep", "evaluate a grid of configurations, or search the best plan per point (--best)");
  add_job_options(cmd, o->job, true);
  add_plan_output_options(cmd, o->cost, false);  // --train-tokens, --gpu-hour-cost
  cmd->add_option("--emit", o->cost.emit,
                  "with --best: after the table, each point's best plan as launch settings (megatron, nemo, "
                  "deepspeed, torchtitan; the search keeps to plans that framework runs), also in PREFIX.launch.json")
      ->group("Output");
  o->job.strategies = {"all"};
  o->job.gpus = {"8:64:x2"};
  o->job.seq = {"8K:1M:x2"};
  relist(cmd, "--model", "-m,--model", o->models, "models (names or paths), comma list", "Input");
  relist(cmd, "--topology", "-T,--topology", o->topologies, "topologies (names or paths), comma list", "Input");
  relist(cmd, "--tp", "-t,--tp,--tensor-model-parallel-size", o->tp, "tensor-parallel degrees, range syntax",
         "Parallelism");
  relist(cmd, "--ulysses-degree", "-u,--ulysses-degree", o->ulysses, "Ulysses degrees, range syntax", "Parallelism");
  relist(cmd, "--ring-degree", "-r,--ring-degree", o->ring, "ring degrees, range syntax", "Parallelism");
  relist(cmd, "--dp", "--dp,--data-parallel-size", o->dp, "data-parallel degrees, range syntax", "Parallelism");
  relist(cmd, "--pp", "--pp,--pipeline-model-parallel-size", o->pp,
         "pipeline degrees, range syntax (--best: default every p dividing layers and GPUs)", "Parallelism");
  relist(cmd, "--zero", "--zero,--zero-stage", o->zero, "ZeRO stages, e.g. 0,1,3", "Parallelism");
  relist(cmd, "--mbs", "--mbs,--micro-batch-size", o->mbs, "micro-batch sizes, range syntax", "Training");
  relist(cmd, "--recompute", "--recompute,--recompute-granularity", o->recompute,
         "none | selective | full, comma list", "Training");
  relist(cmd, "--ring-variant", "--ring-variant", o->ring_variant, "basic | zigzag, comma list", "Parallelism");
  cmd->get_option("--gpus")->description("GPU counts, range syntax: 8:64:x2, 8,16,64 (default 8:64:x2)");
  cmd->get_option("--seq")->description("sequence lengths in tokens, range syntax, K = 1024: 8K:1M:x2 (default)");
  cmd->get_option("--strategy")->description("strategies, comma list or 'all' (default all)");
  cmd->get_option("--config")->description(
      "experiment JSON (experiments/*.json): run --config's keys plus a \"sweep\" block of lists");
  cmd->add_flag("--best", o->best,
                "search every legal (t, u, r, dp, pp), ZeRO 0-3, micro-batch 1/2/4 and recompute per strategy; "
                "keep the fastest plan that fits")->group("Sweep");
  cmd->add_flag("--techniques", o->techniques,
                "with --best: also search the long-context techniques (--loss chunked:8 / fused, "
                "--tiled-mlp auto) unless --loss / --tiled-mlp fix them, under the frameworks that have them "
                "(deepspeed, fsdp) unless --framework fixes it; the reason column names those used")
      ->group("Sweep");
  cmd->add_option("-o,--output", o->output, "output prefix: writes PREFIX.csv and PREFIX.json")
      ->capture_default_str()->group("Sweep");
  cmd->add_option("-j,--jobs", o->jobs, "worker processes (same bytes as --jobs 1)")
      ->transform(whole_number(1, kMaxJobs))->capture_default_str()->group("Sweep");
  cmd->add_flag("--resume", o->resume, "continue an interrupted sweep from PREFIX.partial")->group("Sweep");
  cmd->add_option("--plot", o->plot_dir, "also write the plots (PNG + SVG) into this folder")->group("Sweep");
  cmd->add_option("--progress", o->progress, "progress line on stderr: auto (when a terminal) | always | never")
      ->capture_default_str()->group("Sweep");
  cmd->footer(
      "Range syntax (nccl-tests style, K/M/G binary): 8K:1M:x2 (doubling), 8K:64K:+8K (step), 8,16,64\n"
      "Examples:\n"
      "  spsim sweep --best -o out/sweep --plot out/plots\n"
      "  spsim sweep -s ulysses,ring --gpus 8,16,64 --seq 32K:1M:x2 -o ulysses-vs-ring\n"
      "  spsim sweep -s usp -u 1,2,4,8 -r 1,2,4,8 --gpus 16 --seq 128K -o usp-degrees\n"
      "  spsim sweep --config experiments/ring-basic-vs-zigzag.json -o ring");
  cmd->callback([o]() {
    MpiWorld world;  // initialises MPI only under mpirun; its destructor finalises
    if (world.rank() == 0) {
      run_sweep_command(*o, world);
      return;
    }
    // Rank 0 prints the one error line (same inputs, same error; a rank's own failure reaches it
    // through the gather) and the table; the other ranks print nothing. They also exit 0: mpirun
    // aborts the whole job when any rank exits non-zero, which could kill rank 0 before it prints
    // the error; rank 0's exit code is mpirun's.
    try {
      run_sweep_command(*o, world);
    } catch (const std::exception&) {
    }
  });
}

namespace {

void run_sweep_command(SweepOptions& options, const MpiWorld& world) {
  {
    SweepOptions* o = &options;
    JobOptions& jo = o->job;
    if (o->progress != "auto" && o->progress != "always" && o->progress != "never") {
      throw InputError("--progress", fmt::format("must be auto, always or never (got \"{}\")", o->progress));
    }
    train_tokens(o->cost);  // a bad --train-tokens fails before the sweep runs
    const FileSweep file = read_sweep_block(jo.config_path);
    const bool best = o->best || (file.best.has_value() && *file.best && !given(jo, "--best"));
    if (!o->cost.emit.empty()) {
      if (!best) throw InputError("--emit", "launch settings are for the best plan of each point: add --best");
      // Plans to launch are searched and predicted for the framework that will run them.
      if (!given(jo, "--framework")) jo.framework = emit_framework(o->cost);
    }
    const std::vector<std::string> model_names = pick(jo, "--model", o->models, file, "models", {jo.model});
    const std::vector<std::string> topology_names =
        pick(jo, "--topology", o->topologies, file, "topologies", {jo.topology});

    SweepPlan plan;
    plan.best = best;
    const auto tp = numbers(pick(jo, "--tp", o->tp, file, "tensor_model_parallel_size", {}), "--tp", kMaxDegree);
    const auto us = numbers(pick(jo, "--ulysses-degree", o->ulysses, file, "ulysses_degree", {}), "--ulysses-degree",
                            kMaxDegree);
    const auto rs = numbers(pick(jo, "--ring-degree", o->ring, file, "ring_degree", {}), "--ring-degree", kMaxDegree);
    const auto dps = numbers(pick(jo, "--dp", o->dp, file, "data_parallel_size", {}), "--dp", kMaxGpus);
    const auto pps = numbers(pick(jo, "--pp", o->pp, file, "pipeline_model_parallel_size", {}), "--pp",
                             kMaxPipelineStages);
    const auto zeros = zero_numbers(pick(jo, "--zero", o->zero, file, "zero_stage", {}), "--zero");
    const auto mbss = numbers(pick(jo, "--mbs", o->mbs, file, "micro_batch_size", {}), "--mbs", kMaxMicroBatchSize);
    std::vector<Recompute> recomputes;
    const auto recompute_items = pick(jo, "--recompute", o->recompute, file, "recompute_granularity", {});
    for (const auto& item : recompute_items) {
      if (item.find(':') != std::string::npos) {
        throw InputError("--recompute", fmt::format("\"{}\": sweep searches whole recompute modes (none, "
                                                    "selective, full, op), not full:N; run the plan with "
                                                    "spsim run --recompute {}", item, item));
      }
      recomputes.push_back(parse_recompute(item, "--recompute"));
    }
    const auto variants = pick(jo, "--ring-variant", o->ring_variant, file, "ring_variant", {});
    for (const auto& v : variants) {
      if (v != "basic" && v != "zigzag") {
        throw InputError("--ring-variant", fmt::format("must be basic or zigzag (got \"{}\")", v));
      }
    }
    plan.space = SearchSpace{tp, us, rs, dps, zeros, mbss, recomputes, variants, pps, {}, {}, {}};
    if (o->techniques) {
      if (!best) throw InputError("--techniques", "searches the long-context techniques with --best; add --best");
      // Unless --loss / --tiled-mlp fix them: the framework's loss, torchtitan's chunked loss
      // and Liger's fused one; the MLP whole or in DeepSpeed's ceil(tokens / hidden) tiles.
      if (!given(jo, "--loss")) plan.space.loss = {"standard", "chunked:8", "fused"};
      if (!given(jo, "--tiled-mlp")) plan.space.tiled_mlp = {0, -1};
      // ZeRO-3's parameters go with its optimizer (ALST's single-GPU recipe offloads both).
      if (!given(jo, "--offload")) plan.space.offload = kSearchedOffloads;
      // and, unless --framework fixes it, under the frameworks whose code has them.
      if (!given(jo, "--framework")) plan.space.technique_frameworks = {"", "deepspeed", "fsdp"};
    }

    nlohmann::ordered_json inputs;
    BaseSetup batch;
    bool batch_default = false;
    std::vector<std::string> warnings;
    std::vector<std::string> used_strategies;
    std::vector<int64_t> gpu_counts, seqs;
    for (size_t mi = 0; mi < model_names.size(); ++mi) {
      for (size_t ti = 0; ti < topology_names.size(); ++ti) {
        JobOptions local = jo;
        local.model = model_names[mi];
        local.topology = topology_names[ti];
        local.tp = 1, local.ulysses = 1, local.ring = 1, local.dp = 0;
        const BaseSetup base = resolve_base(local);
        if (plan.engine != base.engine && mi + ti > 0) {
          throw InputError("--engine", "one sweep runs one engine");
        }
        plan.engine = base.engine;
        if (ti == 0) plan.models.push_back(base.model);
        if (mi == 0) plan.topologies.push_back(base.topology);
        const size_t topology_index = ti;
        std::vector<std::string> strategies = base.strategies;
        if (given(jo, "--strategy")) {
          strategies =
              applicable_strategies(split_list(jo.strategies, "--strategy"), base.model, nullptr, base.job.ring_comm);
        } else if (file.lists.count("strategies")) {
          strategies = applicable_strategies(file.lists.at("strategies"), base.model, nullptr, base.job.ring_comm);
        }
        // Flag, else the sweep block, else the config's job, else the defaults.
        auto dimension = [&](const char* flag, const std::vector<std::string>& flag_items, const char* key,
                             int64_t job_value, int64_t max) {
          if (given(jo, flag)) return numbers(flag_items, flag, max);
          if (file.lists.count(key)) return numbers(file.lists.at(key), jo.config_path + ": /sweep/" + key, max);
          if (base.from_file) return std::vector<int64_t>{job_value};
          return numbers(flag_items, flag, max);
        };
        gpu_counts = dimension("--gpus", jo.gpus, "num_gpus", base.job.num_gpus, kMaxGpus);
        seqs = dimension("--seq", jo.seq, "seq_length", base.job.seq_length, kMaxSeqLength);
        // Every plan of a point runs the same global batch: the user's (--gbs, --tokens-per-step,
        // the config's job), else one fixed default for the whole sweep, never one micro-batch
        // per data-parallel rank (which would rank plans of different batches).
        BaseSetup batch_base = base;
        if (!batch_given(jo, base)) batch_base.job.global_batch_size = default_global_batch(gpu_counts);
        for (int64_t seq : seqs) global_batch_for(batch_base, seq);  // bad --tokens-per-step: exit 2
        for (auto& w : unmodelled_warnings(base.model, base.topology, base.engine,
                                           *std::max_element(gpu_counts.begin(), gpu_counts.end()))) {
          warnings.push_back(std::move(w));
        }
        if (mi == 0 && ti == 0) {
          batch = batch_base;
          batch_default = !batch_given(jo, base);
        }
        used_strategies = strategies;
        if (mi == 0 && ti == 0) {
          inputs["base_job"] = nlohmann::ordered_json::parse(job_to_json(base.job).dump());
        }
        for (const auto& strategy : strategies) {
          const StrategyTraits& traits = strategy_traits(strategy);
          const bool uses_u = traits.cli_picks_degrees && traits.uses_ulysses;
          const bool uses_r = traits.cli_picks_degrees && traits.uses_ring;
          // Degrees the user listed for this scheme are taken as they are; otherwise the scheme's
          // defaults fill them in (setup_job), as `spsim run` does.
          const bool fixed = !best && (!tp.empty() || (uses_u && !us.empty()) || (uses_r && !rs.empty()));
          const std::vector<int64_t> one{0};  // "not swept" marker
          // The grid is counted before any point is built: lists each within kMaxRangePoints can
          // still multiply to 10^11 points.
          auto size = [best](size_t n, bool swept) { return static_cast<int64_t>(swept && n > 0 && !best ? n : 1); };
          const auto grid = product_within(
              {size(variants.size(), true), static_cast<int64_t>(gpu_counts.size()),
               static_cast<int64_t>(seqs.size()), size(tp.size(), true), size(us.size(), uses_u),
               size(rs.size(), uses_r), size(dps.size(), true), size(pps.size(), true), size(zeros.size(), true),
               size(mbss.size(), true), size(recomputes.size(), true)},
              static_cast<int64_t>(kMaxSweepPoints));
          if (!grid || plan.points.size() + static_cast<size_t>(*grid) > kMaxSweepPoints) {
            throw InputError("sweep", fmt::format("the grid has more than {} points, past the limit (README "
                                                  "\"Limits and errors\"); use fewer values per flag or "
                                                  "split the sweep", kMaxSweepPoints));
          }
          for (const auto& variant : variants.empty() || best ? std::vector<std::string>{""} : variants) {
            for (int64_t gpus : gpu_counts) {
              for (int64_t seq : seqs) {
                for (int64_t t : tp.empty() || best ? one : tp) {
                  for (int64_t u : !uses_u || us.empty() || best ? one : us) {
                    for (int64_t r : !uses_r || rs.empty() || best ? one : rs) {
                      for (int64_t d : dps.empty() || best ? one : dps) {
                       for (int64_t pp : pps.empty() || best ? one : pps) {
                        for (int64_t z : zeros.empty() || best ? one : zeros) {
                          for (int64_t m : mbss.empty() || best ? one : mbss) {
                            const std::vector<Recompute> rcs =
                                recomputes.empty() || best ? std::vector<Recompute>{base.job.recompute} : recomputes;
                            for (Recompute rc : rcs) {
                              BaseSetup b = batch_base;
                              b.strategies = strategies;
                              JobConfig& job = b.job;
                              job.global_batch_size = global_batch_for(batch_base, seq);
                              if (fixed) {
                                job.tensor_parallel = t > 0 ? t : 1;
                                job.ulysses_degree = u > 0 ? u : 1;
                                job.ring_degree = r > 0 ? r : 1;
                              }
                              if (d > 0) job.data_parallel = d;
                              if (pp > 0) job.pipeline_parallel = pp;
                              if (!variant.empty()) job.ring_variant = variant;
                              if (z > 0 || !zeros.empty()) job.zero_stage = static_cast<int>(z);
                              if (m > 0) job.micro_batch_size = m;
                              if (rc != job.recompute) job.recompute_layers = 0;  // full:N only as given
                              job.recompute = rc;
                              SweepPlan::Point point;
                              point.model = mi;
                              point.topology = topology_index;
                              point.job = best ? b.job : setup_job(jo, b, strategy, gpus, seq, fixed);
                              point.job.strategy = strategy;
                              point.job.num_gpus = gpus;
                              point.job.seq_length = seq;
                              plan.points.push_back(point);
                            }
                          }
                        }
                       }
                      }
                    }
                  }
                }
              }
            }
          }
        }
      }
    }
    inputs["config"] = jo.config_path.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(jo.config_path);
    inputs["models"] = model_names;
    inputs["topologies"] = topology_names;
    inputs["strategies"] = used_strategies;
    inputs["num_gpus"] = gpu_counts;
    inputs["seq_length"] = seqs;
    inputs["tensor_model_parallel_size"] = tp;
    inputs["ulysses_degree"] = us;
    inputs["ring_degree"] = rs;
    inputs["data_parallel_size"] = dps;
    inputs["pipeline_model_parallel_size"] = pps;
    inputs["zero_stage"] = zeros;
    inputs["micro_batch_size"] = mbss;
    inputs["recompute_granularity"] = recompute_items;
    inputs["ring_variant"] = variants;
    if (o->techniques) inputs["techniques"] = true;  // only when on: resume fingerprints stay as they were
    inputs["overrides"] = jo.overrides;
    inputs["global_batch_size"] = batch.job.global_batch_size;
    inputs["tokens_per_step"] = batch.tokens_per_step;
    inputs["batch_rule"] = batch_rule(batch, batch_default);
    nlohmann::ordered_json meta;
    meta["tool"] = "spsim";
    meta["version"] = SPSIM_VERSION;
    meta["git_commit"] = SPSIM_GIT_COMMIT;
    meta["engine"] = plan.engine;
    meta["mode"] = best ? "best" : "grid";
    meta["points"] = plan.points.size();
    meta["inputs"] = inputs;
    // The model's stated error, for readers of the files (the plots mark ties with it).
    const ModelError model_error = load_model_error();
    meta["model_error"] = model_error.known
                              ? nlohmann::ordered_json{{"throughput_median_abs", model_error.median_abs},
                                                       {"published_runs", model_error.rows},
                                                       {"source", model_error.source}}
                              : nlohmann::ordered_json(nullptr);
    meta["units"] = "SI: seconds, bytes (GiB = 2^30 in reasons), tokens/s; tflops_per_gpu_* in TFLOP/s per GPU";
    plan.meta = nlohmann::json::parse(meta.dump());

    // The search's time grows with the micro-batches per step (each is timed), and the default
    // batch of many GPU counts is large (1024 sequences for 64..1024 GPUs): say so before the
    // wait, with the way out.
    constexpr int64_t kLargeDefaultBatch = 256;
    if (world.rank() == 0 && batch_default && batch.job.global_batch_size > kLargeDefaultBatch) {
      std::fprintf(stderr,
                   "spsim: warning: the default global batch is %lld sequences (%s), and the search "
                   "time grows with the micro-batches per step: this may take minutes; give --gbs or "
                   "--tokens-per-step (real runs use a few million tokens per step)\n",
                   static_cast<long long>(batch.job.global_batch_size), kDefaultBatchRule);
    }
    Progress progress;
    const char* no_color = std::getenv("NO_COLOR");
    const char* term = std::getenv("TERM");
    const bool tty = ::isatty(STDERR_FILENO) != 0;
    progress.enabled = o->progress == "always" || (o->progress == "auto" && tty);
    progress.color = tty && (no_color == nullptr || no_color[0] == '\0') &&
                     !(term != nullptr && std::string(term) == "dumb");
    const bool root = world.rank() == 0;
    // D19: "-o outdir/" wrote the hidden files outdir/.csv and outdir/.json.
    const std::filesystem::path prefix(o->output);
    if (o->output.empty() || o->output.back() == '/' || prefix.filename() == "." || prefix.filename() == "..") {
      const std::string folder = o->output.empty() || o->output.back() == '/' ? o->output : o->output + "/";
      throw InputError("--output", fmt::format("\"{}\" names a folder, not a prefix; write e.g. {}sweep to get "
                                               "{}sweep.csv and {}sweep.json", o->output, folder, folder, folder));
    }
    // Like `mkdir -p`: a user naming out/sweep expects out/ to appear. Only rank 0 writes, so only
    // it creates the folder; its verdict is shared so that no rank waits on a stopped one.
    std::string mkdir_failure;
    if (root) {
      const std::filesystem::path parent = std::filesystem::path(o->output).parent_path();
      std::error_code mkdir_error;
      if (!parent.empty()) std::filesystem::create_directories(parent, mkdir_error);
      if (mkdir_error) {
        mkdir_failure = fmt::format("cannot create folder {} ({}); choose a writable path", parent.string(),
                                    mkdir_error.message());
      }
    }
    if (world.size() > 1) mkdir_failure = world.all_gather(mkdir_failure).at(0);
    if (!mkdir_failure.empty()) throw InputError("--output", mkdir_failure);
    // The outputs are checked before the sweep runs, not after (D19: PREFIX.csv a directory).
    // Temporaries of a final write killed with -9 (D18) go now, --resume or not.
    if (root) {
      for (const char* extension : {".csv", ".json"}) {
        remove_stray_temporaries(check_output_path(o->output + extension));
      }
    }
    SweepRunOptions run;
    run.output_prefix = o->output;
    run.jobs = o->jobs;
    run.resume = o->resume;
    run.on_row = [&progress](size_t done, size_t total) { progress.update(done, total); };
    run.rank = world.rank();
    run.ranks = world.size();
    if (world.size() > 1) run.all_gather = [&world](const std::string& mine) { return world.all_gather(mine); };
    const auto rows = run_sweep(plan, run);
    if (!root) return;
    print_warnings(warnings);  // after the run: an input error stays the only line on stderr
    std::fflush(stdout);
    print_table(plan, rows, batch_rule(batch, batch_default), model_error, train_tokens(o->cost),
                o->cost.gpu_hour_cost);
    std::fflush(stdout);
    if (!o->cost.emit.empty()) emit_best_plans(plan, rows, o->cost.emit, o->output);
    std::fflush(stdout);
    std::fprintf(stderr, "wrote %s.csv and %s.json (%zu rows)%s\n", o->output.c_str(), o->output.c_str(),
                 rows.size(), o->cost.emit.empty() ? "" : fmt::format(" and {}.launch.json", o->output).c_str());
    if (!o->plot_dir.empty()) run_plot_script(o->output + ".json", o->plot_dir);
  }
}

}  // namespace

}  // namespace spsim::cli
