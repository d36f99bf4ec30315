// Strategy registry: one line per plug-in; a new scheme is one file plus one line here.
#include <fmt/format.h>

#include "spsim/error.h"
#include "spsim/strategy.h"
#include "strategy/plugins.h"

namespace spsim {

namespace {

struct Entry {
  const char* name;
  std::unique_ptr<Strategy> (*make)();
};

// Order of `spsim list strategies`.
constexpr Entry kStrategies[] = {
    {"ulysses", detail::make_ulysses_strategy},
    {"megatron-sp", detail::make_megatron_sp_strategy},
    {"megatron-tp", detail::make_megatron_tp_strategy},
    {"ring", detail::make_ring_strategy},
    {"usp", detail::make_usp_strategy},
    {"colai-sp", detail::make_colai_sp_strategy},
    {"lasp", detail::make_lasp_strategy},
    {"lasp2", detail::make_lasp2_strategy},
    {"dp", detail::make_data_parallel_strategy},
};

}  // namespace

std::unique_ptr<Strategy> make_strategy(std::string_view name) {
  for (const auto& entry : kStrategies) {
    if (name == entry.name) return entry.make();
  }
  const std::vector<std::string> names = list_strategies();
  const std::string guess = closest_match(std::string(name), names);
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  throw InputError("strategy",
                   guess.empty()
                       ? fmt::format("unknown strategy \"{}\"; use one of {}", name, known)
                       : fmt::format("unknown strategy \"{}\"; did you mean \"{}\"? (known: {})",
                                     name, guess, known));
}

std::vector<std::string> list_strategies() {
  std::vector<std::string> names;
  for (const auto& entry : kStrategies) names.emplace_back(entry.name);
  return names;
}

const StrategyTraits& strategy_traits(std::string_view name) { return make_strategy(name)->traits(); }

std::vector<std::string> expand_strategies(const std::vector<std::string>& names) {
  std::vector<std::string> out;
  for (const auto& name : names) {
    if (name == "all") {
      for (const auto& entry : kStrategies) {
        if (entry.make()->traits().in_all) out.emplace_back(entry.name);
      }
    } else {
      make_strategy(name);  // unknown names fail here, with a suggestion
      out.push_back(name);
    }
  }
  return out;
}

std::string applicability(const StrategyTraits& traits, const ModelSpec& model) {
  if (traits.linear_attention && model.linear_attention_layers == 0) {
    return fmt::format("strategy {} parallelizes linear attention and model \"{}\" has none (every "
                       "layer softmax); give a linear or hybrid model (attention_pattern), e.g. "
                       "linear-llama3-1b-hybrid, or another strategy",
                       traits.name, model.name);
  }
  if (!traits.linear_attention && model.linear_attention_layers > 0) {
    return fmt::format("strategy {} models softmax attention only and model \"{}\" has {} "
                       "linear-attention layers; use strategy lasp or lasp2",
                       traits.name, model.name, model.linear_attention_layers);
  }
  return "";
}

std::string window_applicability(const StrategyTraits& traits, const ModelSpec& model, const std::string& ring_comm) {
  if (model.sliding_window <= 0 || model.sliding_window_layers <= 0 || !traits.uses_ring) return "";
  const std::string name = traits.name;
  if (name == "ring" && ring_comm == "allgather") return "";
  return fmt::format("model \"{}\" has sliding-window attention ({} keys on {} of {} layers) and {}'s ring passes "
                     "K,V step by step, which TransformerEngine (cp_comm_type a2a or all_gather only) and "
                     "PyTorch's context_parallel run without a window; use ulysses or ring --cp-comm-type allgather",
                     model.name, model.sliding_window, model.sliding_window_layers, model.num_layers, name);
}

bool is_own_plan(const StrategyTraits& traits, const JobConfig& job) {
  if (!traits.cli_picks_degrees) return true;
  if (traits.uses_ulysses && job.ulysses_degree <= 1) return false;
  if (traits.uses_ring && job.ring_degree <= 1) return false;
  const bool tensor_only = traits.uses_tensor && !traits.uses_ulysses && !traits.uses_ring;
  if (tensor_only && job.tensor_parallel <= 1) return false;
  return true;
}

std::string scheme_of_plan(const JobConfig& job) {
  const bool u = job.ulysses_degree > 1, r = job.ring_degree > 1, t = job.tensor_parallel > 1;
  for (const auto& entry : kStrategies) {
    const StrategyTraits& traits = entry.make()->traits();
    if (!traits.cli_picks_degrees || traits.uses_ulysses != u || traits.uses_ring != r) continue;
    if (u || r) {
      if (t && !traits.uses_tensor) continue;
      return entry.name;
    }
    // Neither sequence degree: tensor parallelism alone (with or without sequence parallelism,
    // as the job says) or nothing at all (plain data parallelism).
    if (traits.uses_tensor != t) continue;
    if (t && traits.splits_sequence != job.sequence_parallel) continue;
    return entry.name;
  }
  return "";
}

}  // namespace spsim
