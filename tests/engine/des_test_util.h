// Hand-built topologies and graphs for the DES tests (every number chosen to make the arithmetic
// in the tests' comments easy).
#ifndef SPSIM_TESTS_ENGINE_DES_TEST_UTIL_H_
#define SPSIM_TESTS_ENGINE_DES_TEST_UTIL_H_

#include <string>

#include "engine/des_engine.h"
#include "spsim/engine.h"
#include "spsim/task_graph.h"
#include "spsim/topology.h"

namespace spsim::test {

/// 8 GPUs per node, 100 GB/s per GPU port (1 us), 8 NICs of 50 GB/s (2 us), 0.5 us per switch,
/// rail-optimized, 2 nodes per leaf, non-blocking, at most 4 nodes. GPU: 1 PFLOP/s bf16, 2 TB/s
/// HBM, every compute efficiency 0.5, no kernel overhead. Collectives: 0.8 of line rate on the
/// node, 0.5 across nodes.
inline Topology des_topology() {
  Topology t;
  t.name = "des-test";
  t.gpu.name = "test-gpu";
  t.gpu.peak_flops = {{"bf16", 1e15}};
  t.gpu.hbm_bandwidth = 2e12;
  t.gpu.hbm_bytes = 80e9;
  t.efficiency.kernels = KernelModel::uniform(0.5, 0.5, 0.5, 0);
  for (const char* kind : {"all_to_all", "all_gather", "reduce_scatter", "all_reduce", "send_recv"}) {
    t.efficiency.collective["intra_node"][kind] = 0.8;
    t.efficiency.collective["inter_node"][kind] = 0.5;
  }
  t.gpus_per_node = 8;
  t.intra_node_kind = "nvswitch";
  t.intra_node_bandwidth = 100e9;
  t.intra_node_latency_s = 1e-6;
  t.nics_per_node = 8;
  t.nic_bandwidth = 50e9;
  t.nic_latency_s = 2e-6;
  t.switch_latency_s = 0.5e-6;
  t.rail_optimized = true;
  t.nodes_per_leaf = 2;
  t.oversubscription = 1.0;
  t.max_nodes = 4;
  return t;
}

inline Task compute_task(const char* name, double flops, Category category = Category::kCompute) {
  Task task;
  task.name = name;
  task.kind = TaskKind::kCompute;
  task.stream = Stream::kCompute;
  task.category = category;
  task.op_class = OpClass::kGemm;
  task.flops = flops;
  return task;
}

inline Task comm_task(const char* name, CommKind kind, int group, double bytes, Stream stream,
                      Category category) {
  return Task::collective(name, Phase::kForward, stream, category, kind, group, bytes);
}

inline TaskGraph one_segment_graph(int64_t num_gpus, std::vector<Task> tasks, int64_t repeat = 1) {
  TaskGraph graph;
  graph.strategy = "test";
  graph.num_gpus = num_gpus;
  graph.micro_batches = 1;
  Segment segment;
  segment.name = "layer";
  segment.repeat = repeat;
  segment.tasks = std::move(tasks);
  graph.segments.push_back(std::move(segment));
  return graph;
}

inline StepResult run_des(const TaskGraph& graph, const Topology& topology,
                          const EngineOptions& options = {}) {
  return make_des_engine()->run(graph, topology, options);
}

}  // namespace spsim::test

#endif  // SPSIM_TESTS_ENGINE_DES_TEST_UTIL_H_
