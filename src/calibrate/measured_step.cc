// Reading a measured step (spsim/measured_step.h): step-time lists, Megatron-LM and NeMo logs, and
// PyTorch profiler (Kineto) traces.
#include "spsim/measured_step.h"

#include <algorithm>
#include <cmath>
#include <cctype>
#include <cstdlib>
#include <map>
#include <sstream>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/json_reader.h"
#include "spsim/error.h"
#include "spsim/limits.h"

namespace spsim {

namespace {

using Interval = std::pair<double, double>;  // [start, end), microseconds

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// The numbers after each `marker` on `line` (a progress bar rewrites itself with '\r' on one line).
std::vector<double> numbers_after(const std::string& line, const std::string& marker) {
  std::vector<double> out;
  for (size_t at = line.find(marker); at != std::string::npos; at = line.find(marker, at + marker.size())) {
    const char* start = line.c_str() + at + marker.size();
    char* end = nullptr;
    const double value = std::strtod(start, &end);
    if (end != start) out.push_back(value);
  }
  return out;
}

// Step-time lists and training logs. Megatron-LM's training log prints "elapsed time per iteration
// (ms): X" every log interval (megatron/training/training.py, training_log); NeMo logs the metric
// "train_step_timing in s" (its TimingCallback), shown as "train_step_timing in s=X" in the
// progress bar and "train_step_timing in s: X" by loggers.
MeasuredStep read_step_times(const std::string& path, const std::string& text) {
  struct Pattern {
    const char* marker;
    double to_seconds;
    const char* format;
  };
  const Pattern patterns[] = {{"elapsed time per iteration (ms):", 1e-3, "Megatron-LM log"},
                              {"train_step_timing in s=", 1.0, "NeMo log"},
                              {"train_step_timing in s:", 1.0, "NeMo log"}};
  MeasuredStep m;
  std::vector<std::string> lines;
  {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
  }
  const Pattern* log = nullptr;
  for (const Pattern& p : patterns) {
    for (const auto& line : lines) {
      if (line.find(p.marker) != std::string::npos) {
        log = &p;
        break;
      }
    }
    if (log) break;
  }
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const std::string where = fmt::format("{}:{}", path, i + 1);
    const auto check = [&](double value) {
      if (!std::isfinite(value) || value <= 0) {
        throw InputError(where, fmt::format("step time {} must be a positive number of seconds", value));
      }
      m.steps_s.push_back(value);
    };
    if (log) {
      for (double value : numbers_after(line, log->marker)) check(value * log->to_seconds);
      continue;
    }
    double value = 0;
    {
      const size_t first = line.find_first_not_of(" \t\r");
      if (first == std::string::npos || line[first] == '#') continue;
      const char* start = line.c_str() + first;
      char* end = nullptr;
      value = std::strtod(start, &end);
      const std::string rest = end ? std::string(end) : std::string();
      if (end == start || rest.find_first_not_of(" \t\r") != std::string::npos) {
        throw InputError(where, fmt::format("\"{}\" is not a step time: give one step time in seconds per line, "
                                            "a Megatron-LM or NeMo training log, or a PyTorch profiler trace (JSON)",
                                            line.substr(first, 60)));
      }
    }
    check(value);
  }
  m.format = log ? log->format : "step times";
  return m;
}

std::vector<Interval> merged(std::vector<Interval> v) {
  std::sort(v.begin(), v.end());
  std::vector<Interval> out;
  for (const auto& iv : v) {
    if (!out.empty() && iv.first <= out.back().second) {
      out.back().second = std::max(out.back().second, iv.second);
    } else {
      out.push_back(iv);
    }
  }
  return out;
}

// Length of the intersection of two merged (sorted, disjoint) interval lists.
double overlap(const std::vector<Interval>& a, const std::vector<Interval>& b) {
  double total = 0;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const double lo = std::max(a[i].first, b[j].first), hi = std::min(a[i].second, b[j].second);
    if (hi > lo) total += hi - lo;
    (a[i].second < b[j].second) ? ++i : ++j;
  }
  return total;
}

bool is_nccl(const std::string& name) {
  std::string lower(name.size(), ' ');
  std::transform(name.begin(), name.end(), lower.begin(), [](unsigned char ch) { return std::tolower(ch); });
  return lower.find("nccl") != std::string::npos;
}

// A Kineto trace: {"traceEvents": [{"ph": "X", "cat": "kernel", "name": ..., "ts": us, "dur": us,
// "pid": device}, ...]}. Only the fields of complete ("X") events are kept while parsing.
MeasuredStep read_kineto(const std::string& path, const std::string& text, int64_t skip) {
  nlohmann::json trace;
  try {
    const int event_depth = text[text.find_first_not_of(" \t\r\n")] == '[' ? 2 : 3;
    const nlohmann::json::parser_callback_t keep = [event_depth](int depth, nlohmann::json::parse_event_t event,
                                                      nlohmann::json& parsed) {
      if (depth > kMaxJsonDepth) throw InputError("", "nesting too deep");
      // Inside an event object (depth 3: root, traceEvents, event; 2 in a bare array) keep only
      // what is read.
      if (event == nlohmann::json::parse_event_t::key && depth == event_depth) {
        const auto& key = parsed.get_ref<const std::string&>();
        return key == "ph" || key == "cat" || key == "name" || key == "ts" || key == "dur" || key == "pid";
      }
      if (event == nlohmann::json::parse_event_t::key && depth == 1 && event_depth == 3) {
        return parsed.get_ref<const std::string&>() == "traceEvents";
      }
      return true;
    };
    trace = nlohmann::json::parse(text, keep);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(path, fmt::format("not a readable PyTorch profiler trace: {}", detail::strip_exception_prefix(e.what())));
  } catch (const InputError&) {
    throw InputError(path, fmt::format("JSON nested deeper than {} levels; give a PyTorch profiler trace", kMaxJsonDepth));
  }
  if (trace.is_array()) trace = nlohmann::json{{"traceEvents", std::move(trace)}};
  if (!trace.is_object() || !trace.contains("traceEvents") || !trace["traceEvents"].is_array()) {
    throw InputError(path, "no \"traceEvents\" array: give a PyTorch profiler (Kineto) trace, "
                           "e.g. torch.profiler's export_chrome_trace");
  }
  struct Step {
    double ts, dur;
  };
  std::vector<Step> steps;
  std::map<std::string, std::pair<std::vector<Interval>, std::vector<Interval>>> kernels;  // pid -> compute, comm
  size_t index = 0;
  for (const auto& e : trace["traceEvents"]) {
    const std::string where = fmt::format("{}: traceEvents[{}]", path, index++);
    if (!e.is_object() || !e.contains("ph") || !e["ph"].is_string() || e["ph"].get_ref<const std::string&>() != "X") {
      continue;
    }
    const std::string name = e.contains("name") && e["name"].is_string() ? e["name"].get<std::string>() : "";
    const std::string cat = e.contains("cat") && e["cat"].is_string() ? e["cat"].get<std::string>() : "";
    const bool step = name.rfind("ProfilerStep#", 0) == 0;
    if (!step && cat != "kernel") continue;
    if (!e.contains("ts") || !e["ts"].is_number() || !e.contains("dur") || !e["dur"].is_number()) {
      throw InputError(where, fmt::format("event \"{}\" has no numeric \"ts\" and \"dur\" (microseconds)", name));
    }
    const double ts = e["ts"].get<double>(), dur = e["dur"].get<double>();
    // Kineto's ts are microseconds since the epoch (about 1.7e15); a duration past 1e12 us (11.6
    // days) is not one step's.
    if (!std::isfinite(ts) || !std::isfinite(dur) || std::fabs(ts) > 1e18 || dur < 0 || dur > 1e12) {
      throw InputError(where, fmt::format("event \"{}\": ts {} / dur {} must be finite, |ts| <= 1e18 and "
                                          "0 <= dur <= 1e12 (microseconds)", name, ts, dur));
    }
    if (step) {
      steps.push_back({ts, dur});
      continue;
    }
    const std::string pid = e.contains("pid") ? e["pid"].dump() : "0";
    auto& lists = kernels[pid];
    (is_nccl(name) ? lists.second : lists.first).emplace_back(ts, ts + dur);
  }
  if (steps.empty()) {
    throw InputError(path, "no \"ProfilerStep#N\" events: profile with torch.profiler.profile(schedule=...) "
                           "and call prof.step() every training step");
  }
  std::sort(steps.begin(), steps.end(), [](const Step& a, const Step& b) { return a.ts < b.ts; });
  MeasuredStep m;
  m.format = "Kineto trace";
  if (static_cast<int64_t>(steps.size()) <= skip) {
    throw InputError(path, fmt::format("{} profiled steps, all skipped by --skip {}", steps.size(), skip));
  }
  for (size_t i = static_cast<size_t>(skip); i < steps.size(); ++i) {
    if (!(steps[i].dur > 0)) throw InputError(path, fmt::format("profiler step {} has zero duration", i));
    m.steps_s.push_back(steps[i].dur * 1e-6);
  }
  m.step_s = median(m.steps_s);
  // GPU kernels run behind the CPU's step annotations: count every kernel that starts after the
  // first used step began, and divide by the steps used.
  const double from = steps[static_cast<size_t>(skip)].ts;
  const double n = static_cast<double>(m.steps_s.size());
  double compute = 0, comm = 0, exposed = 0;
  for (auto& [pid, lists] : kernels) {
    std::vector<Interval> work, nccl;
    for (const auto& iv : lists.first) {
      if (iv.first >= from) work.push_back(iv);
    }
    for (const auto& iv : lists.second) {
      if (iv.first >= from) nccl.push_back(iv);
    }
    if (work.empty() && nccl.empty()) continue;
    ++m.devices;
    const auto w = merged(work), c = merged(nccl);
    double busy_work = 0, busy_comm = 0;
    for (const auto& iv : w) busy_work += iv.second - iv.first;
    for (const auto& iv : c) busy_comm += iv.second - iv.first;
    compute += busy_work;
    comm += busy_comm;
    exposed += busy_comm - overlap(w, c);
  }
  if (m.devices > 0) {
    m.has_breakdown = true;
    const double per = 1e-6 / (n * m.devices);
    m.compute_s = compute * per;
    m.comm_s = comm * per;
    m.exposed_comm_s = exposed * per;
  }
  return m;
}

}  // namespace

MeasuredStep read_measured_step(const std::string& path, int64_t skip) {
  return parse_measured_step(detail::read_file(path, kMaxTraceFileBytes), path, skip);
}

MeasuredStep parse_measured_step(const std::string& text, const std::string& path, int64_t skip) {
  if (skip < 0) throw InputError("--skip", fmt::format("must be 0 or more (got {})", skip));
  // JSON: an object ({"traceEvents": [...]}) or the bare event array of the Chrome trace format.
  // A log line may start with '[' too (a timestamp), but not with '[{'.
  const size_t first = text.find_first_not_of(" \t\r\n");
  const size_t second = first == std::string::npos ? first : text.find_first_not_of(" \t\r\n", first + 1);
  if (first != std::string::npos &&
      (text[first] == '{' || (text[first] == '[' && second != std::string::npos && text[second] == '{'))) {
    return read_kineto(path, text, skip);
  }
  if (text.size() > static_cast<size_t>(kMaxInputFileBytes)) {
    throw InputError(path, fmt::format("is {} bytes, past the limit of {} for a step-time list or log (README "
                                       "\"Limits and errors\")", text.size(), kMaxInputFileBytes));
  }
  MeasuredStep m = read_step_times(path, text);
  if (m.steps_s.empty()) {
    throw InputError(path, "no step time found: give one step time in seconds per line, a Megatron-LM or NeMo "
                           "training log, or a PyTorch profiler trace (JSON)");
  }
  if (static_cast<int64_t>(m.steps_s.size()) <= skip) {
    throw InputError(path, fmt::format("{} step times, all skipped by --skip {}", m.steps_s.size(), skip));
  }
  m.steps_s.erase(m.steps_s.begin(), m.steps_s.begin() + skip);
  m.step_s = median(m.steps_s);
  return m;
}

}  // namespace spsim
