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

}  // namespace spsim
