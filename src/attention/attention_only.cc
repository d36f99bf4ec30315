// Attention-only runs. The plan is lowered by its own strategy plug-in (a one-layer model of the
// given shape, no data parallelism, no recompute), and the attention part of the layer's forward
// and backward segments is carved out and run on the engine: the same tasks, bytes and overlap
// as in a full training step, so `spsim attention` and `spsim run` can never disagree.
#include "attention/attention_only.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include <fmt/format.h>

#include "spsim/error.h"
#include "spsim/limits.h"
#include "spsim/job.h"
#include "spsim/strategy.h"

namespace spsim {

namespace {

std::string divisors_of(int64_t n) {
  std::string out;
  for (int64_t d = 1; d <= n; ++d) {
    if (n % d == 0) out += (out.empty() ? "" : ", ") + std::to_string(d);
  }
  return out;
}

int find_task(const Segment& segment, const char* name, int from) {
  for (size_t i = static_cast<size_t>(std::max(from, 0)); i < segment.tasks.size(); ++i) {
    if (std::string_view(segment.tasks[i].name) == name) return static_cast<int>(i);
  }
  return -1;
}

// Rules the attention shape must satisfy for the plan's job, named by the subcommand's flags (the
// strategy plug-in re-checks them, but its messages name config fields).
void check_shape(const AttentionShape& shape, const JobConfig& job) {
  const int64_t a = shape.heads, k = shape.kv_heads;
  const int64_t t = job.tensor_parallel, u = job.ulysses_degree, r = job.ring_degree;
  if (a < 1) throw InputError("--heads", fmt::format("must be at least 1 (got {})", a));
  if (k < 1 || a % k != 0) {
    throw InputError("--kv-heads", fmt::format("must divide --heads {} (GQA groups of equal size; "
                                               "got {}); use one of {}",
                                               a, k, divisors_of(a)));
  }
  if (shape.head_dim < 1) throw InputError("--head-dim", "must be at least 1");
  if (!product_within({a, shape.head_dim}, kMaxQWidth)) {
    throw InputError("--head-dim", fmt::format("--heads x --head-dim = {} x {} is too large: past the "
                                               "limit of {} (README \"Limits and errors\"); use a "
                                               "real model's shape", a, shape.head_dim, kMaxQWidth));
  }
  if (shape.batch < 1) throw InputError("--batch", "must be at least 1");
  if (a % (t * u) != 0) {
    throw InputError(
        "--heads",
        fmt::format("must be divisible by tensor x ulysses degree = {} x {} = {}, so every GPU "
                    "takes an equal share of the heads (got {}); use a multiple of {} heads or a "
                    "degree dividing {}: {}",
                    t, u, t * u, a, t * u, a, divisors_of(a)));
  }
  if (k % t != 0) {
    throw InputError("--kv-heads", fmt::format("must be divisible by the tensor-parallel degree {} "
                                               "(got {}); use -t one of {}",
                                               t, k, divisors_of(k)));
  }
  const int64_t kt = k / t;
  const bool replication = job.ulysses_kv_replication;
  if (u > 1 && kt % u != 0 && !(replication && u % kt == 0)) {
    throw InputError("--kv-heads",
                     fmt::format("kv heads per tensor rank {} must be divisible by the ulysses "
                                 "degree {}{} (got {}); change -u",
                                 kt, u, replication ? " or divide it (KV replication)" : "", k));
  }
  const int64_t split = sequence_split(job);
  if (shape.seq < 1 || shape.seq % split != 0) {
    throw InputError("--seq", fmt::format("must be a positive multiple of the sequence split {} "
                                          "(got {}); pad the sequence",
                                          split, shape.seq));
  }
  if (zigzag_split(job) && job.ring_comm == "p2p" && shape.seq % (2 * r * u) != 0) {
    throw InputError("--seq", fmt::format("ring_variant zigzag needs a multiple of 2 x ring x "
                                          "ulysses degree = {} (got {}); pad the sequence or use "
                                          "--ring-variant basic",
                                          2 * r * u, shape.seq));
  }
}

double comm_bytes(const Segment& segment) {
  double total = 0;
  for (const auto& task : segment.tasks) {
    if (task.kind == TaskKind::kCollective) total += task.bytes;
  }
  return total;
}

}  // namespace

double flash_attention_fwd_flops(int64_t batch, int64_t seq, int64_t heads, int64_t head_dim,
                                 bool causal) {
  return attention_fwd_flops(batch, seq, seq, heads, head_dim, causal ? 0.5 : 1.0);
}

Segment carve_segment(const Segment& segment, const char* after, const char* before) {
  const int first = find_task(segment, after, 0);
  const int last = first < 0 ? -1 : find_task(segment, before, first + 1);
  if (first < 0 || last < 0) {
    throw Error(fmt::format("segment {} has no {} ... {} range", segment.name, after, before));
  }
  Segment out;
  out.name = segment.name;
  out.repeat = 1;
  const size_t n = segment.tasks.size();
  std::vector<int> new_index(n, -1);
  // Surviving dependencies of every task (memoised in order: deps always point backwards).
  std::vector<std::vector<int>> resolved(n);
  for (size_t i = 0; i < n; ++i) {
    const Task& task = segment.tasks[i];
    std::vector<int> deps;
    for (int16_t d : task.deps) {
      if (d < 0) continue;
      const auto& via = resolved[static_cast<size_t>(d)];
      if (new_index[static_cast<size_t>(d)] >= 0) {
        deps.push_back(new_index[static_cast<size_t>(d)]);
      } else {
        deps.insert(deps.end(), via.begin(), via.end());
      }
    }
    std::sort(deps.begin(), deps.end());
    deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
    const bool keep = static_cast<int>(i) > first && static_cast<int>(i) < last;
    if (keep) {
      Task copy = task;
      copy.deps = {-1, -1, -1, -1};
      for (int d : deps) copy.add_dep(d);  // throws past 4: never for the attention range
      copy.prev_instance_dep = -1;         // the carved range runs once
      new_index[i] = static_cast<int>(out.tasks.size());
      out.tasks.push_back(std::move(copy));
    } else {
      resolved[i] = std::move(deps);
    }
  }
  return out;
}

AttentionRun run_attention_only(const AttentionShape& input, const AttentionPlan& plan,
                                const Topology& topology, const Engine& engine) {
  AttentionShape shape = input;
  if (shape.kv_heads == 0) shape.kv_heads = shape.heads;

  JobConfig job;
  job.strategy = plan.strategy;
  job.tensor_parallel = plan.tensor_parallel;
  job.ulysses_degree = plan.ulysses_degree;
  job.ring_degree = plan.ring_degree;
  job.num_gpus = plan.tensor_parallel * plan.ulysses_degree * plan.ring_degree;
  job.data_parallel = 1;
  job.seq_length = shape.seq;
  job.micro_batch_size = shape.batch;
  job.global_batch_size = shape.batch;
  // Megatron sequence parallelism over t wherever the scheme splits the sequence.
  job.sequence_parallel = strategy_traits(plan.strategy).splits_sequence;
  job.ring_variant = plan.ring_variant;
  job.ring_comm = plan.ring_comm;
  job.ulysses_kv_replication = plan.kv_replication;
  job.precision = shape.precision;
  job.causal = shape.causal;
  job.framework_reserve_bytes = 0;
  job.framework = plan.framework;
  job.attention_impl = plan.attention_impl;
  check_shape(shape, job);

  // A one-layer model of the shape; FFN and vocabulary never reach the carved segments.
  ModelSpec model;
  model.name = "attention";
  model.source = "spsim attention";
  model.num_attention_heads = shape.heads;
  model.num_key_value_heads = shape.kv_heads;
  model.head_dim = shape.head_dim;
  model.hidden_size = shape.heads * shape.head_dim;
  model.num_layers = 1;
  model.ffn_hidden_size = 4 * model.hidden_size;
  model.vocab_size = 32000;
  model.sliding_window = shape.sliding_window;
  model.sliding_window_layers = shape.sliding_window > 0 ? 1 : 0;

  const LoweredStep lowered = make_strategy(plan.strategy)->lower(model, job);
  const TaskGraph& full = lowered.graph;

  const Segment* fwd = nullptr;
  const Segment* bwd = nullptr;
  for (const auto& segment : full.segments) {
    const std::string name = segment.name;
    if (name == "layer_fwd") fwd = &segment;
    if (name == "layer_bwd" && segment.when != When::kAllButLastMicroBatch) bwd = &segment;
  }
  if (fwd == nullptr || bwd == nullptr) throw Error("lowered step has no layer segments");

  TaskGraph graph;
  graph.strategy = full.strategy;
  graph.num_gpus = full.num_gpus;
  graph.micro_batches = 1;
  graph.tokens_per_step = shape.batch * shape.seq;
  graph.precision = full.precision;
  graph.groups = full.groups;
  // Projections: from after the input norm to the residual (TP collectives included); core only:
  // from after RoPE to the output projection (Ulysses all-to-alls and ring steps included).
  graph.segments.push_back(shape.projections ? carve_segment(*fwd, "input_norm", "attn_residual")
                                             : carve_segment(*fwd, "rope", "out_proj"));
  Segment backward = shape.projections ? carve_segment(*bwd, "attn_residual", "input_norm")
                                       : carve_segment(*bwd, "out_proj", "rope");

  AttentionRun run;
  run.num_gpus = job.num_gpus;
  run.framework = lowered.job.framework;
  // A scheme that runs the unfused kernel (ColAI-SP) times no fused implementation.
  run.attention_impl =
      lowered.job.attention_kernel == AttentionKernel::kStandard ? "standard" : lowered.job.attention_impl;
  run.comm_fwd_bytes = comm_bytes(graph.segments.front());
  run.comm_bwd_bytes = comm_bytes(backward);
  run.forward = engine.run(graph, topology, {});
  graph.segments.push_back(std::move(backward));
  run.forward_backward = engine.run(graph, topology, {});
  // A window computes w·s - w²/2 of the causal s²/2 query-key pairs (model.h).
  run.fwd_flops = flash_attention_fwd_flops(shape.batch, shape.seq, shape.heads, shape.head_dim,
                                            shape.causal) *
                  sliding_window_attention_scale(model, shape.seq);
  run.bwd_flops = 2.5 * run.fwd_flops;
  if (shape.projections) {
    // QKV (h -> (a + 2k) d_h) and output (a d_h -> h) GEMMs, 2 FLOP per multiply-add.
    const double tokens = static_cast<double>(shape.batch) * static_cast<double>(shape.seq);
    const double h = static_cast<double>(model.hidden_size);
    run.projection_fwd_flops =
        2.0 * tokens * h * static_cast<double>(model.q_width() + 2 * model.kv_width()) +
        2.0 * tokens * static_cast<double>(model.q_width()) * h;
  }
  return run;
}

}  // namespace spsim
