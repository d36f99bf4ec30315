// Sweep rows as CSV and JSON. One list of (column, field) pairs drives the header, both writers
// and the journal reader, so the formats cannot drift apart.
#include <cmath>
#include <map>
#include <tuple>

#include <fmt/format.h>

#include "spsim/error.h"
#include "spsim/sweep.h"
#include "spsim/task_graph.h"

namespace spsim {

namespace {

std::string exposed_column(int category) {
  return fmt::format("exposed_{}_s", to_string(static_cast<Category>(category)));
}

// Calls f(name, field) for every column in order. Numeric result fields are "measured" (absent
// for invalid rows); inputs are always present.
template <class Row, class F>
void visit_columns(Row& row, F&& f) {
  f("model", row.model, false);
  f("topology", row.topology, false);
  f("engine", row.engine, false);
  f("strategy", row.strategy, false);
  f("gpus", row.gpus, false);
  f("seq_length", row.seq_length, false);
  f("tensor_parallel", row.tensor_parallel, false);
  f("ulysses_degree", row.ulysses_degree, false);
  f("ring_degree", row.ring_degree, false);
  f("data_parallel", row.data_parallel, false);
  f("pipeline_parallel", row.pipeline_parallel, false);
  f("virtual_pipeline_stages", row.virtual_pipeline_stages, false);
  f("zero_stage", row.zero_stage, false);
  f("micro_batch_size", row.micro_batch_size, false);
  f("global_batch_size", row.global_batch_size, false);
  f("recompute", row.recompute, false);
  f("precision", row.precision, false);
  f("ring_variant", row.ring_variant, false);
  f("status", row.status, false);
  f("reason", row.reason, false);
  f("step_time_s", row.step_time_s, true);
  f("tokens_per_s", row.tokens_per_s, true);
  f("tflops_per_gpu_model", row.tflops_model, true);
  f("tflops_per_gpu_megatron_deepspeed", row.tflops_megatron_deepspeed, true);
  f("tflops_per_gpu_nemo", row.tflops_nemo, true);
  f("tflops_per_gpu_causal_halved", row.tflops_causal_halved, true);
  f("mfu", row.mfu, true);
  f("mem_params_bytes", row.mem_params, true);
  f("mem_grads_bytes", row.mem_grads, true);
  f("mem_optimizer_bytes", row.mem_optimizer, true);
  f("mem_activations_bytes", row.mem_activations, true);
  f("mem_buffers_bytes", row.mem_buffers, true);
  f("mem_reserve_bytes", row.mem_reserve, true);
  f("mem_peak_bytes", row.mem_peak, true);
  f("hbm_capacity_bytes", row.hbm_capacity, true);
  f("fits_in_memory", row.fits_in_memory, true);
  f("compute_s", row.compute_s, true);
  for (int c = 1; c < kNumCategories; ++c) {
    f(exposed_column(c), row.exposed_s[c - 1], true);
  }
  f("bubble_s", row.bubble_s, true);
  f("plans_searched", row.plans_searched, false);
  f("plans_fit", row.plans_fit, false);
  f("best_at_point", row.best_at_point, false);
  f("runner_up", row.runner_up, false);
  f("runner_up_tokens_per_s", row.runner_up_tokens_per_s, false);
  f("margin", row.margin, false);
}

std::string csv_quote(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string format_number(double value) { return fmt::format("{:.9g}", value); }

}  // namespace

const std::vector<std::string>& sweep_columns() {
  static const std::vector<std::string> columns = [] {
    std::vector<std::string> names;
    SweepRow row;
    row.exposed_s.assign(kNumCategories - 1, 0.0);
    visit_columns(row, [&](const std::string& name, auto&, bool) { names.push_back(name); });
    return names;
  }();
  return columns;
}

nlohmann::json row_to_json(const SweepRow& source) {
  SweepRow row = source;
  row.exposed_s.resize(kNumCategories - 1, 0.0);
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  visit_columns(row, [&](const std::string& name, auto& field, bool measured) {
    if (measured && !row.has_numbers) {
      out[name] = nullptr;
    } else {
      out[name] = field;
    }
  });
  return nlohmann::json(out);
}

SweepRow row_from_json(const nlohmann::json& json) {
  if (!json.is_object()) throw Error("sweep row is not a JSON object");
  SweepRow row;
  row.exposed_s.assign(kNumCategories - 1, 0.0);
  row.has_numbers = json.contains("step_time_s") && !json.at("step_time_s").is_null();
  visit_columns(row, [&](const std::string& name, auto& field, bool measured) {
    if (measured && !row.has_numbers) return;
    using T = std::decay_t<decltype(field)>;
    field = json.at(name).template get<T>();
  });
  return row;
}

void mark_best_at_point(std::vector<SweepRow>& rows) {
  using Key = std::tuple<std::string, std::string, int64_t, int64_t>;
  auto key_of = [](const SweepRow& row) { return Key(row.model, row.topology, row.gpus, row.seq_length); };
  std::map<Key, size_t> best;
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].best_at_point = false;
    rows[i].runner_up.clear();
    rows[i].runner_up_tokens_per_s = 0;
    rows[i].margin = 0;
    if (rows[i].status != "ok") continue;
    const Key key = key_of(rows[i]);
    const auto it = best.find(key);
    // Strictly faster wins, so ties keep the earliest row.
    if (it == best.end() || rows[i].tokens_per_s > rows[it->second].tokens_per_s) best[key] = i;
  }
  // Runner-up: the fastest fitting row of another strategy (the earliest on equal tokens/s).
  std::map<Key, size_t> second;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].status != "ok") continue;
    const Key key = key_of(rows[i]);
    if (rows[i].strategy == rows[best.at(key)].strategy) continue;
    const auto it = second.find(key);
    if (it == second.end() || rows[i].tokens_per_s > rows[it->second].tokens_per_s) second[key] = i;
  }
  for (const auto& [key, index] : best) {
    SweepRow& row = rows[index];
    row.best_at_point = true;
    const auto it = second.find(key);
    if (it == second.end()) continue;
    const SweepRow& other = rows[it->second];
    row.runner_up = other.strategy;
    row.runner_up_tokens_per_s = other.tokens_per_s;
    row.margin = other.tokens_per_s > 0 ? row.tokens_per_s / other.tokens_per_s - 1 : 0;
  }
}

std::string sweep_csv(const std::vector<SweepRow>& rows) {
  std::string out;
  const auto& columns = sweep_columns();
  for (size_t i = 0; i < columns.size(); ++i) out += (i ? "," : "") + columns[i];
  out += "\n";
  for (const auto& source : rows) {
    SweepRow row = source;
    row.exposed_s.resize(kNumCategories - 1, 0.0);
    bool first = true;
    visit_columns(row, [&](const std::string&, auto& field, bool measured) {
      using T = std::decay_t<decltype(field)>;
      if (!first) out += ',';
      first = false;
      if (measured && !row.has_numbers) return;
      if constexpr (std::is_same_v<T, std::string>) {
        out += csv_quote(field);
      } else if constexpr (std::is_same_v<T, bool>) {
        out += field ? "true" : "false";
      } else if constexpr (std::is_same_v<T, double>) {
        out += format_number(field);
      } else {
        out += fmt::format("{}", field);
      }
    });
    out += "\n";
  }
  return out;
}

std::string sweep_json(const std::vector<SweepRow>& rows, const nlohmann::json& meta) {
  nlohmann::ordered_json out;
  out["meta"] = meta;
  out["columns"] = sweep_columns();
  out["rows"] = nlohmann::ordered_json::array();
  for (const auto& row : rows) {
    SweepRow copy = row;
    copy.exposed_s.resize(kNumCategories - 1, 0.0);
    nlohmann::ordered_json object = nlohmann::ordered_json::object();
    visit_columns(copy, [&](const std::string& name, auto& field, bool measured) {
      if (measured && !copy.has_numbers) {
        object[name] = nullptr;
      } else {
        object[name] = field;
      }
    });
    out["rows"].push_back(std::move(object));
  }
  return out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace spsim
