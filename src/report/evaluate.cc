#include <fmt/format.h>

#include "pipeline/pipelined_step.h"
#include "spsim/error.h"
#include "spsim/memory.h"
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

Evaluation evaluate_lowered(const ModelSpec& model, const Topology& topology, const LoweredStep& step,
                            const Engine& engine, const EngineOptions& options) {
  EngineOptions engine_options = options;
  const MemoryEstimate& memory = step.memory;
  // The step over time, not its peak moment: the forward's layers, what is there from the start
  // (gradients only when they are resident) and the gradients the backward makes.
  engine_options.trace_activation_bytes = memory.saved_layers;
  engine_options.trace_resident_bytes =
      memory.params + memory.optimizer + (memory.buffers - memory.buffers_of_the_peak) + memory.reserve +
      memory.grads_at_start;
  engine_options.trace_backward_grad_bytes = memory.grads_made_in_backward;
  Evaluation out;
  out.result = run_lowered_step(step, topology, engine, engine_options);
  out.flops = step_flops(model, step.job);
  const double seconds = out.result.step_time_s;
  out.tokens_per_s = seconds > 0 ? static_cast<double>(step.graph.tokens_per_step) / seconds : 0;
  out.fits_in_memory = fits(memory, topology);
  return out;
}

RunReport evaluate(const ModelSpec& model, const Topology& cluster, const JobConfig& job,
                   const Engine& engine, const EngineOptions& options) {
  const Topology topology = check_fits_cluster(cluster, job.num_gpus);
  check_host_for_offload(job.offloads_to_host(), topology);
  RunReport report;
  report.model = model;
  report.topology = topology;
  report.lowered = make_strategy(job.strategy)->lower(model, job);
  report.lowered.job.strategy = job.strategy;
  static_cast<Evaluation&>(report) = evaluate_lowered(model, topology, report.lowered, engine, options);
  return report;
}

}  // namespace spsim
