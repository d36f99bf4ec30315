// USP, unified sequence parallelism (arXiv 2405.07719; feifeibear/long-context-attention
// LongContextAttention; TE a2a+p2p): Ulysses over u contiguous ranks (intra-node), ring over r
// strided ranks; after the all-to-all each GPU rings s/r tokens of a/u heads (K,V: k/u heads).
#include <fmt/format.h>

#include "spsim/error.h"
#include "strategy/lowering.h"
#include "strategy/plugins.h"

namespace spsim::detail {

namespace {

constexpr StrategyTraits kTraits{.name = "usp", .uses_tensor = true, .uses_ulysses = true,
                                 .uses_ring = true, .splits_sequence = true, .in_all = true,
                                 .cli_picks_degrees = true};

class UspStrategy : public Strategy {
 public:
  const StrategyTraits& traits() const override { return kTraits; }
  const char* description() const override {
    return "USP: Ulysses all-to-all over u ranks x ring over r ranks "
           "(Megatron --cp-comm-type a2a+p2p)";
  }
  JobConfig check(const ModelSpec& model, const JobConfig& input) const override {
    JobConfig job = input;
    job.strategy = name();
    resolve_framework(job, "megatron");
    if (job.ulysses_degree == 1 && job.ring_degree == 1 && job.num_gpus > 1 &&
        job.data_parallel == 0) {
      throw InputError("ulysses_degree",
                       "strategy usp needs ulysses_degree and ring_degree (got 1 and 1); set both, "
                       "e.g. ulysses_degree = GPUs per node and ring_degree = nodes");
    }
    check_and_resolve(model, job);
    return job;
  }
  LoweredStep lower(const ModelSpec& model, const JobConfig& job) const override {
    return lower_hybrid(model, check(model, job));
  }
};

}  // namespace

std::unique_ptr<Strategy> make_usp_strategy() { return std::make_unique<UspStrategy>(); }

}  // namespace spsim::detail
