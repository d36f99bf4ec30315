#include <fmt/format.h>

#include "spsim/error.h"
#include "spsim/report.h"
#include "spsim/units.h"

namespace spsim {

namespace {

// The cluster must be able to hold the job before any engine runs: whole nodes, or whole
// allocation units of a larger scale-up domain (topology_for_job).
Topology check_fits_cluster(const Topology& topology, int64_t num_gpus) {
  const int64_t per_node = topology.gpus_per_node;
  if (per_node <= 0) throw InputError(topology.path, "gpus per node must be positive");
  if (topology.max_nodes > 0 && num_gpus > per_node * topology.max_nodes) {
    throw InputError("--gpus", fmt::format("{} GPUs do not fit topology \"{}\" ({} nodes x {} GPUs "
                                           "= {}); use fewer GPUs or a larger topology",
                                           num_gpus, topology.name, topology.max_nodes, per_node,
                                           per_node * topology.max_nodes));
  }
  return topology_for_job(topology, num_gpus);
}

}  // namespace

RunReport evaluate(const ModelSpec& model, const Topology& cluster, const JobConfig& job,
                   const Engine& engine, const EngineOptions& options) {
  const Topology topology = check_fits_cluster(cluster, job.num_gpus);
  RunReport report;
  report.model = model;
  report.topology = topology;
  report.lowered = make_strategy(job.strategy)->lower(model, job);
  report.lowered.job.strategy = job.strategy;
  EngineOptions engine_options = options;
  const MemoryEstimate& memory = report.lowered.memory;
  engine_options.trace_activation_bytes = memory.activations;
  engine_options.trace_resident_bytes = memory.peak() - memory.activations;
  report.result = run_lowered_step(report.lowered, topology, engine, engine_options);
  report.flops = step_flops(model, report.lowered.job);
  const double step = report.result.step_time_s;
  report.tokens_per_s = step > 0 ? static_cast<double>(report.lowered.graph.tokens_per_step) / step : 0;
  report.fits_in_memory = report.lowered.memory.peak() <= topology.gpu.hbm_bytes;
  return report;
}

}  // namespace spsim
