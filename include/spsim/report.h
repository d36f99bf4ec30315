// Report: the whole pipeline for one configuration (model + topology + job -> lowered step ->
// engine -> result) and its renderings: table, JSON, per-op explanation. Files are written
// atomically (common/atomic_write.h) so an error never leaves partial output.
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

/// What every front end (run, sweep rows, max-context) reports about one lowered step.
struct Evaluation {
  StepResult result;
  StepFlops flops;         // of the whole step, in every convention
  double tokens_per_s = 0;
  bool fits_in_memory = false;
};

/// One configuration end to end: its inputs, the lowered step and its evaluation.
struct RunReport : Evaluation {
  ModelSpec model;
  Topology topology;
  LoweredStep lowered;   // resolved job, task graph, memory
};

/// Times a lowered step on `engine` (with pipeline stages, composed by the schedule) and derives
/// its FLOP, tokens/s and whether it fits in memory. The one place these are computed.
Evaluation evaluate_lowered(const ModelSpec& model, const Topology& topology, const LoweredStep& step,
                            const Engine& engine, const EngineOptions& options = {});

/// Lowers `job` with its strategy and evaluates it on `engine`. Throws InputError for impossible
/// jobs (the cluster too small for the GPU count included).
RunReport evaluate(const ModelSpec& model, const Topology& topology, const JobConfig& job,
                   const Engine& engine, const EngineOptions& options = {});

/// Stable keys (see README "Output"): step_time_s, tokens_per_s, tflops_per_gpu{...}, mfu,
/// memory{...} in bytes, fits_in_memory, breakdown{...}, comm_bytes_per_layer{...}, config{...}.
nlohmann::json to_json(const RunReport& report);

/// Canonical dump of a task graph: header fields, groups as [name, size, stride], and each
/// segment with its tasks (name and the fields of its kind, any other field when not default).
nlohmann::json to_json(const TaskGraph& graph);

/// Canonical dump of a lowered step: resolved job, memory estimate (bytes), the graph and, with
/// pipeline stages, the plan and its pieces ("pipeline_chunk_fwd", ...). tests/golden/ keeps it.
nlohmann::json to_json(const LoweredStep& step);

/// A human table, one row per report (strategies side by side).
std::string format_table(const std::vector<RunReport>& reports);

/// Per-op and per-collective breakdown of one layer, for checking numbers by hand.
std::string format_explain(const RunReport& report);

}  // namespace spsim

#endif  // SPSIM_REPORT_H_
