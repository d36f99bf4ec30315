// A lowered step on any engine: the graph as is, or with pipeline stages (p > 1) the pieces the
// strategy lowered, each timed by the engine, composed by Megatron's schedule. Internal to
// spsim_core; evaluate_lowered() (spsim/report.h) is its main caller.
#ifndef SPSIM_PIPELINE_PIPELINED_STEP_H_
#define SPSIM_PIPELINE_PIPELINED_STEP_H_

#include "spsim/engine.h"
#include "spsim/result.h"
#include "spsim/strategy.h"
#include "spsim/topology.h"

namespace spsim {

/// Runs a lowered step on `engine`: its graph as is, or, with pipeline stages (p > 1), each piece
/// the strategy lowered timed by the engine and composed by Megatron's 1F1B / interleaved
/// schedule (bubble from the schedule; details in StepResult::extra["pipeline"]). With a
/// trace path and p > 1 the trace is the schedule, one process per stage.
StepResult run_lowered_step(const LoweredStep& step, const Topology& topology, const Engine& engine,
                            const EngineOptions& options = {});

}  // namespace spsim

#endif  // SPSIM_PIPELINE_PIPELINED_STEP_H_
