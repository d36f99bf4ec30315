#include <algorithm>
#include <string>
#include <vector>

#include "spsim/trace.h"

namespace spsim {

namespace {

// Simulated seconds -> trace microseconds (the unit both chrome://tracing and Perfetto read).
double to_us(double seconds) { return seconds * 1e6; }

void append_line(std::string& out, const nlohmann::json& event, bool& first) {
  out += first ? "\n" : ",\n";
  first = false;
  out += event.dump();
}

}  // namespace

std::string write_chrome_trace(const Timeline& timeline) {
  std::string out = "{\"traceEvents\":[";
  bool first = true;
  for (const int64_t gpu : timeline.gpus) {
    append_line(out, {{"ph", "M"}, {"name", "process_name"}, {"pid", gpu}, {"tid", 0},
                      {"args", {{"name", timeline.process_label + " " + std::to_string(gpu)}}}}, first);
    append_line(out, {{"ph", "M"}, {"name", "process_sort_index"}, {"pid", gpu}, {"tid", 0},
                      {"args", {{"sort_index", gpu}}}}, first);
    for (size_t track = 0; track < timeline.track_names.size(); ++track) {
      append_line(out, {{"ph", "M"}, {"name", "thread_name"}, {"pid", gpu}, {"tid", track},
                        {"args", {{"name", timeline.track_names[track]}}}}, first);
      append_line(out, {{"ph", "M"}, {"name", "thread_sort_index"}, {"pid", gpu}, {"tid", track},
                        {"args", {{"sort_index", track}}}}, first);
    }
  }
  // Slices sorted per track by start (longest first on ties) so that they nest; the order is
  // total, hence the bytes are deterministic.
  std::vector<const TraceEvent*> events;
  events.reserve(timeline.events.size());
  for (const auto& event : timeline.events) events.push_back(&event);
  std::stable_sort(events.begin(), events.end(), [](const TraceEvent* a, const TraceEvent* b) {
    if (a->gpu != b->gpu) return a->gpu < b->gpu;
    if (a->track != b->track) return a->track < b->track;
    if (a->start_s != b->start_s) return a->start_s < b->start_s;
    return a->dur_s > b->dur_s;
  });
  for (const TraceEvent* event : events) {
    append_line(out, {{"ph", "X"}, {"name", event->name}, {"cat", event->category},
                      {"pid", event->gpu}, {"tid", event->track}, {"ts", to_us(event->start_s)},
                      {"dur", to_us(event->dur_s)}, {"args", event->args}}, first);
    // Flow events carry the same cat/pid/tid/ts as the slice they bind to (Chrome DevTools
    // binds by exactly those four; Perfetto by the enclosing slice).
    if (event->flow_out >= 0) {
      append_line(out, {{"ph", "s"}, {"name", "p2p"}, {"cat", event->category},
                        {"id", event->flow_out}, {"pid", event->gpu}, {"tid", event->track},
                        {"ts", to_us(event->start_s)}}, first);
    }
    if (event->flow_in >= 0) {
      append_line(out, {{"ph", "f"}, {"bp", "e"}, {"name", "p2p"}, {"cat", event->category},
                        {"id", event->flow_in}, {"pid", event->gpu}, {"tid", event->track},
                        {"ts", to_us(event->start_s)}}, first);
    }
  }
  for (const auto& counter : timeline.counters) {
    nlohmann::json args = nlohmann::json::object();
    for (const auto& [key, value] : counter.values) args[key] = value;
    append_line(out, {{"ph", "C"}, {"name", counter.name}, {"pid", counter.gpu}, {"tid", 0},
                      {"ts", to_us(counter.time_s)}, {"args", args}}, first);
  }
  out += "\n],\"displayTimeUnit\":\"ns\",\"otherData\":";
  out += timeline.metadata.dump();
  out += "}\n";
  return out;
}

}  // namespace spsim
