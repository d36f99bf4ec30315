// Helpers for the strategy tests: lower a job through the public plug-in API and read the bytes
// off the TaskGraph, the way a user checks `spsim explain` by hand.
#ifndef SPSIM_TESTS_STRATEGY_STRATEGY_TEST_UTIL_H_
#define SPSIM_TESTS_STRATEGY_STRATEGY_TEST_UTIL_H_

#include <string>

#include <gtest/gtest.h>

#include "spsim/job.h"
#include "spsim/strategy.h"
#include "spsim/task_graph.h"

namespace spsim::test {

/// Llama-3-8B at b = 1, s = 128K, bf16: the setting of the spec's §2.3 vectors.
inline JobConfig long_job(const std::string& strategy, int64_t gpus) {
  JobConfig job;
  job.strategy = strategy;
  job.num_gpus = gpus;
  job.seq_length = 131072;
  job.micro_batch_size = 1;
  job.precision = Precision::kBf16;
  job.framework_reserve_bytes = 0;
  return job;
}

inline LoweredStep lower(const ModelSpec& model, const JobConfig& job) {
  return make_strategy(job.strategy)->lower(model, job);
}

/// The first segment called `name` (layer_fwd, layer_bwd, ...); fails the test if absent.
inline const Segment& segment(const TaskGraph& graph, const std::string& name) {
  for (const auto& seg : graph.segments) {
    if (name == seg.name) return seg;
  }
  ADD_FAILURE() << "no segment " << name;
  static const Segment empty;
  return empty;
}

/// The segment called `name` that runs in micro-batches `when`.
inline const Segment& segment(const TaskGraph& graph, const std::string& name, When when) {
  for (const auto& seg : graph.segments) {
    if (name == seg.name && seg.when == when) return seg;
  }
  ADD_FAILURE() << "no segment " << name << " with when " << static_cast<int>(when);
  static const Segment empty;
  return empty;
}

/// Bytes one GPU sends in one instance of `seg` for tasks of `category` (all phases).
inline double bytes_of(const Segment& seg, Category category) {
  double total = 0;
  for (const auto& task : seg.tasks) {
    if (task.kind == TaskKind::kCollective && task.category == category) total += task.bytes;
  }
  return total;
}

/// Same, restricted to one collective kind.
inline double bytes_of(const Segment& seg, Category category, CommKind kind) {
  double total = 0;
  for (const auto& task : seg.tasks) {
    if (task.kind == TaskKind::kCollective && task.category == category && task.comm == kind) {
      total += task.bytes;
    }
  }
  return total;
}

/// Number of collective tasks of `category` and `kind` in one instance of `seg`.
inline int count_of(const Segment& seg, Category category, CommKind kind) {
  int n = 0;
  for (const auto& task : seg.tasks) {
    if (task.kind == TaskKind::kCollective && task.category == category && task.comm == kind) ++n;
  }
  return n;
}

/// Bytes one GPU sends per layer forward / backward for `category` (the layer segments run once
/// per layer; the backward of the last micro-batch is used, DP traffic has its own category).
inline double fwd_bytes(const LoweredStep& step, Category category) {
  return bytes_of(segment(step.graph, "layer_fwd"), category);
}
inline double bwd_bytes(const LoweredStep& step, Category category) {
  const Segment* last = nullptr;
  for (const auto& seg : step.graph.segments) {
    if (std::string(seg.name) == "layer_bwd" && seg.when != When::kAllButLastMicroBatch) last = &seg;
  }
  if (last == nullptr) {
    ADD_FAILURE() << "no layer_bwd segment";
    return 0;
  }
  return bytes_of(*last, category);
}

}  // namespace spsim::test

#endif  // SPSIM_TESTS_STRATEGY_STRATEGY_TEST_UTIL_H_
