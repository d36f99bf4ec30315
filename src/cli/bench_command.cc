// `spsim bench`: throughput of the engines, reported as medians of several runs. Speed targets
// live here, not in unit tests.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "cli/job_options.h"
#include "common/process.h"
#include "engine/analytic_engine.h"
#include "pipeline/pipelined_step.h"
#include "spsim/engine.h"
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

// One DES configuration measured in its own process, so that the peak RSS
// (getrusage(RUSAGE_CHILDREN) there: the simulation process the engine forks) belongs to it alone.
struct DesMeasurement {
  double wall_median_s = 0;  // engine.run(), fork and result transport included
  double cpu_median_s = 0;   // user + system time of the simulation process
  double events = 0;
  double simulated_gpus = 0;
  double peak_rss_bytes = 0;
  double step_time_s = 0;
  double analytic_step_time_s = 0;
};

DesMeasurement measure_des(const Setup& setup, int runs) {
  int fds[2];
  if (::pipe(fds) != 0) throw Error("bench: pipe failed");
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw Error("bench: fork failed");
  if (pid == 0) {
    ::close(fds[0]);
    std::string line;
    try {
      const LoweredStep lowered = make_strategy(setup.job.strategy)->lower(setup.model, setup.job);
      const auto engine = make_engine("des");
      std::vector<double> walls, cpus;
      StepResult result;
      double cpu_before = 0;
      for (int run = 0; run < runs; ++run) {
        const auto start = std::chrono::steady_clock::now();
        result = run_lowered_step(lowered, setup.topology, *engine);
        walls.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        rusage usage{};
        ::getrusage(RUSAGE_CHILDREN, &usage);
        const double cpu = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                           1e-6 * static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
        cpus.push_back(cpu - cpu_before);
        cpu_before = cpu;
      }
      rusage usage{};
      ::getrusage(RUSAGE_CHILDREN, &usage);
      line = fmt::format("ok {} {} {} {} {} {} {}", median(walls), median(cpus),
                         result.extra.value("events", 0.0), result.extra.value("simulated_gpus", 0.0),
                         static_cast<double>(usage.ru_maxrss) * 1024.0, result.step_time_s,
                         analytic_step(lowered.graph, setup.topology).step_time_s);
    } catch (const InputError& e) {
      line = "input " + e.full();
    } catch (const std::exception& e) {
      line = std::string("error ") + e.what();
    }
    (void)!::write(fds[1], line.data(), line.size());
    ::close(fds[1]);
    ::_exit(0);
  }
  ::close(fds[1]);
  const std::string data = detail::read_until_eof(fds[0]);
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (data.rfind("input ", 0) == 0) throw InputError("bench", data.substr(6));
  if (data.rfind("ok ", 0) != 0) throw Error("bench: des measurement failed: " + data);
  DesMeasurement m;
  std::sscanf(data.c_str() + 3, "%lf %lf %lf %lf %lf %lf %lf", &m.wall_median_s, &m.cpu_median_s, &m.events,
              &m.simulated_gpus, &m.peak_rss_bytes, &m.step_time_s, &m.analytic_step_time_s);
  return m;
}

// Full steps on the DES: per strategy and GPU count, the median wall time of `runs` runs, events
// per second, the peak RSS of the simulation process, and the step time next to the analytic one.
// Without degrees on the command line, the benchmark: 128K tokens per sequence-parallel
// group of 32 GPUs (4 DGX nodes) for Ulysses and ring, u8 x r4 for USP, t=8 for Megatron-SP (TP
// stays inside a node); the rest data parallel.
void bench_des(JobOptions options, int runs, bool gpus_given, bool degrees_given) {
  if (!gpus_given) options.gpus = {"64", "1024", "16384"};
  std::vector<Setup> setups;
  if (degrees_given) {
    setups = resolve_setups(options);
  } else {
    // Fixed degrees (below): resolve one GPU count with degree 1 for the model, topology and
    // job fields, then set the degrees and GPU counts here (the default-degree search would
    // try sequence-parallel degrees of thousands at 16,384 GPUs).
    JobOptions base = options;
    base.gpus = {"8"};
    const std::vector<Setup> resolved = resolve_setups(base);
    for (const std::string& g : options.gpus) {
      for (const Setup& one : resolved) {
        Setup setup = one;
        if (g.empty() || g.find_first_not_of("0123456789") != std::string::npos) {
          throw InputError("--gpus", fmt::format("bench des takes plain GPU counts (got \"{}\"); e.g. 64,1024", g));
        }
        setup.job.num_gpus = std::stoll(g);
        setups.push_back(setup);
      }
    }
  }
  fmt::print("{:<12} {:>6} {:>10} {:>6} {:>6} {:>9} {:>9} {:>12} {:>8} {:>10} {:>10}\n", "strategy", "gpus",
             "degrees", "dp", "simul", "wall_s", "cpu_s", "events_per_s", "rss_mib", "des_step_s", "analytic_s");
  for (auto& setup : setups) {
    JobConfig& job = setup.job;
    if (!degrees_given) {
      // t 8 for tensor parallelism alone, u 32 or r 32 for one sequence degree, u 8 x r 4 for
      // both; a scheme whose plug-in picks its degree gets none.
      const StrategyTraits& traits = strategy_traits(job.strategy);
      const bool u = traits.cli_picks_degrees && traits.uses_ulysses;
      const bool r = traits.cli_picks_degrees && traits.uses_ring;
      job.tensor_parallel = traits.cli_picks_degrees && traits.uses_tensor && !u && !r ? 8 : 1;
      job.ulysses_degree = u ? (r ? 8 : 32) : 1;
      job.ring_degree = r ? (u ? 4 : 32) : 1;
      job.data_parallel = 0;
    }
    const int64_t sp = job.tensor_parallel * job.ulysses_degree * job.ring_degree;
    DesMeasurement m;
    try {
      m = measure_des(setup, runs);
    } catch (const InputError& e) {
      // A row past a limit (the DES work bound at 1,024 GPUs and more) says so and the bench goes
      // on: the other rows are still measurements.
      fmt::print("{:<12} {:>6} {:>10} {:>6}  skipped: {}\n", job.strategy, job.num_gpus,
                 fmt::format("t{}u{}r{}", job.tensor_parallel, job.ulysses_degree, job.ring_degree),
                 job.num_gpus / std::max<int64_t>(1, sp), e.what());
      std::fflush(stdout);
      continue;
    }
    fmt::print("{:<12} {:>6} {:>10} {:>6} {:>6} {:>9.3f} {:>9.3f} {:>12.0f} {:>8.0f} {:>10.4f} {:>10.4f}\n",
               job.strategy, job.num_gpus,
               fmt::format("t{}u{}r{}", job.tensor_parallel, job.ulysses_degree, job.ring_degree),
               job.num_gpus / sp, static_cast<int64_t>(m.simulated_gpus), m.wall_median_s, m.cpu_median_s,
               m.cpu_median_s > 0 ? m.events / m.cpu_median_s : 0.0, m.peak_rss_bytes / (1024.0 * 1024.0),
               m.step_time_s, m.analytic_step_time_s);
    std::fflush(stdout);
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto options = std::make_shared<JobOptions>();
  auto which = std::make_shared<std::string>();
  auto runs = std::make_shared<int>(5);
  auto seconds = std::make_shared<double>(1.0);
  CLI::App* cmd = app.add_subcommand("bench", "measure engine throughput (median of several runs)");
  cmd->add_option("engine", *which, "analytic | des | best (the --best search over the main-job grid)")->required();
  cmd->add_option("--runs", *runs, "runs to take the median of (des: default 3)");
  cmd->add_option("--seconds", *seconds, "minimum seconds per run")->capture_default_str();
  add_job_options(cmd, *options, true);
  options->strategies = {"all"};
  cmd->footer(
      "Examples:\n  spsim bench analytic --strategy all --gpus 64\n"
      "  spsim bench des                  (Llama-3-8B, 128K tokens per group, 64 / 1,024 / 16,384 GPUs)\n"
      "  spsim bench des -s ulysses -u 8 --gpus 64 --runs 5\n"
      "  spsim bench best --runs 3        (the --best search over the main-job grid)");
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
      const bool gpus_given = cmd->get_option("--gpus")->count() > 0;
      const bool degrees_given = cmd->get_option("--tp")->count() + cmd->get_option("--ulysses-degree")->count() +
                                     cmd->get_option("--ring-degree")->count() + cmd->get_option("--cp")->count() >
                                 0;
      const int des_runs = cmd->get_option("--runs")->count() > 0 ? *runs : 3;
      bench_des(*options, des_runs, gpus_given, degrees_given);
    } else {
      throw InputError("bench", fmt::format("unknown engine \"{}\"; use analytic, des or best", *which));
    }
  });
}

}  // namespace spsim::cli
