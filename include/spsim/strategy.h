// Strategy: a way to split one training step across GPUs. Each scheme is a plug-in that checks
// its rules and lowers the step to a TaskGraph (and its memory); engines never see a strategy.
#ifndef SPSIM_STRATEGY_H_
#define SPSIM_STRATEGY_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "spsim/job.h"
#include "spsim/memory.h"
#include "spsim/model.h"
#include "spsim/pipeline.h"
#include "spsim/task_graph.h"

namespace spsim {

struct LoweredStep {
  JobConfig job;            // resolved: derived degrees filled in
  TaskGraph graph;          // p = 1: the step; p > 1: the first stage's program (no bubble)
  MemoryEstimate memory;    // p > 1: the stage with the larger peak (pipeline.memory_stage)
  PipelinePlan pipeline;    // p > 1: the pieces the schedule composes
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual const char* name() const = 0;
  /// One line for `spsim list strategies`, with the Megatron --cp-comm-type equivalent.
  virtual const char* description() const = 0;
  /// Checks every constraint of the scheme (each InputError names the rule and the fix) and
  /// lowers one step. `job.strategy` is ignored: the plug-in is the strategy.
  virtual LoweredStep lower(const ModelSpec& model, const JobConfig& job) const = 0;
};

/// Throws InputError with a "did you mean" for an unknown name.
std::unique_ptr<Strategy> make_strategy(std::string_view name);
std::vector<std::string> list_strategies();

}  // namespace spsim

#endif  // SPSIM_STRATEGY_H_
