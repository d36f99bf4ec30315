// `spsim bench`: throughput of the engines, reported as medians of several runs. Speed targets
// live here, not in unit tests.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/job_options.h"
#include "engine/analytic_engine.h"
#include "spsim/error.h"
#include "spsim/strategy.h"
#include "spsim/sweep.h"

namespace spsim::cli {

namespace {

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// Configurations evaluated per second: lowering + analytic engine, over a ladder of sequence
// lengths (so no result can be cached), for one strategy and its default degrees.
void bench_analytic(const JobOptions& options, int runs, double seconds) {
  JobOptions o = options;
  const auto setups = resolve_setups(o);
  fmt::print("{:<12} {:>6} {:>8} {:>16} {:>16}\n", "strategy", "gpus", "layers", "configs_per_s",
             "us_per_config");
  for (const auto& setup : setups) {
    const auto strategy = make_strategy(setup.job.strategy);
    std::vector<JobConfig> jobs;
    for (int64_t seq = 8192; seq <= (int64_t{1} << 20); seq *= 2) {
      JobConfig job = setup.job;
      job.seq_length = seq;
      try {
        strategy->lower(setup.model, job);
        jobs.push_back(job);
      } catch (const InputError&) {
      }
    }
    if (jobs.empty()) throw InputError("bench", fmt::format("no legal configuration for {}", setup.job.strategy));
    std::vector<double> rates;
    double checksum = 0;
    for (int run = 0; run < runs; ++run) {
      const auto start = std::chrono::steady_clock::now();
      int64_t count = 0;
      double elapsed = 0;
      do {
        for (const auto& job : jobs) {
          const LoweredStep lowered = strategy->lower(setup.model, job);
          checksum += analytic_step(lowered.graph, setup.topology).step_time_s;
          ++count;
        }
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      } while (elapsed < seconds);
      rates.push_back(static_cast<double>(count) / elapsed);
    }
    const double rate = median(rates);
    fmt::print("{:<12} {:>6} {:>8} {:>16.0f} {:>16.2f}\n", setup.job.strategy, setup.job.num_gpus,
               setup.model.num_layers, rate, 1e6 / rate);
    if (checksum < 0) std::puts("");  // keeps the work observable
  }
}

// The best-plan search over the main-job grid (all four strategies, 8..64 GPUs, 8K..1M tokens
// by default): wall time of the whole search in this process, median of `runs`.
void bench_best(const JobOptions& options, int runs) {
  const auto setups = resolve_setups(options);
  std::vector<double> times;
  int64_t plans = 0;
  for (int run = 0; run < runs; ++run) {
    plans = 0;
    const auto start = std::chrono::steady_clock::now();
    for (const auto& setup : setups) {
      const auto strategy = make_strategy(setup.job.strategy);
      plans += search_best_plan(setup.model, setup.topology, *strategy, setup.job, {}, setup.engine).plans_searched;
    }
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  fmt::print("best-plan search: {} points, {} plans, median of {} runs: {:.3f} s (one process)\n",
             setups.size(), plans, runs, median(times));
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto options = std::make_shared<JobOptions>();
  auto which = std::make_shared<std::string>();
  auto runs = std::make_shared<int>(5);
  auto seconds = std::make_shared<double>(1.0);
  CLI::App* cmd = app.add_subcommand("bench", "measure engine throughput (median of several runs)");
  cmd->add_option("engine", *which, "analytic | des | best (the --best search over the main-job grid)")->required();
  cmd->add_option("--runs", *runs, "runs to take the median of")->capture_default_str();
  cmd->add_option("--seconds", *seconds, "minimum seconds per run")->capture_default_str();
  add_job_options(cmd, *options, true);
  options->strategies = {"all"};
  cmd->footer("Examples:\n  spsim bench analytic --strategy all --gpus 64\n  spsim bench best --runs 3");
  cmd->callback([=]() {
    if (*runs < 1 || *runs > 1000) throw InputError("--runs", "must be between 1 and 1000");
    if (!(*seconds > 0 && *seconds <= 600)) throw InputError("--seconds", "must be in (0, 600]");
    if (*which == "best") {
      JobOptions o = *options;
      if (o.command->count("--gpus") == 0) o.gpus = {"8", "16", "32", "64"};
      if (o.command->count("--seq") == 0) o.seq = {"8K", "16K", "32K", "64K", "128K", "256K", "512K", "1M"};
      bench_best(o, *runs);
    } else if (*which == "analytic") {
      bench_analytic(*options, *runs, *seconds);
    } else if (*which == "des") {
      throw InputError("bench", "the des benchmark is not built yet");
    } else {
      throw InputError("bench", fmt::format("unknown engine \"{}\"; use analytic or des", *which));
    }
  });
}

}  // namespace spsim::cli
