// Trace: a simulated timeline (per-GPU tracks of slices, counters, flow arrows) and its Chrome /
// Perfetto Trace Event JSON rendering. Free of SimGrid: the DES fills a Timeline, the report
// layer writes it.
#ifndef SPSIM_TRACE_H_
#define SPSIM_TRACE_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace spsim {

/// One slice on one track of one GPU. Slices on a track never overlap (streams run in order).
struct TraceEvent {
  int64_t gpu = 0;           // process (pid): the rank
  int track = 0;             // thread (tid): the stream
  std::string name;
  std::string category;      // "compute", "ulysses_a2a", ...
  double start_s = 0;
  double dur_s = 0;
  nlohmann::json args = nlohmann::json::object();
  int64_t flow_out = -1;     // id of a flow arrow leaving this slice (P2P send), -1 = none
  int64_t flow_in = -1;      // id of a flow arrow arriving at this slice (P2P receive)
};

/// A counter sample (memory over time): one "C" event with named numeric values.
struct TraceCounter {
  int64_t gpu = 0;
  std::string name;          // "HBM (GiB)"
  double time_s = 0;
  std::map<std::string, double> values;
};

struct Timeline {
  std::vector<int64_t> gpus;                 // ranks that have a process in the trace, sorted
  std::string process_label = "rank";        // process names: "<label> <id>"
  std::vector<std::string> track_names;      // track id -> name ("compute", "sp_comm", ...)
  std::vector<TraceEvent> events;
  std::vector<TraceCounter> counters;
  nlohmann::json metadata = nlohmann::json::object();  // written as "otherData"
};

/// Chrome Trace Event JSON object form: ts/dur in microseconds from 0, "M" names, "X" slices
/// sorted per track, "C" counters, "s"/"f" flows bound to their slices. Deterministic bytes.
std::string write_chrome_trace(const Timeline& timeline);

}  // namespace spsim

#endif  // SPSIM_TRACE_H_
