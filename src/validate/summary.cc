// Summaries of a validation run: error statistics by source, metric and scheme, ranking checks
// (pairs of rows that differ only in the plan) and memory checks (fits/OOM, runs that happened).
#include <algorithm>
#include <cmath>
#include <tuple>

#include <fmt/format.h>

#include "spsim/validate.h"

namespace spsim {

namespace {

ErrorStats stats_of(std::vector<std::pair<double, std::string>> errors) {
  ErrorStats out;
  out.n = static_cast<int64_t>(errors.size());
  if (errors.empty()) return out;
  std::vector<double> abs;
  double sum = 0;
  for (const auto& [e, id] : errors) {
    abs.push_back(std::fabs(e));
    sum += e;
    if (std::fabs(e) > out.max_abs || out.worst.empty()) {
      out.max_abs = std::fabs(e);
      out.worst = id;
    }
  }
  std::sort(abs.begin(), abs.end());
  const size_t n = abs.size();
  out.median_abs = n % 2 == 1 ? abs[n / 2] : 0.5 * (abs[n / 2 - 1] + abs[n / 2]);
  out.mean_signed = sum / static_cast<double>(n);
  return out;
}

// Rows that describe the same workload: one source, metric, model, GPU type, GPU count, length
// and precision. Two such rows with different plans are a published comparison of plans.
// Rows whose published numbers rank plans: one workload in one release of one source. The id's
// prefix names the release (validation/README.md: mbridge2509-, dgxc2411-, tt2408-): rows of two
// container releases differ in the software as well as in the plan, so their order is not a
// ranking of plans.
auto workload_key(const RowResult& r) {
  const ValidationRow& row = *r.row;
  const std::string release = row.id.substr(0, row.id.find('-'));
  return std::make_tuple(row.source, release, row.metric, row.model_ref, row.topology_ref, row.job.num_gpus,
                         row.job.seq_length, static_cast<int>(row.job.precision), row.job.causal);
}

// Throughput in the sense "bigger is faster".
double speed(const RowResult& r, double value) {
  return r.row->metric == "step_time_s" ? 1.0 / value : value;
}

constexpr double kMeasuredTie = 0.01;  // pairs closer than 1 % are reported, not scored

}  // namespace

ValidationSummary summarize(const std::vector<RowResult>& results, const std::string& engine) {
  ValidationSummary out;
  out.engine = engine;
  std::vector<std::pair<double, std::string>> throughput, memory;
  std::map<std::string, std::vector<std::pair<double, std::string>>> by_source, by_scheme, by_metric;
  std::vector<const RowResult*> ranked;
  for (const auto& r : results) {
    ++out.rows;
    if (r.status == "unsupported") ++out.unsupported[r.reason];
    if (r.status == "incomplete") ++out.incomplete[r.reason];
    if (r.status == "invalid") {
      ++out.invalid;
      ++out.invalid_reasons[r.reason];
    }
    if (r.status != "ok") continue;
    ++out.ok;
    const ValidationRow& row = *r.row;
    by_metric[row.metric].emplace_back(r.error, row.id);
    switch (row.kind) {
      case MetricKind::kThroughput:
        throughput.emplace_back(r.speed_error, row.id);
        by_source[row.source].emplace_back(r.speed_error, row.id);
        by_scheme[r.scheme].emplace_back(r.speed_error, row.id);
        ranked.push_back(&r);
        [[fallthrough]];
      case MetricKind::kMemory:
      case MetricKind::kReservedMemory:
        if (row.kind == MetricKind::kReservedMemory) {
          // PyTorch's caching allocator reserves at least what is live at the peak (plus cached
          // blocks and fragmentation), so the reservation bounds spsim's live peak from above.
          ++out.reserved_checks;
          if (r.predicted <= row.measured) {
            ++out.reserved_within;
          } else {
            out.reserved_exceeded.push_back(row.id);
          }
        }
        // A published run (or memory reading) happened, so its plan fit in memory.
        ++out.fits_checks;
        if (r.fits) {
          ++out.fits_agree;
        } else {
          out.fits_disagree.push_back(row.id);
        }
        if (row.kind == MetricKind::kMemory) memory.emplace_back(r.error, row.id);
        break;
      case MetricKind::kFits: {
        ++out.fits_checks;
        if ((row.measured > 0.5) == r.fits) {
          ++out.fits_agree;
        } else {
          out.fits_disagree.push_back(row.id);
        }
        break;
      }
      default:
        break;
    }
  }
  out.throughput = stats_of(throughput);
  out.memory = stats_of(memory);
  for (auto& [k, v] : by_source) out.by_source[k] = stats_of(v);
  for (auto& [k, v] : by_scheme) out.by_scheme[k] = stats_of(v);
  for (auto& [k, v] : by_metric) out.by_metric[k] = stats_of(v);

  // Ranking checks, in row order (deterministic).
  for (size_t i = 0; i < ranked.size(); ++i) {
    for (size_t j = i + 1; j < ranked.size(); ++j) {
      const RowResult& a = *ranked[i];
      const RowResult& b = *ranked[j];
      if (workload_key(a) != workload_key(b) || a.plan == b.plan) continue;
      const double ma = speed(a, a.row->measured), mb = speed(b, b.row->measured);
      const double pa = speed(a, a.predicted), pb = speed(b, b.predicted);
      RankingCheck check;
      check.source = a.row->source;
      const bool a_faster = ma >= mb;
      check.faster = a_faster ? a.row->id : b.row->id;
      check.slower = a_faster ? b.row->id : a.row->id;
      check.measured_margin = a_faster ? ma / mb - 1 : mb / ma - 1;
      check.predicted_margin = a_faster ? pa / pb - 1 : pb / pa - 1;
      check.agree = check.predicted_margin > 0;
      if (check.measured_margin < kMeasuredTie) {
        ++out.ranking_ties;
      } else if (check.agree) {
        ++out.rankings_agree;
      }
      out.rankings.push_back(check);
    }
  }
  return out;
}

namespace {

nlohmann::json stats_json(const ErrorStats& s) {
  return {{"n", s.n}, {"median_abs", s.median_abs}, {"max_abs", s.max_abs}, {"bias", s.mean_signed},
          {"worst", s.worst}};
}

double fraction(int64_t part, int64_t whole) {
  return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : 1.0;
}

int64_t scored_rankings(const ValidationSummary& s) {
  return static_cast<int64_t>(s.rankings.size()) - s.ranking_ties;
}

// Rounded so the checked-in file does not churn on the last bits of a double.
double round6(double x) { return std::round(x * 1e6) / 1e6; }

}  // namespace

nlohmann::json baseline_of(const ValidationSummary& s) {
  nlohmann::json out;
  out["engine"] = s.engine;
  out["rows_ok"] = s.ok;
  auto pack = [](const ErrorStats& e) {
    return nlohmann::json{{"n", e.n}, {"median_abs", round6(e.median_abs)}, {"max_abs", round6(e.max_abs)}};
  };
  out["throughput"] = pack(s.throughput);
  out["throughput"]["bias"] = round6(s.throughput.mean_signed);
  out["memory"] = pack(s.memory);
  out["by_metric"] = nlohmann::json::object();
  for (const auto& [k, v] : s.by_metric) out["by_metric"][k] = pack(v);
  out["rankings"] = scored_rankings(s);
  out["ranking_agreement"] = round6(fraction(s.rankings_agree, scored_rankings(s)));
  out["fits_checks"] = s.fits_checks;
  out["fits_agreement"] = round6(fraction(s.fits_agree, s.fits_checks));
  return out;
}

namespace {

// Every number of the two summaries that moved by more than `tolerance` in the direction `worse`
// (true: errors up, agreement down, fewer rows; false: the opposite).
std::vector<std::string> moved(const ValidationSummary& s, const nlohmann::json& base, double tolerance,
                               bool worse) {
  std::vector<std::string> out;
  const nlohmann::json now = baseline_of(s);
  auto number = [](const nlohmann::json& j, const char* key) {
    return j.contains(key) && j[key].is_number() ? j[key].get<double>() : 0.0;
  };
  // sign +1: bigger is worse (errors); -1: bigger is better (agreement, rows that run).
  auto check = [&](const std::string& name, double was, double is, int sign, bool percent) {
    const double delta = sign * (is - was);
    const double threshold = percent ? tolerance : 0.5;  // counts move by whole rows
    if (worse ? delta > threshold : delta < -threshold) {
      out.push_back(percent ? fmt::format("{} {:.1f} % -> {:.1f} %", name, 100 * was, 100 * is)
                            : fmt::format("{} {} -> {}", name, was, is));
    }
  };
  auto error_group = [&](const std::string& name, const nlohmann::json& was, const nlohmann::json& is) {
    check(name + " median |error|", number(was, "median_abs"), number(is, "median_abs"), 1, true);
    check(name + " max |error|", number(was, "max_abs"), number(is, "max_abs"), 1, true);
  };
  check("rows that run", number(base, "rows_ok"), number(now, "rows_ok"), -1, false);
  error_group("throughput", base.value("throughput", nlohmann::json::object()), now["throughput"]);
  error_group("memory", base.value("memory", nlohmann::json::object()), now["memory"]);
  const nlohmann::json metrics = base.value("by_metric", nlohmann::json::object());
  for (const auto& item : metrics.items()) {
    const nlohmann::json is = now["by_metric"].value(item.key(), nlohmann::json::object());
    check(item.key() + " rows that run", number(item.value(), "n"), number(is, "n"), -1, false);
    error_group(item.key(), item.value(), is);
  }
  for (const char* key : {"ranking_agreement", "fits_agreement"}) {
    check(key, number(base, key), number(now, key), -1, true);
  }
  return out;
}

}  // namespace

std::vector<std::string> compare_to_baseline(const ValidationSummary& s, const nlohmann::json& base,
                                             double tolerance) {
  return moved(s, base, tolerance, true);
}

std::vector<std::string> compare_to_baseline_improvements(const ValidationSummary& s,
                                                          const nlohmann::json& base, double tolerance) {
  return moved(s, base, tolerance, false);
}

// --- Renderings --------------------------------------------------------------------------------

namespace {

std::string number_text(double v) {
  if (v == 0) return "0";
  if (std::fabs(v) >= 1e4) return fmt::format("{:.0f}", v);
  if (std::fabs(v) >= 100) return fmt::format("{:.1f}", v);
  if (std::fabs(v) >= 1) return fmt::format("{:.2f}", v);
  return fmt::format("{:.3f}", v);
}

std::string stats_line(const std::string& name, const ErrorStats& s) {
  return fmt::format("  {:<26} {:>5} {:>9.1f} {:>9.1f} {:>+9.1f}  {}\n", name, s.n, 100 * s.median_abs,
                     100 * s.max_abs, 100 * s.mean_signed, s.worst);
}

}  // namespace

std::string format_validation_table(const std::vector<RowResult>& results) {
  std::string out = fmt::format("{:<46} {:<22} {:>12} {:>12} {:>8}  {:<16} {}\n", "id", "metric", "measured",
                                "predicted", "error%", "scheme", "plan / status");
  for (const auto& r : results) {
    const ValidationRow& row = *r.row;
    if (r.status == "ok") {
      out += fmt::format("{:<46} {:<22} {:>12} {:>12} {:>+8.1f}  {:<16} {}\n", row.id, row.metric,
                         number_text(row.measured), number_text(r.predicted), 100 * r.error, r.scheme,
                         r.plan);
    } else {
      out += fmt::format("{:<46} {:<22} {:>12} {:>12} {:>8}  {:<16} {}: {}\n", row.id, row.metric,
                         number_text(row.measured), "-", "-", "-", r.status, r.reason);
    }
  }
  return out;
}

std::string format_validation_summary(const ValidationSummary& s) {
  std::string out = fmt::format(
      "validation ({} engine): {} rows, {} run, {} unsupported, {} incomplete, {} refused by spsim\n",
      s.engine, s.rows, s.ok,
      [&] { int64_t n = 0; for (const auto& [k, v] : s.unsupported) n += v; return n; }(),
      [&] { int64_t n = 0; for (const auto& [k, v] : s.incomplete) n += v; return n; }(), s.invalid);
  const std::string header = fmt::format("  {:<26} {:>5} {:>9} {:>9} {:>9}  {}\n", "", "rows", "median|e|%",
                                         "max|e|%", "bias%", "worst row");
  out += "\nthroughput (tokens/s, TFLOP/s, MFU, step time as a speed; bias + = spsim too fast):\n" + header;
  out += stats_line("all", s.throughput);
  out += "by source:\n";
  for (const auto& [k, v] : s.by_source) out += stats_line(k, v);
  out += "by scheme:\n";
  for (const auto& [k, v] : s.by_scheme) out += stats_line(k, v);
  out += "\nby metric (error = predicted / measured - 1):\n" + header;
  for (const auto& [k, v] : s.by_metric) out += stats_line(k, v);
  const int64_t scored = static_cast<int64_t>(s.rankings.size()) - s.ranking_ties;
  out += fmt::format("\nrankings: {} of {} published orderings of plans reproduced ({} more pairs within 1 % "
                     "measured, not scored)\n",
                     s.rankings_agree, scored, s.ranking_ties);
  for (const auto& r : s.rankings) {
    if (r.agree || r.measured_margin < 0.01) continue;
    out += fmt::format("  reversed: {} faster than {} by {:+.1f} % measured, {:+.1f} % predicted\n", r.faster,
                       r.slower, 100 * r.measured_margin, 100 * r.predicted_margin);
  }
  out += fmt::format("memory: fits/OOM agrees on {} of {} checks (rows that ran must fit; fits rows)", s.fits_agree,
                     s.fits_checks);
  out += s.memory.n > 0 ? fmt::format("; peak memory median |error| {:.1f} %, max {:.1f} % over {} rows\n",
                                      100 * s.memory.median_abs, 100 * s.memory.max_abs, s.memory.n)
                        : "\n";
  if (!s.fits_disagree.empty()) {
    std::string ids;
    for (const auto& id : s.fits_disagree) ids += (ids.empty() ? "" : ", ") + id;
    out += "  disagree: " + ids + "\n";
  }
  if (s.reserved_checks > 0) {
    out += fmt::format("memory: the live peak is within the published allocator reservation on {} of {} "
                       "rows (peak_reserved_gib: an upper bound, not an error)\n",
                       s.reserved_within, s.reserved_checks);
    std::string ids;
    for (const auto& id : s.reserved_exceeded) ids += (ids.empty() ? "" : ", ") + id;
    if (!ids.empty()) out += "  exceeded: " + ids + "\n";
  }
  auto reasons = [&](const char* what, const std::map<std::string, int64_t>& by_reason) {
    if (by_reason.empty()) return;
    // The reasons are sentences with their sources; group them by their first clause.
    std::map<std::string, int64_t> grouped;
    for (const auto& [reason, n] : by_reason) {
      std::string key = reason.substr(0, reason.find_first_of(":;("));
      while (!key.empty() && key.back() == ' ') key.pop_back();
      grouped[key] += n;
    }
    int64_t total = 0;
    for (const auto& [k, n] : grouped) total += n;
    out += fmt::format("not run, {} ({} rows; --json has each row's reason):\n", what, total);
    for (const auto& [k, n] : grouped) out += fmt::format("  {:>4}  {}\n", n, k);
  };
  reasons("unsupported", s.unsupported);
  reasons("incomplete", s.incomplete);
  reasons("refused by spsim", s.invalid_reasons);
  return out;
}

namespace {

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

std::string validation_csv(const std::vector<RowResult>& results) {
  std::string out =
      "id,source,metric,kind,status,reason,model,topology,framework,scheme,plan,gpus,seq_length,"
      "measured,predicted,error,speed_error,step_time_s,tokens_per_s,peak_gib,hbm_gib,fits,assumed\n";
  for (const auto& r : results) {
    const ValidationRow& row = *r.row;
    const bool ok = r.status == "ok";
    auto num = [&](double v) { return ok ? fmt::format("{:.9g}", v) : std::string(); };
    out += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{:.9g},{},{},{},{},{},{},{},{},{}\n",
                       csv_quote(row.id), csv_quote(row.source), row.metric, to_string(row.kind), r.status,
                       csv_quote(r.reason), csv_quote(row.model_ref), csv_quote(row.topology_ref), row.framework,
                       r.scheme, csv_quote(r.plan), row.job.num_gpus, row.job.seq_length, row.measured,
                       num(r.predicted), num(r.error), num(r.speed_error), num(r.step_time_s),
                       num(r.tokens_per_s), num(r.peak_gib), num(r.hbm_gib), ok ? (r.fits ? "1" : "0") : "",
                       csv_quote(row.assumed));
  }
  return out;
}

nlohmann::json validation_json(const std::vector<RowResult>& results, const ValidationSummary& s) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : results) {
    const ValidationRow& row = *r.row;
    nlohmann::json j = {{"id", row.id}, {"source", row.source}, {"metric", row.metric},
                        {"kind", to_string(row.kind)}, {"status", r.status}, {"reason", r.reason},
                        {"model", row.model_ref}, {"topology", row.topology_ref}, {"framework", row.framework},
                        {"scheme", r.scheme}, {"plan", r.plan}, {"gpus", row.job.num_gpus},
                        {"seq_length", row.job.seq_length}, {"measured", row.measured}, {"assumed", row.assumed}};
    if (r.status == "ok") {
      j["predicted"] = r.predicted;
      j["error"] = r.error;
      j["speed_error"] = r.speed_error;
      j["step_time_s"] = r.step_time_s;
      j["tokens_per_s"] = r.tokens_per_s;
      j["peak_gib"] = r.peak_gib;
      j["hbm_gib"] = r.hbm_gib;
      j["fits"] = r.fits;
    }
    rows.push_back(std::move(j));
  }
  nlohmann::json summary = baseline_of(s);
  summary["throughput"] = stats_json(s.throughput);
  summary["memory"] = stats_json(s.memory);
  for (auto [name, group] : {std::pair{"by_source", &s.by_source}, std::pair{"by_scheme", &s.by_scheme},
                             std::pair{"by_metric", &s.by_metric}}) {
    summary[name] = nlohmann::json::object();
    for (const auto& [k, v] : *group) summary[name][k] = stats_json(v);
  }
  summary["unsupported"] = s.unsupported;
  summary["incomplete"] = s.incomplete;
  summary["invalid"] = s.invalid;
  nlohmann::json rankings = nlohmann::json::array();
  for (const auto& r : s.rankings) {
    rankings.push_back({{"source", r.source}, {"faster", r.faster}, {"slower", r.slower},
                        {"measured_margin", r.measured_margin}, {"predicted_margin", r.predicted_margin},
                        {"agree", r.agree}, {"measured_tie", r.measured_margin < 0.01}});
  }
  summary["ranking_checks"] = rankings;
  summary["fits_disagree"] = s.fits_disagree;
  summary["reserved_checks"] = s.reserved_checks;
  summary["reserved_within"] = s.reserved_within;
  summary["reserved_exceeded"] = s.reserved_exceeded;
  return {{"summary", summary}, {"rows", rows}};
}

}  // namespace spsim
