// spsim compare: two predictions side by side (issue 19): each a `spsim run --json` result (or
// `-o` file), the B-vs-A delta of every headline number, and whether the throughput difference is
// inside the model's stated error (validation/baseline.json), i.e. whether spsim can tell the two
// plans apart at all.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "common/json_reader.h"
#include "spsim/error.h"
#include "spsim/measured_step.h"
#include "spsim/sweep.h"
#include "spsim/units.h"

namespace spsim::cli {

namespace {

/// The numbers compare reads from one run result.
struct Prediction {
  std::string file, model, topology, plan;
  int64_t gpus = 0, seq = 0, gbs = 0;
  double step_s = 0, tokens_per_s = 0, tflops = 0, mfu = 0, peak_bytes = 0, capacity = 0, exposed_s = 0,
         compute_s = 0;
  bool fits = false;
};

Prediction read_prediction(const std::string& path) {
  nlohmann::json j = detail::parse_json(detail::read_file(path), path);
  if (j.is_array() && j.size() == 1) j = nlohmann::json(j.front());
  const auto fail = [&](const std::string& why) {
    return InputError(path, fmt::format("{}: not one `spsim run --json` result; write one with spsim run ... "
                                        "--json > FILE (or -o FILE), one configuration per file",
                                        why));
  };
  if (j.is_array()) throw fail(fmt::format("a list of {} results", j.size()));
  if (!j.is_object()) throw fail("not a JSON object");
  for (const char* key : {"config", "model", "topology", "memory", "breakdown", "step_time_s", "tokens_per_s"}) {
    if (!j.contains(key)) throw fail(fmt::format("no \"{}\"", key));
  }
  Prediction p;
  p.file = path;
  try {
    const auto& c = j.at("config");
    p.model = j.at("model").at("name").get<std::string>();
    p.topology = j.at("topology").at("name").get<std::string>();
    p.gpus = c.at("num_gpus").get<int64_t>();
    p.seq = c.at("seq_length").get<int64_t>();
    p.gbs = c.at("global_batch_size").get<int64_t>();
    p.plan = fmt::format("{} {} t{} u{} r{} dp{} pp{} zero{} rc:{}", c.at("strategy").get<std::string>(),
                         c.at("framework").get<std::string>(), c.at("tensor_model_parallel_size").get<int64_t>(),
                         c.at("ulysses_degree").get<int64_t>(), c.at("ring_degree").get<int64_t>(),
                         c.at("data_parallel_size").get<int64_t>(), c.at("pipeline_model_parallel_size").get<int64_t>(),
                         c.at("zero_stage").get<int64_t>(),
                         c.at("recompute_granularity").get<std::string>() +
                             (c.contains("recompute_num_layers")
                                  ? ":" + std::to_string(c.at("recompute_num_layers").get<int64_t>())
                                  : std::string()));
    p.step_s = j.at("step_time_s").get<double>();
    p.tokens_per_s = j.at("tokens_per_s").get<double>();
    p.tflops = j.at("tflops_per_gpu").at("model").get<double>();
    p.mfu = j.at("mfu").get<double>();
    p.peak_bytes = j.at("memory").at("peak").get<double>();
    p.capacity = j.at("memory").at("capacity").get<double>();
    p.fits = j.at("fits_in_memory").get<bool>();
    p.exposed_s = j.at("breakdown").at("exposed_comm_total_s").get<double>();
    p.compute_s = j.at("breakdown").at("compute_s").get<double>();
  } catch (const nlohmann::json::exception& e) {
    throw fail(detail::strip_exception_prefix(e.what()));
  }
  if (!(p.tokens_per_s > 0 && p.step_s > 0)) throw fail("tokens_per_s and step_time_s must be positive");
  return p;
}

std::string delta(double a, double b) {
  return a > 0 ? fmt::format("{:+.1f}%", 100.0 * (b / a - 1)) : std::string("-");
}

// `compare --measured`: the measured step of a real run against spsim's prediction of it.
void compare_measured(const std::string& measured_path, int64_t skip, const std::string& prediction_path) {
  const MeasuredStep m = read_measured_step(measured_path, skip);
  const Prediction p = read_prediction(prediction_path);
  std::string out;
  const auto row = [&](const std::string& name, const std::string& x, const std::string& y, const std::string& d) {
    std::string line = fmt::format("{:<18} {:<44} {:<44} {}", name, x, y, d);
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + "\n";
  };
  const auto [lo, hi] = std::minmax_element(m.steps_s.begin(), m.steps_s.end());
  row("", "measured", "predicted", "predicted vs measured");
  row("file", measured_path, p.file, "");
  row("what", fmt::format("{}, {} steps{}", m.format, m.steps_s.size(),
                          skip > 0 ? fmt::format(" (first {} skipped)", skip) : std::string()),
      p.model + " / " + p.topology, "");
  row("plan", "", p.plan, "");
  row("step_ms", fmt::format("{:.1f} (median; min {:.1f}, max {:.1f})", m.step_s * 1e3, *lo * 1e3, *hi * 1e3),
      fmt::format("{:.1f}", p.step_s * 1e3), delta(m.step_s, p.step_s));
  if (m.has_breakdown) {
    row("GPU compute ms", fmt::format("{:.1f} per step", m.compute_s * 1e3), fmt::format("{:.1f}", p.compute_s * 1e3),
        delta(m.compute_s, p.compute_s));
    row("NCCL busy ms", fmt::format("{:.1f} per step", m.comm_s * 1e3), "", "");
    row("exposed comm ms", fmt::format("{:.1f} per step", m.exposed_comm_s * 1e3),
        fmt::format("{:.1f}", p.exposed_s * 1e3), delta(m.exposed_comm_s, p.exposed_s));
  }
  const double error = p.step_s / m.step_s - 1;
  std::string verdict = fmt::format("verdict: spsim predicts a step {:.1f}% {} than measured", 100 * std::fabs(error),
                                    error < 0 ? "shorter (optimistic)" : "longer (pessimistic)");
  const ModelError model_error = load_model_error();
  if (model_error.known) {
    verdict += fmt::format("; its median throughput error over {} published runs is {:.1f}% ({})", model_error.rows,
                           100 * model_error.median_abs, model_error.source);
  }
  out += verdict + "\n";
  if (m.has_breakdown && m.devices > 1) {
    out += fmt::format("note: the trace holds {} GPUs; their kernel times are averaged\n", m.devices);
  }
  out += "note: compare like with like: the prediction's model, GPUs, sequence, batch and plan must be the run's; "
         "calibrate the topology (spsim calibrate) to separate the cluster from the model\n";
  std::fputs(out.c_str(), stdout);
}

}  // namespace

void add_compare_command(CLI::App& app) {
  auto files = std::make_shared<std::vector<std::string>>();
  auto measured = std::make_shared<std::string>();
  auto skip = std::make_shared<int64_t>(0);
  CLI::App* cmd = app.add_subcommand("compare", "two predictions side by side (deltas, and whether they are "
                                                "a tie within the model's error), or a measured step against "
                                                "its prediction (--measured)");
  cmd->add_option("results", *files, "two `spsim run --json` results (A then B); with --measured, one")
      ->required()
      ->expected(1, 2);
  cmd->add_option("--measured", *measured,
                  "a measured run: step times (seconds, one per line), a Megatron-LM or NeMo training log, or a "
                  "PyTorch profiler (Kineto) trace JSON; compared with the one prediction given");
  cmd->add_option("--skip", *skip, "with --measured: warm-up steps to leave out (default 0)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 30));
  cmd->footer(
      "Examples:\n"
      "  spsim run -s ring -r 8 --gpus 8 --seq 128K --json > a.json\n"
      "  spsim run -s ulysses -u 8 --gpus 8 --seq 128K --json > b.json\n"
      "  spsim compare a.json b.json\n"
      "  spsim compare --measured megatron.log --skip 2 a.json   # the run of plan A against A");
  cmd->callback([files, measured, skip]() {
    if (!measured->empty()) {
      if (files->size() != 1) {
        throw InputError("--measured", fmt::format("compares one prediction with the measured run; got {} result "
                                                   "files (give one `spsim run --json` file)", files->size()));
      }
      compare_measured(*measured, *skip, files->front());
      return;
    }
    if (*skip != 0) throw InputError("--skip", "only with --measured (the warm-up steps of a measured run)");
    if (files->size() != 2) {
      throw InputError("compare", "takes two `spsim run --json` results (A then B), or --measured FILE and one");
    }
    const Prediction a = read_prediction(files->at(0));
    const Prediction b = read_prediction(files->at(1));
    std::string out;
    const auto row = [&](const std::string& name, const std::string& x, const std::string& y,
                         const std::string& d) {
      std::string line = fmt::format("{:<18} {:<44} {:<44} {}", name, x, y, d);
      line.erase(line.find_last_not_of(' ') + 1);
      out += line + "\n";
    };
    row("", "A", "B", "B vs A");
    row("file", a.file, b.file, "");
    row("model / topology", a.model + " / " + a.topology, b.model + " / " + b.topology, "");
    row("plan", a.plan, b.plan, "");
    row("gpus seq gbs", fmt::format("{} {} {}", a.gpus, format_count(a.seq), a.gbs),
        fmt::format("{} {} {}", b.gpus, format_count(b.seq), b.gbs), "");
    row("step_ms", fmt::format("{:.1f}", a.step_s * 1e3), fmt::format("{:.1f}", b.step_s * 1e3), delta(a.step_s, b.step_s));
    row("tokens/s", fmt::format("{:.0f}", a.tokens_per_s), fmt::format("{:.0f}", b.tokens_per_s),
        delta(a.tokens_per_s, b.tokens_per_s));
    row("TFLOP/s per GPU", fmt::format("{:.1f}", a.tflops), fmt::format("{:.1f}", b.tflops), delta(a.tflops, b.tflops));
    row("MFU %", fmt::format("{:.1f}", a.mfu * 100), fmt::format("{:.1f}", b.mfu * 100), "");
    row("exposed comm ms", fmt::format("{:.1f}", a.exposed_s * 1e3), fmt::format("{:.1f}", b.exposed_s * 1e3),
        delta(a.exposed_s, b.exposed_s));
    row("peak GiB (fits)", fmt::format("{:.1f} of {:.1f} ({})", a.peak_bytes / kGiB, a.capacity / kGiB, a.fits ? "yes" : "NO"),
        fmt::format("{:.1f} of {:.1f} ({})", b.peak_bytes / kGiB, b.capacity / kGiB, b.fits ? "yes" : "NO"),
        delta(a.peak_bytes, b.peak_bytes));
    // Throughput decides (plans of different batches have incomparable step times). The margin is
    // the faster plan's over the slower (sweep --best's winner over its runner-up), so the verdict
    // does not depend on which file comes first; the tie tolerance is the one sweep --best uses.
    const bool b_faster = b.tokens_per_s > a.tokens_per_s;
    const double fast = b_faster ? b.tokens_per_s : a.tokens_per_s, slow = b_faster ? a.tokens_per_s : b.tokens_per_s;
    const double margin = slow > 0 ? fast / slow - 1 : 0;
    const ModelError error = load_model_error();
    std::string verdict = fmt::format("verdict: {} is {:.1f}% faster than {} in tokens/s", b_faster ? "B" : "A",
                                      100 * margin, b_faster ? "A" : "B");
    if (error.known) {
      verdict += margin < error.median_abs
                     ? fmt::format(": a tie, inside the model's {:.1f}% median throughput error ({} published runs, {})",
                                   100 * error.median_abs, error.rows, error.source)
                     : fmt::format(": outside the model's {:.1f}% median throughput error ({})", 100 * error.median_abs,
                                   error.source);
    }
    out += verdict + "\n";
    // Another topology runs the same work (only faster or slower): step_ms stays comparable.
    if (a.model != b.model || a.gpus != b.gpus || a.seq != b.seq || a.gbs != b.gbs) {
      out += "note: A and B differ in model, GPUs, sequence or batch: step_ms compares different work; "
             "tokens/s is the comparable number\n";
    }
    if (!a.fits || !b.fits) out += "note: a plan that does not fit in memory cannot run\n";
    std::fputs(out.c_str(), stdout);
  });
}

}  // namespace spsim::cli
