// Report: the whole pipeline for one configuration (model + topology + job -> lowered step ->
// engine -> result) and its renderings: table, JSON, per-op explanation. Files are written
// atomically (temporary file + rename) so an error never leaves partial output.
#ifndef SPSIM_REPORT_H_
#define SPSIM_REPORT_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "spsim/engine.h"
#include "spsim/flops.h"
#include "spsim/job.h"
#include "spsim/model.h"
#include "spsim/result.h"
#include "spsim/strategy.h"
#include "spsim/topology.h"

namespace spsim {

struct RunReport {
  ModelSpec model;
  Topology topology;
  LoweredStep lowered;   // resolved job, task graph, memory
  StepResult result;
  StepFlops flops;
  double tokens_per_s = 0;
  bool fits_in_memory = false;
};

/// Lowers `job` with its strategy and runs `engine`. Throws InputError for impossible jobs.
RunReport evaluate(const ModelSpec& model, const Topology& topology, const JobConfig& job,
                   const Engine& engine, const EngineOptions& options = {});

/// Runs a lowered step on `engine`: its graph as is, or, with pipeline stages (p > 1), each piece
/// the strategy lowered timed by the engine and composed by Megatron's 1F1B / interleaved
/// schedule (bubble from the schedule; details in StepResult::extra["pipeline"]). With a
/// trace path and p > 1 the trace is the schedule, one process per stage.
StepResult run_lowered_step(const LoweredStep& step, const Topology& topology, const Engine& engine,
                            const EngineOptions& options = {});

/// Stable keys (see README "Output"): step_time_s, tokens_per_s, tflops_per_gpu{...}, mfu,
/// memory{...} in bytes, fits_in_memory, breakdown{...}, comm_bytes_per_layer{...}, config{...}.
nlohmann::json to_json(const RunReport& report);

/// A human table, one row per report (strategies side by side).
std::string format_table(const std::vector<RunReport>& reports);

/// Per-op and per-collective breakdown of one layer, for checking numbers by hand.
std::string format_explain(const RunReport& report);

/// Writes `content` to `path` through a temporary file in the same folder and a rename. A symlink
/// is written through to its target; see check_output_path for what is refused.
void write_file_atomically(const std::string& path, const std::string& content);

/// The file write_file_atomically(path) would replace (a symlink resolved to its target), or an
/// InputError when it cannot: an empty path, a folder, a FIFO, device or socket, or a missing
/// folder. Commands call it before their work, so a bad -o fails at once.
std::string check_output_path(const std::string& path);

/// Removes "PATH.tmp.PID" files whose process no longer runs (left by kill -9 during a write).
void remove_stray_temporaries(const std::string& path);

}  // namespace spsim

#endif  // SPSIM_REPORT_H_
