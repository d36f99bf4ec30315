// Longest-context search. Per-GPU peak memory grows with the sequence (activations and buffers are
// linear in s, the score matrix of a standard kernel quadratic; model states are constant), so
// "fits" is monotone in s and the answer is found by doubling then bisecting over multiples of
// the granularity: O(log(s_max / g)) lowerings, no engine run until the answer.
#include "search/max_context.h"

#include <algorithm>
#include <array>
#include <memory>
#include <numeric>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "common/divisors.h"
#include "spsim/error.h"
#include "spsim/long_context.h"
#include "spsim/limits.h"
#include "spsim/report.h"
#include "spsim/strategy.h"

namespace spsim {

namespace {

using detail::divisors;

MemoryEstimate memory_at(const Strategy& strategy, const ModelSpec& model, JobConfig job,
                         int64_t seq) {
  job.seq_length = seq;
  return strategy.lower(model, job).memory;
}

/// The field of the one rule that, once it refuses a length, refuses every longer one: a ring
/// past a model's sliding window (rules.cc check_sliding_window).
constexpr const char* kLengthRule = "ring_comm";

/// memory_at, or nothing when that rule refuses the plan at this length: the search treats the
/// length as one that does not fit. Any other rule error is the plan's, as before.
std::optional<MemoryEstimate> legal_memory_at(const Strategy& strategy, const ModelSpec& model, const JobConfig& job,
                                              int64_t seq) {
  try {
    return memory_at(strategy, model, job, seq);
  } catch (const InputError& e) {
    if (e.where() != kLengthRule) throw;
    return std::nullopt;
  }
}

std::string growing_term(const MemoryEstimate& a, const MemoryEstimate& b) {
  const std::array<std::pair<const char*, double>, 6> growth{{
      {"params", b.params - a.params},
      {"grads", b.grads - a.grads},
      {"optimizer", b.optimizer - a.optimizer},
      {"activations", b.activations - a.activations},
      {"buffers", b.buffers - a.buffers},
      {"reserve", b.reserve - a.reserve},
  }};
  const auto* best = &growth[0];
  for (const auto& g : growth) {
    if (g.second > best->second) best = &g;
  }
  return best->first;
}

}  // namespace

int64_t sequence_granularity(const JobConfig& job, int64_t base) {
  const int64_t t = job.tensor_parallel, u = job.ulysses_degree, r = job.ring_degree;
  const bool megatron_sp = t > 1 && job.sequence_parallel;
  // Checked products: this runs before the lowering checks the degrees against their limits.
  // Within the bound, sequence_granularity cannot overflow: zigzag's 2 r u divides twice the split.
  const auto split = product_within({2, u, r, megatron_sp ? t : 1}, kMaxSeqLength);
  const int64_t b = std::max<int64_t>(1, base);
  const int64_t g = split ? sequence_granularity(job) : 1;
  const auto lcm = split ? product_within({b / std::gcd(b, g), g}, kMaxSeqLength) : std::nullopt;
  if (!lcm) {
    throw InputError("--granularity", fmt::format("lcm({}, {}) (the granularity and the scheme's sequence "
                                                  "split) is past the sequence-length limit of {} (README "
                                                  "\"Limits and errors\"); use a smaller granularity",
                                                  b, g, kMaxSeqLength));
  }
  return *lcm;
}

MaxContextResult max_context(const ModelSpec& model, const Topology& topology, const JobConfig& job,
                             const Engine& engine, int64_t base_granularity,
                             const MaxContextLimits& limits) {
  const auto strategy = make_strategy(job.strategy);
  // --headroom: the plan may use the HBM less the headroom (allocator fragmentation, NCCL buffers
  // a user keeps spare); the table still prints the HBM.
  // The job's own shares of the host (a job smaller than a host has more of it).
  Topology usable = topology_for_job(topology, job.num_gpus);
  if (limits.memory_bytes > 0) usable.gpu.hbm_bytes = limits.memory_bytes;
  check_host_for_offload(job.offloads_to_host(), usable);
  MaxContextResult out;
  out.job = job;
  out.granularity = sequence_granularity(job, base_granularity);
  const int64_t g = out.granularity;
  // The first lowering also checks the plan's length-independent rules (throws if illegal).
  JobConfig at_g = job;
  at_g.seq_length = g;
  const LoweredStep lowered = strategy->lower(model, at_g);
  const MemoryEstimate& first = lowered.memory;
  if (!fits(first, usable)) {
    out.job = lowered.job;
    out.job.strategy = job.strategy;
    out.memory = first;
    out.binding_term = binding_memory_term(first, usable);
    return out;
  }
  // Doubling: lo fits, hi does not (or hi passes the cap).
  int64_t lo = 1, hi = 2;
  const int64_t max_k = kMaxContextCap / g;
  auto fits_at = [&](int64_t k) {
    const std::optional<MemoryEstimate> m = legal_memory_at(*strategy, model, job, k * g);
    return m && fits(*m, usable);
  };
  while (true) {
    if (hi > max_k) {
      hi = max_k + 1;
      break;
    }
    if (!fits_at(hi)) break;
    lo = hi;
    hi *= 2;
  }
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (fits_at(mid)) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  out.max_seq = lo * g;
  out.capped = lo == max_k;  // fits at the largest length tried
  const auto run_at = [&](int64_t seq) {
    JobConfig at = job;
    at.seq_length = seq;
    return evaluate(model, topology, at, engine);
  };
  // Which throughput limit a step misses ("" when it meets both).
  const auto missed = [&](const RunReport& r) -> std::string {
    if (limits.max_step_time_s > 0 && r.result.step_time_s > limits.max_step_time_s) return "max step time";
    if (limits.min_tokens_per_s > 0 && r.tokens_per_s < limits.min_tokens_per_s) return "min tokens/s";
    return "";
  };
  RunReport report = run_at(out.max_seq);
  std::string throughput_binding = missed(report);
  if (!throughput_binding.empty()) {
    // Below the memory answer: tokens/s rises with s while fixed costs (latencies, small kernels)
    // dominate, then falls once attention does; the step time only grows. Scan doubling lengths
    // upwards for the longest that meets the limits, stop at the first miss above it, and bisect
    // between the two.
    int64_t ok = 0, bad = lo;
    std::optional<RunReport> ok_report;
    for (int64_t k = 1; k < lo; k *= 2) {
      RunReport r = run_at(k * g);
      if (missed(r).empty()) {
        ok = k;
        ok_report = std::move(r);
      } else if (ok > 0) {
        bad = k;
        break;
      }
    }
    if (ok == 0) {
      const RunReport shortest = run_at(g);
      out.job = shortest.lowered.job;
      out.memory = shortest.lowered.memory;
      out.max_seq = 0;
      out.capped = false;
      out.binding_term = throughput_binding;
      return out;
    }
    while (bad - ok > 1) {
      const int64_t mid = ok + (bad - ok) / 2;
      RunReport r = run_at(mid * g);
      if (missed(r).empty()) {
        ok = mid;
        ok_report = std::move(r);
      } else {
        bad = mid;
      }
    }
    out.max_seq = ok * g;
    out.capped = false;
    report = std::move(*ok_report);
  }
  out.job = report.lowered.job;
  out.memory = report.lowered.memory;
  const std::optional<MemoryEstimate> next = legal_memory_at(*strategy, model, job, out.max_seq + g);
  out.memory_next = next ? *next : out.memory;
  out.binding_term = !throughput_binding.empty()                      ? throughput_binding
                     : next && binding_memory_term(*next, usable) == "host" ? std::string("host")
                     : next                                           ? growing_term(out.memory, out.memory_next)
                                                 : std::string("rule: ") + kLengthRule;
  out.step_time_s = report.result.step_time_s;
  out.tokens_per_s = report.tokens_per_s;
  return out;
}

std::vector<MaxContextResult> max_context_best(const ModelSpec& model, const Topology& topology,
                                               const JobConfig& job,
                                               const std::vector<std::string>& strategies,
                                               const Engine& engine, int64_t base_granularity,
                                               const MemoryKnobs& knobs,
                                               const MaxContextLimits& limits,
                                               std::vector<std::string>* unanswered) {
  const std::vector<int> zero_stages = knobs.zero_stages.empty() ? std::vector<int>{job.zero_stage} : knobs.zero_stages;
  const std::vector<Recompute> recomputes =
      knobs.recomputes.empty() ? std::vector<Recompute>{job.recompute} : knobs.recomputes;
  const std::vector<std::string> losses = knobs.losses.empty() ? std::vector<std::string>{job.loss} : knobs.losses;
  const std::vector<int64_t> tiled_mlps =
      knobs.tiled_mlps.empty() ? std::vector<int64_t>{job.tiled_mlp} : knobs.tiled_mlps;
  const std::vector<std::string> frameworks =
      knobs.frameworks.empty() ? std::vector<std::string>{job.framework} : knobs.frameworks;
  const std::vector<std::string> offloads =
      knobs.offloads.empty() ? std::vector<std::string>{offload_name(job)} : knobs.offloads;
  const int64_t n = job.num_gpus;
  const int64_t node = std::max(1, topology.gpus_per_node);
  std::vector<MaxContextResult> best;
  // Pipeline degrees: the job's when it has one, else every p dividing the GPUs and the layers.
  std::vector<int64_t> stages;
  for (int64_t p : divisors(n)) {
    if (job.pipeline_parallel > 1 ? p == job.pipeline_parallel : model.num_layers % p == 0) {
      stages.push_back(p);
    }
  }
  for (const auto& name : strategies) {
    // Candidate (t, u, r, p); data parallelism takes the rest of the GPUs. The scheme's own
    // degrees vary: u or r (with the job's t), both (u within a node), or t alone (within a node).
    const StrategyTraits& traits = strategy_traits(name);
    const bool uses_u = traits.uses_ulysses, uses_r = traits.uses_ring;
    std::vector<std::array<int64_t, 4>> candidates;
    const int64_t t0 = job.tensor_parallel;
    for (int64_t p : stages) {
      const int64_t room = n / p;
      for (int64_t a : divisors(room)) {
        if (!uses_u && !uses_r) {
          if (a >= 2 && a <= node) candidates.push_back({a, 1, 1, p});
        } else if (room % t0 == 0 && (room / t0) % a == 0) {
          if (uses_u && !uses_r) candidates.push_back({t0, a, 1, p});
          if (uses_r && !uses_u) candidates.push_back({t0, 1, a, p});
          if (uses_u && uses_r && a >= 2 && a * t0 <= node) {
            for (int64_t r : divisors(room / (t0 * a))) {
              if (r >= 2) candidates.push_back({t0, a, r, p});
            }
          }
        }
      }
    }
    bool have = false;
    MaxContextResult winner;
    int64_t batch_misses = 0;
    std::string rule;  // the last model rule a candidate broke
    for (const auto& [t, u, r, p] : candidates) {
     for (int zero : zero_stages) {
      for (Recompute recompute : recomputes) {
      for (const auto& loss : losses) {
      for (int64_t tiled_mlp : tiled_mlps) {
      for (const auto& framework : frameworks) {
      for (const auto& offload : offloads) {
      JobConfig candidate = job;
      set_offload(candidate, offload, "offload");
      candidate.framework = framework;
      candidate.zero_stage = zero;
      candidate.recompute = recompute;
      // A searched mode is the whole mode (full: every layer); the job's own, full:N included, stays.
      if (!knobs.recomputes.empty()) candidate.recompute_layers = 0;
      candidate.loss = loss;
      candidate.tiled_mlp = tiled_mlp;
      candidate.pipeline_parallel = p;
      if (p == 1) candidate.virtual_pipeline_stages = 1;
      candidate.strategy = name;
      candidate.tensor_parallel = t;
      candidate.ulysses_degree = u;
      candidate.ring_degree = r;
      candidate.data_parallel = 0;
      if (candidate.global_batch_size > 0 &&
          candidate.global_batch_size % (candidate.micro_batch_size * (n / (t * u * r * p))) != 0) {
        ++batch_misses;
        continue;
      }
      MaxContextResult result;
      try {
        result = max_context(model, topology, candidate, engine, base_granularity, limits);
      } catch (const InputError& e) {
        rule = e.full();
        continue;  // illegal degrees for this model (heads, KV heads): not a candidate
      }
      const bool longer = result.max_seq > winner.max_seq;
      const bool faster = result.max_seq == winner.max_seq && result.max_seq > 0 &&
                          result.tokens_per_s > winner.tokens_per_s;
      if (!have || longer || faster) {
        winner = std::move(result);
        have = true;
      }
      }
      }
      }
      }
      }
     }
    }
    if (have) {
      best.push_back(std::move(winner));
    } else if (unanswered != nullptr) {
      std::string why;
      if (candidates.empty()) {
        why = fmt::format("no legal degrees for {} GPUs", n);
      } else if (batch_misses > 0) {
        why = fmt::format("no degrees whose data parallelism x micro-batch {} divides the batch of {} sequences "
                          "(give a --gbs that does){}",
                          job.micro_batch_size, job.global_batch_size,
                          rule.empty() ? "" : "; the other degrees break the model's rules");
      } else {
        why = "every plan is refused: " + rule;
      }
      unanswered->push_back(fmt::format("{} on {} GPUs: {}", name, n, why));
    }
  }
  return best;
}

}  // namespace spsim
