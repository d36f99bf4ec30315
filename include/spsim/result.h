// StepResult: what an engine says about one step.
#ifndef SPSIM_RESULT_H_
#define SPSIM_RESULT_H_

#include <array>
#include <string>

#include <nlohmann/json.hpp>

#include "spsim/task_graph.h"

namespace spsim {

struct StepResult {
  std::string engine;          // "analytic" | "des"
  double step_time_s = 0;
  double compute_s = 0;        // busy time of the compute stream (one GPU; the slowest for DES)
  std::array<double, kNumCategories> comm_s{};     // time spent in each communication category
  std::array<double, kNumCategories> exposed_s{};  // compute-stream idle time blamed on each
  double bubble_s = 0;         // pipeline bubble (0 without pipeline parallelism)
  nlohmann::json extra = nlohmann::json::object();  // engine-specific (DES: links, critical path)
};

}  // namespace spsim

#endif  // SPSIM_RESULT_H_
