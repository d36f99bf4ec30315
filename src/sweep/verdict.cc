// What a best-plan table needs to be read as a decision: the model's stated error (a margin
// below it is a tie) and, where nothing fits, the nearest GPU count that works.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "common/data_dir.h"
#include "common/json_reader.h"
#include "spsim/error.h"
#include "spsim/strategy.h"
#include "spsim/sweep.h"

namespace spsim {

ModelError parse_model_error(const std::string& text, const std::string& where) {
  const nlohmann::json json = detail::parse_json(text, where);
  if (!json.is_object() || !json.contains("throughput") || !json.at("throughput").is_object()) {
    throw InputError(where, "has no \"throughput\" block; regenerate it with spsim validate "
                            "--update-baseline");
  }
  const nlohmann::json& throughput = json.at("throughput");
  if (!throughput.contains("median_abs") || !throughput.at("median_abs").is_number() ||
      !throughput.contains("n") || !throughput.at("n").is_number_integer()) {
    throw InputError(where, "/throughput needs \"median_abs\" (a number) and \"n\" (an integer); "
                            "regenerate it with spsim validate --update-baseline");
  }
  ModelError out;
  out.known = true;
  out.median_abs = throughput.at("median_abs").get<double>();
  out.rows = throughput.at("n").get<int64_t>();
  out.source = where;
  if (!(out.median_abs >= 0 && out.median_abs < 10)) {
    throw InputError(where, fmt::format("/throughput/median_abs must be a fraction in [0, 10) (got {})",
                                        out.median_abs));
  }
  return out;
}

ModelError load_model_error() {
  const std::filesystem::path path = std::filesystem::path(detail::data_dir()) / "validation" / "baseline.json";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return {};
  ModelError out = parse_model_error(detail::read_file(path.string()), path.string());
  out.source = "validation/baseline.json";
  return out;
}

GpuSuggestion nearest_fitting_gpus(const SweepPlan& plan, const std::vector<size_t>& points, int max_tries) {
  GpuSuggestion out;
  if (points.empty()) return out;
  const SweepPlan::Point& first = plan.points.at(points.front());
  const Topology& topology = plan.topologies.at(first.topology);
  const ModelSpec& model = plan.models.at(first.model);
  const int64_t n = first.job.num_gpus;
  // Jobs come in whole allocation units (a node, or a GB200 tray) once they leave one node.
  const int64_t node = std::max(1, topology.gpus_per_node);
  const int64_t unit = std::max<int64_t>(1, topology.allocation_gpus > 0 ? topology.allocation_gpus : node);
  std::vector<int64_t> counts;
  if (n <= node) {
    for (int64_t c : {n / 2, n * 2, n / 4, n * 4}) counts.push_back(c);
  }
  for (int64_t k = 1; k <= 8; ++k) {
    const int64_t below = (n / unit - k + (n % unit != 0 ? 1 : 0)) * unit;
    counts.push_back(below);
    counts.push_back((n / unit + k) * unit);
  }
  std::set<int64_t> seen{n};
  std::vector<int64_t> order;
  for (int64_t c : counts) {
    if (c >= 1 && seen.insert(c).second) order.push_back(c);
  }
  std::stable_sort(order.begin(), order.end(), [n](int64_t a, int64_t b) {
    const int64_t da = std::llabs(a - n), db = std::llabs(b - n);
    return da != db ? da < db : a < b;
  });
  if (order.size() > static_cast<size_t>(std::max(0, max_tries))) order.resize(static_cast<size_t>(max_tries));
  for (int64_t gpus : order) {
    std::optional<SweepRow> best;
    for (size_t index : points) {
      JobConfig job = plan.points.at(index).job;
      job.num_gpus = gpus;
      job.data_parallel = 0;
      SweepRow row;
      try {
        const auto strategy = make_strategy(job.strategy);
        row = plan.best ? search_best_plan(model, topology, *strategy, job, plan.space, plan.engine)
                        : evaluate_row(model, topology, *strategy, job, plan.engine);
      } catch (const InputError&) {
        continue;
      }
      if (row.status == "ok" && (!best || row.tokens_per_s > best->tokens_per_s)) best = std::move(row);
    }
    if (best) {
      out.gpus = gpus;
      out.row = std::move(*best);
      return out;
    }
  }
  return out;
}

}  // namespace spsim
