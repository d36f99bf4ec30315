// Pipeline schedules simulated op by op. Each stage runs its list of chunk forwards/backwards in
// Megatron's order; an op starts when its stage is free and its input has arrived (forward: the
// previous chunk's forward + one P2P; backward: the next chunk's backward + one P2P, or the
// chunk's own forward for the last chunk).
#include "pipeline/schedule.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "spsim/error.h"

namespace spsim {

namespace {

struct Op {
  bool forward = true;
  int64_t micro_batch = 0;
  int64_t chunk = 0;  // global chunk g = local_chunk · p + stage
};

// Megatron's warm-up: forwards a stage runs before its first backward.
int64_t warmup_forwards(int64_t p, int64_t m, int64_t v, int64_t stage) {
  return v == 1 ? std::min(p - stage - 1, m) : std::min((p - stage - 1) * 2 + (v - 1) * p, m * v);
}

// Megatron: forward_backward_pipelining_without_interleaving / _with_interleaving.
std::vector<Op> stage_ops(const PipelineSpec& x, int64_t stage) {
  const int64_t p = x.stages, m = x.micro_batches, v = x.virtual_stages;
  const int64_t total = m * v;
  auto op_at = [&](int64_t k, bool forward) {
    const int64_t in_group = k % (p * v);
    int64_t local = in_group / p;
    if (!forward) local = v - 1 - local;
    Op op;
    op.forward = forward;
    op.micro_batch = (k / (p * v)) * p + k % p;
    op.chunk = local * p + stage;
    return op;
  };
  const int64_t warmup = warmup_forwards(p, m, v, stage);
  std::vector<Op> ops;
  ops.reserve(static_cast<size_t>(2 * total));
  for (int64_t k = 0; k < warmup; ++k) {
    ops.push_back(v == 1 ? Op{true, k, stage} : op_at(k, true));
  }
  for (int64_t k = 0; k < total - warmup; ++k) {
    ops.push_back(v == 1 ? Op{true, k + warmup, stage} : op_at(k + warmup, true));
    ops.push_back(v == 1 ? Op{false, k, stage} : op_at(k, false));
  }
  for (int64_t k = total - warmup; k < total; ++k) {
    ops.push_back(v == 1 ? Op{false, k, stage} : op_at(k, false));
  }
  return ops;
}

}  // namespace

PipelineResult simulate_pipeline(const PipelineSpec& x) {
  const int64_t p = x.stages, m = x.micro_batches, v = x.virtual_stages;
  if (p < 1 || m < 1 || v < 1) throw Error("pipeline: stages, micro-batches and chunks must be >= 1");
  if (v > 1 && m % p != 0) {
    throw InputError("global_batch_size",
                     fmt::format("the interleaved pipeline schedule needs the number of "
                                 "micro-batches to be a multiple of pipeline_model_parallel_size "
                                 "{} (got {}); change the global batch size",
                                 p, m));
  }
  const int64_t chunks = p * v;
  constexpr double kUnknown = -1;
  // end[forward?][mb][g]
  std::vector<double> fwd_end(static_cast<size_t>(m * chunks), kUnknown);
  std::vector<double> bwd_end(static_cast<size_t>(m * chunks), kUnknown);
  auto at = [&](int64_t mb, int64_t g) { return static_cast<size_t>(mb * chunks + g); };
  const double hop = p > 1 ? x.p2p_s : 0.0;

  std::vector<std::vector<Op>> lists;
  for (int64_t i = 0; i < p; ++i) lists.push_back(stage_ops(x, i));
  std::vector<size_t> next(static_cast<size_t>(p), 0);
  std::vector<double> free(static_cast<size_t>(p), 0.0);
  std::vector<int64_t> live(static_cast<size_t>(p), 0);
  std::vector<double> busy(static_cast<size_t>(p), 0.0);
  PipelineResult out;
  out.max_in_flight_chunks.assign(static_cast<size_t>(p), 0);
  bool progress = true;
  while (progress) {
    progress = false;
    for (int64_t i = 0; i < p; ++i) {
      const size_t si = static_cast<size_t>(i);
      while (next[si] < lists[si].size()) {
        const Op& op = lists[si][next[si]];
        double ready = 0;
        if (op.forward) {
          if (op.chunk > 0) {
            const double prev = fwd_end[at(op.micro_batch, op.chunk - 1)];
            if (prev == kUnknown) break;
            ready = prev + hop;
          }
        } else if (op.chunk == chunks - 1) {
          ready = fwd_end[at(op.micro_batch, op.chunk)];
          if (ready == kUnknown) break;
        } else {
          const double after = bwd_end[at(op.micro_batch, op.chunk + 1)];
          if (after == kUnknown) break;
          ready = after + hop;
        }
        const double start = std::max(free[si], ready);
        const std::vector<double>& each = op.forward ? x.chunk_fwd_each_s : x.chunk_bwd_each_s;
        double work = !each.empty() ? each.at(static_cast<size_t>(op.chunk))
                                    : op.forward ? x.chunk_fwd_s : x.chunk_bwd_s;
        if (op.chunk == 0) work += op.forward ? x.first_chunk_extra_fwd_s : x.first_chunk_extra_bwd_s;
        if (op.chunk == chunks - 1) {
          work += op.forward ? x.last_chunk_extra_fwd_s : x.last_chunk_extra_bwd_s;
        }
        const double end = start + work;
        busy[si] += work;
        if (x.record_ops) out.ops.push_back({i, op.forward, op.micro_batch, op.chunk, start, end});
        (op.forward ? fwd_end : bwd_end)[at(op.micro_batch, op.chunk)] = end;
        free[si] = end;
        live[si] += op.forward ? 1 : -1;
        out.max_in_flight_chunks[si] = std::max(out.max_in_flight_chunks[si], live[si]);
        ++next[si];
        progress = true;
      }
    }
  }
  for (int64_t i = 0; i < p; ++i) {
    if (next[static_cast<size_t>(i)] != lists[static_cast<size_t>(i)].size()) {
      throw Error("pipeline schedule deadlocked");
    }
  }
  out.step_s = *std::max_element(free.begin(), free.end());
  out.stage_busy_s = busy;
  out.ideal_s = *std::max_element(busy.begin(), busy.end());
  out.bubble_s = out.step_s - out.ideal_s;
  return out;
}

int64_t pipeline_in_flight_chunks(int64_t stages, int64_t micro_batches, int64_t virtual_stages,
                                  int64_t stage) {
  const int64_t warmup = warmup_forwards(stages, micro_batches, virtual_stages, stage);
  return warmup < micro_batches * virtual_stages ? warmup + 1 : warmup;
}

int64_t pipeline_in_flight_layers(int64_t stages, int64_t micro_batches, int64_t virtual_stages,
                                  int64_t stage, const std::vector<int64_t>& layers_per_chunk) {
  PipelineSpec spec;
  spec.stages = stages;
  spec.micro_batches = micro_batches;
  spec.virtual_stages = virtual_stages;
  int64_t live = 0, most = 0;
  for (const Op& op : stage_ops(spec, stage)) {
    const int64_t layers = layers_per_chunk.at(static_cast<size_t>(op.chunk));
    live += op.forward ? layers : -layers;
    most = std::max(most, live);
  }
  return most;
}

double pipeline_p2p_bytes(double element_bytes, int64_t micro_batch, int64_t seq, int64_t hidden,
                          int64_t tensor_parallel, int64_t ulysses, int64_t ring,
                          bool sequence_parallel) {
  const int64_t split = ulysses * ring * (sequence_parallel && tensor_parallel > 1 ? tensor_parallel : 1);
  return element_bytes * static_cast<double>(micro_batch) * static_cast<double>(seq) /
         static_cast<double>(split) * static_cast<double>(hidden);
}

}  // namespace spsim
