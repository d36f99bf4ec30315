// A pipelined step (p > 1) on any engine. The strategy lowered the pieces one stage runs; the
// engine times each piece as an ordinary task graph (every stage runs it at once, so the DES sees
// the stages contend for shared links); Megatron's schedule, simulated op by op, turns the chunk
// times into the step, so the bubble comes from the schedule, not from a closed form.
//
//   step = schedule(chunk fwd/bwd, embedding on chunk 0, head on the last chunk, P2P per hop)
//        + tail (gradient reduction left after the flush, optimizer)
//
// Breakdowns are those of the busiest stage: its m v chunk forwards and backwards, its embedding
// or head, and the tail; `bubble_s` is the schedule's idle time without P2P, and the exposed
// pipeline P2P is what the hops add to the step on top of it.
#include "pipeline/pipelined_step.h"

#include <algorithm>
#include <string>

#include "common/atomic_write.h"
#include "pipeline/schedule.h"
#include "report/tidy.h"
#include "spsim/trace.h"

namespace spsim {

namespace {

using detail::tidy;

// Boundary sends of stage `stage`: forward out of every chunk but the model's last, backward out
// of every chunk but the first.
int64_t sends_per_micro_batch(const PipelinePlan& plan, int64_t stage) {
  const int64_t p = plan.stages, v = plan.virtual_stages;
  int64_t sends = 0;
  for (int64_t local = 0; local < v; ++local) {
    const int64_t chunk = local * p + stage;
    if (chunk < p * v - 1) ++sends;
    if (chunk > 0) ++sends;
  }
  return sends;
}

void accumulate(StepResult& into, const StepResult& piece, double times) {
  into.compute_s += times * piece.compute_s;
  for (int c = 0; c < kNumCategories; ++c) {
    into.comm_s[c] += times * piece.comm_s[c];
    into.exposed_s[c] += times * piece.exposed_s[c];
  }
}

// The schedule as a Chrome trace: one process per stage, forward and backward chunk slices.
std::string schedule_trace(const PipelinePlan& plan, const PipelineResult& schedule,
                           const std::string& engine) {
  Timeline timeline;
  timeline.track_names = {"compute"};
  timeline.process_label = "stage";
  for (int64_t i = 0; i < plan.stages; ++i) timeline.gpus.push_back(i);
  for (const PipelineOp& op : schedule.ops) {
    TraceEvent event;
    event.gpu = op.stage;
    event.track = 0;
    event.name = (op.forward ? "F" : "B") + std::to_string(op.micro_batch);
    event.category = op.forward ? "forward" : "backward";
    event.start_s = op.start_s;
    event.dur_s = op.end_s - op.start_s;
    event.args = {{"micro_batch", op.micro_batch}, {"chunk", op.chunk}};
    timeline.events.push_back(std::move(event));
  }
  timeline.metadata = {{"spsim_view", "pipeline schedule: one process per stage (pid = stage)"},
                       {"engine", engine},
                       {"stages", plan.stages},
                       {"virtual_stages", plan.virtual_stages},
                       {"micro_batches", plan.micro_batches}};
  return write_chrome_trace(timeline);
}

}  // namespace

StepResult run_lowered_step(const LoweredStep& step, const Topology& topology,
                            const Engine& engine, const EngineOptions& options) {
  const PipelinePlan& plan = step.pipeline;
  if (plan.stages <= 1) return engine.run(step.graph, topology, options);

  EngineOptions piece_options = options;
  piece_options.trace_path.clear();  // the pieces' own timelines are not the step's
  auto time = [&](const TaskGraph& graph) { return engine.run(graph, topology, piece_options); };
  const StepResult fwd = time(plan.chunk_fwd);
  const StepResult bwd = time(plan.chunk_bwd);
  const StepResult emb_fwd = time(plan.embedding_fwd);
  const StepResult emb_bwd = time(plan.embedding_bwd);
  const StepResult head_fwd = time(plan.head_fwd);
  const StepResult head_bwd = time(plan.head_bwd);
  const StepResult p2p = time(plan.p2p);
  const StepResult tail_with = time(plan.tail_with_dp);
  const StepResult tail_without = time(plan.tail_without_dp);
  // Uneven layouts: the pieces of every chunk g, by its layer count (0 layers: nothing to run).
  std::vector<StepResult> other_fwd, other_bwd;
  for (const PipelinePlan::OtherChunk& other : plan.other_chunks) {
    other_fwd.push_back(time(other.fwd));
    other_bwd.push_back(time(other.bwd));
  }
  const StepResult none;
  auto chunk_piece = [&](int64_t g, bool forward) -> const StepResult& {
    const int64_t layers = plan.layers_per_chunk.at(static_cast<size_t>(g));
    if (layers == plan.chunk_layers) return forward ? fwd : bwd;
    for (size_t k = 0; k < plan.other_chunks.size(); ++k) {
      if (plan.other_chunks[k].layers == layers) return forward ? other_fwd[k] : other_bwd[k];
    }
    return none;
  };

  PipelineSpec spec;
  spec.stages = plan.stages;
  spec.micro_batches = plan.micro_batches;
  spec.virtual_stages = plan.virtual_stages;
  spec.chunk_fwd_s = fwd.step_time_s;
  spec.chunk_bwd_s = bwd.step_time_s;
  if (plan.uneven()) {
    for (int64_t g = 0; g < plan.stages * plan.virtual_stages; ++g) {
      spec.chunk_fwd_each_s.push_back(chunk_piece(g, true).step_time_s);
      spec.chunk_bwd_each_s.push_back(chunk_piece(g, false).step_time_s);
    }
  }
  spec.p2p_s = p2p.step_time_s;
  spec.first_chunk_extra_fwd_s = emb_fwd.step_time_s;
  spec.first_chunk_extra_bwd_s = emb_bwd.step_time_s;
  spec.last_chunk_extra_fwd_s = head_fwd.step_time_s;
  spec.last_chunk_extra_bwd_s = head_bwd.step_time_s;
  spec.record_ops = !options.trace_path.empty();
  const PipelineResult schedule = simulate_pipeline(spec);
  spec.p2p_s = 0;
  spec.record_ops = false;
  const PipelineResult no_hops = simulate_pipeline(spec);
  const double tail = std::max(0.0, tail_with.step_time_s - tail_without.step_time_s);

  // The busiest stage: first or last when even (the middle ones carry neither embedding nor
  // head); with an uneven layout a middle stage with more layers may be.
  int64_t critical =
      no_hops.stage_busy_s.back() > no_hops.stage_busy_s.front() ? plan.stages - 1 : 0;
  for (int64_t i = 1; i + 1 < plan.stages && plan.uneven(); ++i) {
    if (no_hops.stage_busy_s[static_cast<size_t>(i)] > no_hops.stage_busy_s[static_cast<size_t>(critical)]) {
      critical = i;
    }
  }
  const double m = static_cast<double>(plan.micro_batches);
  const double chunks = m * static_cast<double>(plan.virtual_stages);
  StepResult out;
  out.engine = fwd.engine;
  out.step_time_s = schedule.step_s + tail;
  if (plan.uneven()) {
    for (int64_t local = 0; local < plan.virtual_stages; ++local) {
      accumulate(out, chunk_piece(local * plan.stages + critical, true), m);
      accumulate(out, chunk_piece(local * plan.stages + critical, false), m);
    }
  } else {
    accumulate(out, fwd, chunks);
    accumulate(out, bwd, chunks);
  }
  if (critical == 0) {
    accumulate(out, emb_fwd, m);
    accumulate(out, emb_bwd, m);
  } else if (critical == plan.stages - 1) {
    accumulate(out, head_fwd, m);
    accumulate(out, head_bwd, m);
  }
  accumulate(out, tail_with, 1.0);
  accumulate(out, tail_without, -1.0);
  const int pp = static_cast<int>(Category::kPipelineP2P);
  out.comm_s[pp] = m * static_cast<double>(sends_per_micro_batch(plan, critical)) * p2p.step_time_s;
  out.exposed_s[pp] = schedule.step_s - no_hops.step_s;
  out.bubble_s = no_hops.bubble_s;

  nlohmann::json busy = nlohmann::json::array();
  for (double b : no_hops.stage_busy_s) busy.push_back(tidy(b));
  out.extra["pipeline"] = {
      {"schedule", plan.virtual_stages > 1 ? "interleaved_1f1b" : "1f1b"},
      {"stages", plan.stages},
      {"virtual_stages", plan.virtual_stages},
      {"micro_batches", plan.micro_batches},
      {"layers_per_chunk", plan.chunk_layers},
      {"chunk_fwd_s", tidy(fwd.step_time_s)},
      {"chunk_bwd_s", tidy(bwd.step_time_s)},
      {"embedding_fwd_s", tidy(emb_fwd.step_time_s)},
      {"embedding_bwd_s", tidy(emb_bwd.step_time_s)},
      {"head_fwd_s", tidy(head_fwd.step_time_s)},
      {"head_bwd_s", tidy(head_bwd.step_time_s)},
      {"p2p_bytes", static_cast<int64_t>(plan.p2p_bytes + 0.5)},
      {"p2p_s", tidy(p2p.step_time_s)},
      {"flush_s", tidy(schedule.step_s)},
      {"tail_s", tidy(tail)},
      {"bubble_s", tidy(no_hops.bubble_s)},
      {"bubble_fraction", no_hops.ideal_s > 0 ? tidy(no_hops.bubble_s / no_hops.ideal_s) : 0.0},
      {"p2p_exposed_s", tidy(schedule.step_s - no_hops.step_s)},
      {"stage_busy_s", busy},
      {"critical_stage", critical},
      {"first_stage_in_flight_chunks", plan.first_stage_in_flight},
      {"last_stage_in_flight_chunks", plan.last_stage_in_flight},
      {"memory_stage", plan.memory_stage}};
  if (plan.uneven()) out.extra["pipeline"]["layout"] = plan.layers_per_chunk;
  // Engine-specific details of the two pieces that make most of the step.
  if (!fwd.extra.empty()) out.extra["chunk_fwd"] = fwd.extra;
  if (!bwd.extra.empty()) out.extra["chunk_bwd"] = bwd.extra;
  if (!options.trace_path.empty()) {
    write_file_atomically(options.trace_path, schedule_trace(plan, schedule, out.engine));
  }
  return out;
}

}  // namespace spsim
