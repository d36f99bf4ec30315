#include <fmt/format.h>

#include "spsim/collective.h"
#include "spsim/report.h"
#include "spsim/units.h"

namespace spsim {

std::string format_explain(const RunReport& report) {
  // Every task of one layer (forward and backward, last micro-batch) with the numbers that give
  // its time, so a user can redo the arithmetic: FLOP and bytes for compute, bytes and the
  // group's placement for communication.
  const auto& graph = report.lowered.graph;
  const Topology& topo = report.topology;
  const Roofline roofline(topo, graph.precision);
  std::string out = fmt::format(
      "{} on {} x {} ({}), {} tokens, {}\n", report.model.name, report.lowered.job.num_gpus,
      topo.gpu.name, topo.name, format_count(report.lowered.job.seq_length), report.lowered.job.strategy);
  out += "groups:";
  for (const auto& g : graph.groups) {
    const auto p = place_group(g, topo.gpus_per_node);
    out += fmt::format("  {}(size {}, stride {}, {} per node x {} nodes)", g.name, g.size, g.stride,
                       p.ranks_per_node, p.nodes);
  }
  out += "\n";
  for (const auto& segment : graph.segments) {
    const std::string name = segment.name;
    if (name.rfind("layer", 0) != 0 || segment.when == When::kAllButLastMicroBatch) continue;
    out += fmt::format("\n[{}] x{} layers\n", name, segment.repeat);
    out += fmt::format("{:<22} {:<10} {:<14} {:>12} {:>12} {:>10}  {}\n", "task", "stream", "kind",
                       "GFLOP", "MB", "time_us", "group");
    double total = 0;
    for (const auto& task : segment.tasks) {
      if (task.kind == TaskKind::kCompute) {
        double scale = 1;
        for (double w : task.work_scale) scale = std::max(scale, w);
        const double t = roofline.time_s(task, task.work_scale.empty() ? 1.0 : scale);
        total += t;
        out += fmt::format("{:<22} {:<10} {:<14} {:>12.3f} {:>12.3f} {:>10.1f}\n", task.name,
                           to_string(task.stream), to_string(task.op_class), task.flops / 1e9,
                           task.hbm_bytes / 1e6, t * 1e6);
      } else {
        const auto& group = graph.groups.at(task.group);
        const auto p = place_group(group, topo.gpus_per_node);
        const double t = collective_time_s(task.comm, task.bytes, p, topo, task.calls);
        out += fmt::format("{:<22} {:<10} {:<14} {:>12} {:>12.3f} {:>10.1f}  {} n={} {}\n", task.name,
                           to_string(task.stream), to_string(task.comm), "-", task.bytes / 1e6,
                           t * 1e6, group.name, group.size, p.inter_node() ? "inter-node" : "intra-node");
      }
    }
    out += fmt::format("{:<22} {:>63.1f}  (compute only, before overlap)\n", "sum of compute", total * 1e6);
  }
  const PipelinePlan& plan = report.lowered.pipeline;
  if (plan.stages > 1 && report.result.extra.contains("pipeline")) {
    // The stage-level arithmetic: what the schedule was fed and what it made of it.
    const auto& x = report.result.extra.at("pipeline");
    auto ms = [&](const char* key) { return x.at(key).get<double>() * 1e3; };
    out += fmt::format(
        "\npipeline: {} stages x {} chunks of {} layers, {} micro-batches ({})\n"
        "  chunk forward {:.3f} ms, backward {:.3f} ms; embedding {:.3f} + {:.3f} ms (first stage), "
        "head {:.3f} + {:.3f} ms (last stage)\n"
        "  boundary send/recv {:.3f} MB per GPU per micro-batch and direction: {:.3f} ms\n"
        "  flush {:.3f} ms + tail {:.3f} ms; bubble {:.3f} ms ({:.1f} % of the busiest stage), P2P "
        "exposed {:.3f} ms\n",
        plan.stages, plan.virtual_stages, plan.chunk_layers, plan.micro_batches,
        x.at("schedule").get<std::string>(), ms("chunk_fwd_s"), ms("chunk_bwd_s"),
        ms("embedding_fwd_s"), ms("embedding_bwd_s"), ms("head_fwd_s"), ms("head_bwd_s"),
        plan.p2p_bytes / 1e6, ms("p2p_s"), ms("flush_s"), ms("tail_s"), ms("bubble_s"),
        100.0 * x.at("bubble_fraction").get<double>(), ms("p2p_exposed_s"));
    if (plan.uneven()) {
      std::string layout;
      for (int64_t n : plan.layers_per_chunk) layout += (layout.empty() ? "" : " ") + std::to_string(n);
      out += fmt::format("  uneven layout, layers of chunk g = local x p + stage: {} ({}); the chunk "
                         "times above are for {} layers\n",
                         layout, report.lowered.job.framework, plan.chunk_layers);
    }
  }
  const auto& m = report.lowered.memory;
  out += fmt::format(
      "\nmemory per GPU (GiB): params {:.2f}  grads {:.2f}  optimizer {:.2f}  activations {:.2f}  "
      "buffers {:.2f}  reserve {:.2f}  = peak {:.2f} of {:.2f} ({})\n",
      m.params / kGiB, m.grads / kGiB, m.optimizer / kGiB, m.activations / kGiB, m.buffers / kGiB,
      m.reserve / kGiB, m.peak() / kGiB, topo.gpu.hbm_bytes / kGiB,
      report.fits_in_memory ? "fits" : "does NOT fit");
  if (m.host > 0) {
    out += fmt::format("host memory per GPU (GiB): {:.2f} offloaded of {:.2f} (its share of the host){}\n",
                       m.host / kGiB, topo.host.memory_bytes_per_rank() / kGiB,
                       host_over_bytes(m, topo) > 0 ? ": does NOT fit" : "");
  }
  if (plan.stages > 1) {
    out += fmt::format("(pipeline stage {}: the one with the largest peak; {} chunks in flight on the "
                       "first stage, {} on the last)\n",
                       plan.memory_stage, plan.first_stage_in_flight, plan.last_stage_in_flight);
  }
  return out;
}

}  // namespace spsim
