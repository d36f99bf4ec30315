// One sweep row: a configuration evaluated (evaluate_row) or the fastest legal plan that fits,
// searched over degrees, ZeRO stage, micro-batch and recompute (search_best_plan).
#include <algorithm>
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "common/divisors.h"
#include "sweep/row_inputs.h"
#include "spsim/engine.h"
#include "spsim/error.h"
#include "spsim/flops.h"
#include "spsim/framework.h"
#include "spsim/long_context.h"
#include "spsim/memory.h"
#include "spsim/report.h"
#include "spsim/sweep.h"
#include "spsim/units.h"

namespace spsim {

void fill_inputs(SweepRow& row, const ModelSpec& model, const Topology& topology,
                 const JobConfig& job, const std::string& engine) {
  row.model = model.name;
  row.topology = topology.name;
  row.engine = engine;
  row.strategy = job.strategy;
  row.gpus = job.num_gpus;
  row.seq_length = job.seq_length;
  row.tensor_parallel = job.tensor_parallel;
  row.ulysses_degree = job.ulysses_degree;
  row.ring_degree = job.ring_degree;
  row.data_parallel = job.data_parallel;
  row.pipeline_parallel = job.pipeline_parallel;
  row.virtual_pipeline_stages = job.virtual_pipeline_stages;
  row.zero_stage = job.zero_stage;
  row.micro_batch_size = job.micro_batch_size;
  row.global_batch_size = job.global_batch_size;
  row.recompute = recompute_name(job);
  row.precision = to_string(job.precision);
  row.ring_variant = job.ring_variant;
}

namespace {

using detail::divisors;

// The engine of a sweep, made when a plan is first timed: a search that times nothing (no plan
// legal or none fits) never needs it.
class LazyEngine {
 public:
  explicit LazyEngine(const std::string& name) : name_(name) {}
  const Engine& get() {
    if (!engine_) engine_ = make_engine(name_);
    return *engine_;
  }

 private:
  const std::string& name_;
  std::unique_ptr<Engine> engine_;
};

// Lower bound of a pipelined step: the chunk forwards and backwards every stage runs.
double pipeline_work_bound(const LoweredStep& lowered, const Topology& topology, const Engine& engine) {
  const PipelinePlan& plan = lowered.pipeline;
  auto time = [&](const TaskGraph& graph) { return engine.run(graph, topology, {}).step_time_s; };
  if (!plan.uneven()) {
    return static_cast<double>(plan.micro_batches * plan.virtual_stages) *
           (time(plan.chunk_fwd) + time(plan.chunk_bwd));
  }
  // Uneven layout: the stage with the most layers, at the regular chunk's time per layer.
  int64_t most = 0;
  for (int64_t stage = 0; stage < plan.stages; ++stage) {
    most = std::max(most, stage_layers(plan.layers_per_chunk, plan.stages, stage));
  }
  return static_cast<double>(plan.micro_batches) * static_cast<double>(most) /
         static_cast<double>(plan.chunk_layers) * (time(plan.chunk_fwd) + time(plan.chunk_bwd));
}

// How far a plan misses: past the HBM, or past its host share for what it offloads.
double over_gib(const MemoryEstimate& memory, const Topology& topology) {
  return std::max(memory.peak() - topology.gpu.hbm_bytes, host_over_bytes(memory, topology)) / kGiB;
}

// A row with every number, from a lowered step and its evaluation (same arithmetic as
// report/json_report.cc, without rounding: CSV/JSON printing is the only rounding).
SweepRow make_row(const ModelSpec& model, const Topology& topology, const LoweredStep& lowered,
                  const Evaluation& evaluation, const std::string& engine) {
  SweepRow row;
  fill_inputs(row, model, topology, lowered.job, engine);
  const auto& memory = lowered.memory;
  const StepResult& result = evaluation.result;
  row.has_numbers = true;
  row.step_time_s = result.step_time_s;
  const double step = result.step_time_s;
  row.tokens_per_s = evaluation.tokens_per_s;
  const StepFlops& flops = evaluation.flops;
  const double gpus = static_cast<double>(lowered.job.num_gpus);
  auto per_gpu_tflops = [&](double f) { return step > 0 ? f / step / gpus / 1e12 : 0.0; };
  row.tflops_model = per_gpu_tflops(flops.model);
  row.tflops_megatron_deepspeed = per_gpu_tflops(flops.megatron_deepspeed);
  row.tflops_nemo = per_gpu_tflops(flops.nemo);
  row.tflops_causal_halved = per_gpu_tflops(flops.causal_halved);
  const double peak = topology.gpu.peak(lowered.job.precision);
  row.mfu = step > 0 && peak > 0 ? flops.model / step / gpus / peak : 0;
  row.mem_params = memory.params;
  row.mem_grads = memory.grads;
  row.mem_optimizer = memory.optimizer;
  row.mem_activations = memory.activations;
  row.mem_buffers = memory.buffers;
  row.mem_reserve = memory.reserve;
  row.mem_peak = memory.peak();
  row.hbm_capacity = topology.gpu.hbm_bytes;
  row.mem_host = memory.host;
  row.host_capacity = topology.host.memory_bytes_per_rank();
  row.fits_in_memory = evaluation.fits_in_memory;
  row.compute_s = result.compute_s;
  row.exposed_s.assign(kNumCategories - 1, 0.0);
  for (int c = 1; c < kNumCategories; ++c) row.exposed_s[c - 1] = result.exposed_s[c];
  row.bubble_s = result.bubble_s;
  if (row.fits_in_memory) {
    row.status = "ok";
  } else {
    row.status = "oom";
    const std::string host = host_overflow_text(memory, topology);
    row.reason = !host.empty() && memory.peak() <= topology.gpu.hbm_bytes
                     ? fmt::format("{}: over by {:.2f} GiB", host, over_gib(memory, topology))
                     : fmt::format("needs {:.2f} GiB per GPU, HBM holds {:.2f} GiB: over by {:.2f} GiB "
                                   "(largest term: {})",
                                   memory.peak() / kGiB, topology.gpu.hbm_bytes / kGiB,
                                   over_gib(memory, topology), memory.largest_term());
  }
  return row;
}

SweepRow invalid_row(const ModelSpec& model, const Topology& topology, const JobConfig& job,
                     const std::string& engine, const std::string& reason) {
  SweepRow row;
  fill_inputs(row, model, topology, job, engine);
  row.status = "invalid";
  row.reason = reason;
  return row;
}

bool allowed(const std::vector<int64_t>& list, int64_t value) {
  return list.empty() || std::find(list.begin(), list.end(), value) != list.end();
}

// Which degrees belong to a scheme: the others stay 1 in the search, so it never counts
// "ulysses has no ring" as a rejection.
struct DegreeUse {
  bool tensor = false, ulysses = false, ring = false;
};

DegreeUse degree_use(const StrategyTraits& traits) {
  if (!traits.cli_picks_degrees) return {true, true, true};  // let the scheme's rules decide
  // A scheme without degrees of its own (dp) runs t = u = r = 1 only.
  return {traits.uses_tensor, traits.uses_ulysses, traits.uses_ring};
}

}  // namespace

SweepRow evaluate_row(const ModelSpec& model, const Topology& cluster_topology, const Strategy& strategy,
                      const JobConfig& job, const std::string& engine) {
  LoweredStep lowered;
  Topology topology = cluster_topology;
  try {
    topology = topology_for_job(cluster_topology, job.num_gpus);
    const Cluster cluster(topology, job.num_gpus);  // must host the job (throws InputError)
    lowered = strategy.lower(model, job);
  } catch (const InputError& e) {
    JobConfig shown = job;
    shown.strategy = strategy.name();
    return invalid_row(model, topology, shown, engine, e.full());
  }
  lowered.job.strategy = strategy.name();
  return make_row(model, topology, lowered,
                  evaluate_lowered(model, topology, lowered, *make_engine(engine)), engine);
}

SweepRow search_best_plan(const ModelSpec& model, const Topology& cluster_topology,
                          const Strategy& strategy, const JobConfig& base,
                          const SearchSpace& space, const std::string& engine) {
  JobConfig shown = base;
  shown.strategy = strategy.name();
  Topology topology = cluster_topology;
  try {
    topology = topology_for_job(cluster_topology, base.num_gpus);
    const Cluster cluster(topology, base.num_gpus);  // must host the job (throws InputError)
  } catch (const InputError& e) {
    return invalid_row(model, cluster_topology, shown, engine, e.full());
  }
  const int64_t gpus = base.num_gpus;
  const int64_t node = std::max<int64_t>(1, topology.gpus_per_node);
  const DegreeUse use = degree_use(strategy.traits());
  LazyEngine timer(engine);
  const std::vector<int64_t> zero_stages =
      space.zero_stage.empty() ? std::vector<int64_t>{0, 1, 2, 3} : space.zero_stage;
  const std::vector<int64_t> micro_batches =
      space.micro_batch_size.empty() ? std::vector<int64_t>{1, 2, 4} : space.micro_batch_size;
  // Unlisted, every recompute mode the plan's framework offers (framework.h recompute_modes;
  // the schemes' default frameworks, Megatron's and DeepSpeed's, have no op-level one).
  const std::vector<Recompute> recomputes =
      space.recompute.empty()
          ? std::vector<Recompute>{Recompute::kNone, Recompute::kSelective, Recompute::kFull, Recompute::kOp}
          : space.recompute;
  auto offered = [&](const std::string& framework, Recompute recompute) {
    if (!space.recompute.empty()) return true;  // listed: the rules say why not
    const std::vector<Recompute> modes = offered_recomputes(framework);
    return std::find(modes.begin(), modes.end(), recompute) != modes.end();
  };
  const std::vector<std::string> losses = space.loss.empty() ? std::vector<std::string>{base.loss} : space.loss;
  const std::vector<int64_t> tiled_mlps =
      space.tiled_mlp.empty() ? std::vector<int64_t>{base.tiled_mlp} : space.tiled_mlp;
  const std::vector<std::string> offloads =
      space.offload.empty() ? std::vector<std::string>{offload_name(base)} : space.offload;
  const std::vector<std::string> frameworks =
      space.technique_frameworks.empty() ? std::vector<std::string>{base.framework} : space.technique_frameworks;
  const std::vector<std::string> variants =
      space.ring_variant.empty() ? std::vector<std::string>{base.ring_variant} : space.ring_variant;

  int64_t searched = 0, fit = 0, oom = 0, other_name = 0;
  std::map<std::string, std::pair<int64_t, std::string>> rejected;  // where -> count, example
  std::optional<SweepRow> best;
  JobConfig best_job;  // the best plan's job (its long-context techniques go in the reason)
  std::optional<LoweredStep> least_oom;  // the plan that misses by the least memory
  double least_over = 0;

  // Pipeline degrees: the listed ones, else every p dividing both the GPUs and the layers (the
  // base job's v applies to each; where it does not fit a p the rules reject the plan).
  std::vector<int64_t> stages = space.pipeline_parallel;
  if (stages.empty()) {
    for (int64_t p : divisors(gpus)) {
      if (model.num_layers % p == 0) stages.push_back(p);
    }
  }

  // Fixed visiting order (p, t, u, r ascending, then ZeRO, micro-batch, recompute, variant); only
  // a strictly faster plan replaces the best, so ties keep the first and the answer is stable.
  for (int64_t p : stages) {
  if (p < 1 || gpus % p != 0) continue;
  for (int64_t t : divisors(gpus / p)) {
    if (!allowed(space.tensor_parallel, t)) continue;
    if (t > 1 && (!use.tensor || t > node)) continue;  // TP stays inside the NVLink domain
    for (int64_t u : divisors(gpus / (p * t))) {
      if (!allowed(space.ulysses_degree, u) || (u > 1 && !use.ulysses)) continue;
      for (int64_t r : divisors(gpus / (p * t * u))) {
        if (!allowed(space.ring_degree, r) || (r > 1 && !use.ring)) continue;
        const int64_t dp = gpus / (p * t * u * r);
        if (!allowed(space.data_parallel, dp)) continue;
        for (int64_t zero : zero_stages) {
          for (int64_t mbs : micro_batches) {
            for (Recompute recompute : recomputes) {
              for (const auto& variant : variants) {
              for (const auto& loss : losses) {
              for (int64_t tiled_mlp : tiled_mlps) {
              for (const auto& framework : frameworks) {
              for (const auto& offload : offloads) {
                if (r == 1 && variant != variants.front()) continue;  // no ring: variant moot
                // Offloading needs the topology's host block; without one the searched offloads
                // are skipped (a job that asks for one is refused by the engine instead).
                if (offload != "none" && offload != offloads.front() && !topology.host.present()) continue;
                const bool technique = loss != "standard" || tiled_mlp != 0 || offload != "none";
                if (!technique && framework != frameworks.front()) continue;  // plain plans: base's
                if (!offered(framework, recompute)) continue;
                JobConfig job = base;
                job.loss = loss;
                job.tiled_mlp = tiled_mlp;
                set_offload(job, offload, "offload");
                job.framework = framework;
                job.strategy = strategy.name();
                job.tensor_parallel = t;
                job.ulysses_degree = u;
                job.ring_degree = r;
                // Another scheme's plan under this name (USP u = 1 is ring, Ulysses u = 1 is dp):
                // that scheme's own search finds it, so one plan has one name.
                if (!is_own_plan(strategy.traits(), job)) {
                  ++other_name;
                  continue;
                }
                job.data_parallel = dp;
                job.pipeline_parallel = p;
                if (p == 1) job.virtual_pipeline_stages = 1;
                job.zero_stage = static_cast<int>(zero);
                job.micro_batch_size = mbs;
                job.recompute = recompute;
                // A searched or listed mode is the whole mode (full: every layer); only a search
                // fixed to the base job's recompute (max-context's curve of a full:N plan) keeps N.
                const bool fixed = space.recompute.size() == 1 && space.recompute.front() == base.recompute;
                job.recompute_layers = fixed ? base.recompute_layers : 0;
                job.ring_variant = variant;
                ++searched;
                LoweredStep lowered;
                try {
                  lowered = strategy.lower(model, job);
                } catch (const InputError& e) {
                  auto& entry = rejected[e.where()];
                  if (entry.first++ == 0) entry.second = e.full();
                  continue;
                }
                lowered.job.strategy = strategy.name();
                // Out of memory: no need to time it (the engine is the expensive part).
                if (!fits(lowered.memory, topology)) {
                  ++oom;
                  const double over = over_gib(lowered.memory, topology);
                  if (!least_oom || over < least_over) {
                    least_over = over;
                    least_oom = std::move(lowered);
                  }
                  continue;
                }
                ++fit;
                // A pipelined plan cannot beat the best so far when even its busiest stage's
                // chunk work alone (m v (F + B) <= step) is too slow: skip timing the rest.
                if (best && lowered.pipeline.stages > 1 &&
                    static_cast<double>(lowered.graph.tokens_per_step) /
                            pipeline_work_bound(lowered, topology, timer.get()) <=
                        best->tokens_per_s) {
                  continue;
                }
                SweepRow row = make_row(model, topology, lowered,
                                        evaluate_lowered(model, topology, lowered, timer.get()), engine);
                if (!best || row.tokens_per_s > best->tokens_per_s) {
                  best = std::move(row);
                  best_job = lowered.job;
                }
              }
              }
              }
              }
              }
            }
          }
        }
      }
    }
  }
  }

  std::string summary = fmt::format("searched {} plans, {} fit", searched, fit);
  std::vector<std::string> parts;
  if (oom > 0) parts.push_back(fmt::format("{} oom (closest over by {:.2f} GiB)", oom, least_over));
  // Most frequent rule first, then by name: a stable order.
  std::vector<std::pair<std::string, std::pair<int64_t, std::string>>> rules(rejected.begin(), rejected.end());
  std::stable_sort(rules.begin(), rules.end(),
                   [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  for (const auto& [where, entry] : rules) parts.push_back(fmt::format("{} {}", entry.first, where));
  if (!parts.empty()) {
    summary += "; rejected: ";
    for (size_t i = 0; i < parts.size(); ++i) summary += (i ? ", " : "") + parts[i];
  }

  SweepRow out;
  if (best) {
    out = std::move(*best);
    out.reason = summary;
    // The row's columns have no place for the techniques: say them first in the reason.
    if (best_job.loss != "standard" || best_job.tiled_mlp != 0 || best_job.offloads_to_host()) {
      const bool offloaded = best_job.offloads_to_host();
      out.reason = fmt::format("uses loss {}, tiled-mlp {}{} under {}; {}", best_job.loss,
                               tiled_mlp_name(best_job.tiled_mlp),
                               offloaded ? ", offload " + offload_name(best_job) : std::string(),
                               best_job.framework, out.reason);
    }
  } else if (least_oom) {
    out = make_row(model, topology, *least_oom,
                   evaluate_lowered(model, topology, *least_oom, timer.get()), engine);
    out.reason = fmt::format("no plan fits: {}; {}", out.reason, summary);
  } else {
    std::string example = rules.empty() ? std::string("no candidate") : rules.front().second.second;
    if (rules.empty() && other_name > 0) {
      const StrategyTraits& traits = strategy.traits();
      std::string needs;
      if (traits.uses_ulysses) needs += "u > 1";
      if (traits.uses_ring) needs += std::string(needs.empty() ? "" : " and ") + "r > 1";
      if (needs.empty()) needs = "t > 1";
      example = fmt::format("every split of {} GPUs is another scheme's plan ({} needs {})", gpus,
                            strategy.name(), needs);
    }
    out = invalid_row(model, topology, shown, engine, fmt::format("no legal plan ({}): {}", summary, example));
  }
  out.plans_searched = searched;
  out.plans_fit = fit;
  return out;
}

}  // namespace spsim
