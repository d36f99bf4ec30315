// DeepSpeed-Ulysses (arXiv 2309.14509; deepspeed/sequence/layer.py): each GPU holds s/u tokens;
// all-to-alls of Q, K, V before attention turn that into all s tokens of a/u heads, and one of O
// after it turns it back. Optional Megatron TP (t) inside, and DP x SP ZeRO.
#include <fmt/format.h>

#include "spsim/error.h"
#include "strategy/lowering.h"
#include "strategy/plugins.h"

namespace spsim::detail {

namespace {

constexpr StrategyTraits kTraits{.name = "ulysses", .uses_tensor = true, .uses_ulysses = true,
                                 .uses_ring = false, .splits_sequence = true, .in_all = true,
                                 .cli_picks_degrees = true};

class UlyssesStrategy : public Strategy {
 public:
  const StrategyTraits& traits() const override { return kTraits; }
  const char* description() const override {
    return "DeepSpeed-Ulysses: all-to-all of Q, K, V and O, heads split u ways "
           "(Megatron --cp-comm-type a2a)";
  }
  JobConfig check(const ModelSpec& model, const JobConfig& input) const override {
    JobConfig job = input;
    job.strategy = name();
    // Mixture-of-experts layers are costed as Megatron-Core runs them (rules.cc check_moe): such
    // a model's Ulysses is Megatron's all-to-all context parallelism.
    resolve_framework(job, model.is_moe() ? "megatron" : "deepspeed");
    if (job.ring_degree > 1) {
      throw InputError("ring_degree",
                       fmt::format("strategy ulysses has no ring (got ring_degree {}); use "
                                   "strategy usp for ulysses x ring",
                                   job.ring_degree));
    }
    derive_degree(job.ulysses_degree, job);
    check_and_resolve(model, job);
    return job;
  }
  LoweredStep lower(const ModelSpec& model, const JobConfig& job) const override {
    return lower_hybrid(model, check(model, job));
  }
};

}  // namespace

std::unique_ptr<Strategy> make_ulysses_strategy() { return std::make_unique<UlyssesStrategy>(); }

}  // namespace spsim::detail
