// Running the validation set: each expressible row is evaluated with the chosen engine and its
// metric computed the way the source computes it (its FLOP convention, its peak for MFU).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "attention/attention_only.h"
#include "search/max_context.h"
#include "spsim/error.h"
#include "spsim/flops.h"
#include "spsim/report.h"
#include "spsim/units.h"
#include "spsim/validate.h"

namespace spsim {

namespace fs = std::filesystem;

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

// A file reference of the set: a shipped name, or a path relative to the set's folder.
std::string resolve_ref(const std::string& ref, const std::string& dir) {
  if (ref.find('/') != std::string::npos || (ref.size() > 5 && ref.ends_with(".json"))) {
    return (fs::path(dir) / ref).string();
  }
  return ref;
}

double convention_flops(const StepFlops& flops, const std::string& key) {
  if (key == "model") return flops.model;
  if (key == "nemo_noncausal") return flops.nemo_noncausal;
  if (key == "mbridge_causal") return flops.mbridge;
  if (key == "megatron_deepspeed") return flops.megatron_deepspeed;
  if (key == "torchtitan") return flops.torchtitan;
  if (key == "palm") return flops.palm;
  if (key == "causal_halved") return flops.causal_halved;
  if (key == "hardware") return flops.hardware;
  throw Error("convention_flops: unchecked key " + key);
}

std::string scheme_of(const JobConfig& job) {
  std::string scheme;
  const std::string& s = job.strategy;
  if (s == "ring") {
    scheme = job.ring_comm == "allgather" ? "ring-allgather" : "ring-p2p";
  } else if (s == "ulysses") {
    scheme = job.ulysses_degree > 1 ? "ulysses" : "dp";
  } else if (s == "dp") {
    scheme = "dp";
  } else if (s == "megatron-sp") {
    scheme = "tp+sp";
  } else if (s == "megatron-tp") {
    scheme = "tp";
  } else {
    scheme = s;
  }
  if (job.tensor_parallel > 1 && s != "megatron-sp" && s != "megatron-tp") scheme = "tp+" + scheme;
  if (scheme == "tp+dp") scheme = "tp+sp";
  if (job.pipeline_parallel > 1) scheme += "+pp";
  return scheme;
}

std::string plan_of(const JobConfig& job) {
  std::string plan = fmt::format("t{} u{} r{}", job.tensor_parallel, job.ulysses_degree, job.ring_degree);
  if (job.pipeline_parallel > 1) plan += fmt::format(" p{} v{}", job.pipeline_parallel, job.virtual_pipeline_stages);
  plan += fmt::format(" d{} z{} mbs{} gbs{} rc:{} {}", job.data_parallel, job.zero_stage,
                      job.micro_batch_size, job.global_batch_size, recompute_name(job),
                      to_string(job.precision));
  if (!job.causal) plan += " full-mask";
  return plan;
}

class Inputs {
 public:
  Inputs(const ValidationSet& set, const ValidateOptions& options) : set_(set), options_(options) {
    for (const auto& swap : options.topology_swaps) {
      const auto eq = swap.find('=');
      if (eq != std::string::npos) {
        named_swaps_[swap.substr(0, eq)] = swap.substr(eq + 1);
      } else {
        gpu_swaps_.push_back(load(swap));
      }
    }
  }

  const ModelSpec& model(const std::string& ref) {
    auto it = models_.find(ref);
    if (it == models_.end()) it = models_.emplace(ref, load_model(resolve_ref(ref, set_.dir))).first;
    return it->second;
  }

  const Topology& topology(const std::string& ref) {
    auto it = topologies_.find(ref);
    if (it != topologies_.end()) return it->second;
    if (const auto swap = named_swaps_.find(ref); swap != named_swaps_.end()) {
      return topologies_.emplace(ref, load(swap->second)).first->second;
    }
    Topology topology = load(resolve_ref(ref, set_.dir));
    for (const auto& candidate : gpu_swaps_) {
      if (candidate.gpu.name == topology.gpu.name) topology = candidate;
    }
    return topologies_.emplace(ref, std::move(topology)).first->second;
  }

 private:
  Topology load(const std::string& ref) {
    Topology topology = load_topology(ref);
    for (const auto& assignment : options_.overrides) apply_override(topology, assignment);
    return topology;
  }

  const ValidationSet& set_;
  const ValidateOptions& options_;
  std::map<std::string, std::string> named_swaps_;
  std::vector<Topology> gpu_swaps_;
  std::map<std::string, ModelSpec> models_;
  std::map<std::string, Topology> topologies_;
};

// The attention-kernel rows: one GPU, the FlashAttention benchmark convention.
void predict_attention(const ValidationRow& row, const Topology& topology, const Engine& engine,
                       RowResult& out) {
  AttentionShape shape;
  shape.heads = row.attn_heads;
  shape.kv_heads = row.attn_kv_heads;
  shape.head_dim = row.attn_head_dim;
  shape.batch = row.attn_batch;
  shape.seq = row.job.seq_length;
  shape.causal = row.job.causal;
  shape.precision = row.job.precision;
  AttentionPlan plan;
  plan.strategy = "ulysses";
  plan.attention_impl = row.attn_kernel;
  const AttentionRun run = run_attention_only(shape, plan, topology, engine);
  out.scheme = "attention";
  out.plan = fmt::format("b{} s{} h{} d{} {}{} {}", shape.batch, shape.seq, shape.heads, shape.head_dim,
                         to_string(shape.precision), shape.causal ? " causal" : "", run.attention_impl);
  if (row.metric == "attention_tflops_fwd") {
    out.step_time_s = run.forward.step_time_s;
    out.predicted = run.fwd_flops / run.forward.step_time_s / 1e12;
  } else {
    out.step_time_s = run.forward_backward.step_time_s;
    out.predicted = (run.fwd_flops + run.bwd_flops) / run.forward_backward.step_time_s / 1e12;
  }
}

void predict_training(const ValidationRow& row, const ModelSpec& model, const Topology& topology,
                      const Engine& engine, RowResult& out) {
  out.scheme = scheme_of(row.job);
  out.plan = plan_of(row.job);
  out.hbm_gib = topology.gpu.hbm_bytes / kGiB;
  if (row.kind == MetricKind::kMaxContext) {
    const MaxContextResult best = max_context(model, topology, row.job, engine, 1);
    out.predicted = static_cast<double>(best.max_seq);
    out.peak_gib = best.memory.peak() / kGiB;
    out.step_time_s = best.step_time_s;
    out.tokens_per_s = best.tokens_per_s;
    out.fits = best.max_seq >= row.job.seq_length;
    return;
  }
  const RunReport report = evaluate(model, topology, row.job, engine);
  out.plan = plan_of(report.lowered.job);
  out.step_time_s = report.result.step_time_s;
  out.tokens_per_s = report.tokens_per_s;
  out.peak_gib = report.lowered.memory.peak() / kGiB;
  out.fits = report.fits_in_memory;
  const double gpus = static_cast<double>(row.job.num_gpus);
  const std::string& metric = row.metric;
  if (metric == "tokens_per_s_per_gpu") {
    out.predicted = report.tokens_per_s / gpus;
  } else if (metric == "tokens_per_s_total") {
    out.predicted = report.tokens_per_s;
  } else if (metric == "step_time_s") {
    out.predicted = report.result.step_time_s;
  } else if (metric == "tflops_per_gpu" || metric == "mfu") {
    const double tflops =
        convention_flops(report.flops, row.flop_convention) / report.result.step_time_s / gpus / 1e12;
    if (metric == "tflops_per_gpu") {
      out.predicted = tflops;
    } else {
      const double peak = topology.gpu.peak(row.mfu_peak == "fp8" ? Precision::kFp8 : Precision::kBf16);
      out.predicted = tflops * 1e12 / peak;
    }
  } else if (row.kind == MetricKind::kMemory || row.kind == MetricKind::kReservedMemory) {
    out.predicted = out.peak_gib;  // "GB" rows too: PyTorch's memory stats print GiB as GB
  } else if (row.kind == MetricKind::kFits) {
    out.predicted = out.fits ? 1.0 : 0.0;
  }
}

}  // namespace

std::vector<RowResult> run_validation(const ValidationSet& set, const ValidateOptions& options) {
  for (const auto& name : options.sources) {
    bool known = false;
    for (const auto& source : set.sources) known = known || source.key == name;
    if (!known) {
      std::vector<std::string> keys;
      for (const auto& source : set.sources) keys.push_back(source.key);
      const std::string guess = closest_match(name, keys);
      throw InputError("--source", fmt::format("no source \"{}\" in the set{}", name,
                                               guess.empty() ? "" : fmt::format("; did you mean \"{}\"?", guess)));
    }
  }
  const auto engine = make_engine(options.engine);
  Inputs inputs(set, options);
  auto selected = [&](const ValidationRow& row) {
    return options.sources.empty() ||
           std::find(options.sources.begin(), options.sources.end(), row.source) != options.sources.end();
  };
  // Every file the rows refer to loads first: a broken reference is the set's error (exit 2,
  // naming the row), never a row verdict.
  for (const auto& row : set.rows) {
    if (!selected(row) || !row.expressible()) continue;
    try {
      inputs.topology(row.topology_ref);
      if (!row.model_ref.empty()) inputs.model(row.model_ref);
    } catch (const InputError& e) {
      throw InputError(row.file, fmt::format("row \"{}\": {}", row.id, e.full()));
    }
  }
  std::vector<RowResult> results;
  results.reserve(set.rows.size());
  for (const auto& row : set.rows) {
    if (!selected(row)) continue;
    RowResult out;
    out.row = &row;
    if (!row.unsupported.empty()) {
      out.status = "unsupported";
      out.reason = row.unsupported;
    } else if (!row.incomplete.empty()) {
      out.status = "incomplete";
      out.reason = row.incomplete;
    } else {
      try {
        const Topology& topology = inputs.topology(row.topology_ref);
        out.topology = topology.name;
        if (row.kind == MetricKind::kAttention) {
          predict_attention(row, topology, *engine, out);
        } else {
          predict_training(row, inputs.model(row.model_ref), topology, *engine, out);
        }
        out.status = "ok";
        out.error = out.predicted / row.measured - 1.0;
        out.speed_error = row.metric == "step_time_s" ? row.measured / out.predicted - 1.0 : out.error;
        if (row.kind == MetricKind::kFits) out.error = out.speed_error = out.predicted - row.measured;
        if (!std::isfinite(out.error)) throw Error("non-finite prediction");
      } catch (const InputError& e) {
        // spsim refuses the plan (a rule it enforces, a cluster shape it cannot host): reported.
        out.status = "invalid";
        out.reason = e.full();
        out.predicted = out.error = out.speed_error = 0;
      }
    }
    results.push_back(std::move(out));
  }
  return results;
}

}  // namespace spsim
