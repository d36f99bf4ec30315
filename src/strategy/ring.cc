// Ring attention / Megatron context parallelism (arXiv 2310.01889; TransformerEngine
// AttnFuncWithCPAndKVP2P; zhuzilin/ring-flash-attention): each GPU keeps c = s/r tokens and
// passes K,V blocks around the ring, overlapping each send/recv with one block of attention.
// ring_variant zigzag balances causal work; ring_comm allgather is the Llama-3 style variant.
#include <fmt/format.h>

#include "spsim/error.h"
#include "strategy/lowering.h"
#include "strategy/plugins.h"

namespace spsim::detail {

namespace {

constexpr StrategyTraits kTraits{.name = "ring", .uses_tensor = true, .uses_ulysses = false,
                                 .uses_ring = true, .splits_sequence = true, .in_all = true,
                                 .cli_picks_degrees = true};

class RingStrategy : public Strategy {
 public:
  const StrategyTraits& traits() const override { return kTraits; }
  const char* description() const override {
    return "ring attention: K,V blocks passed around r GPUs, overlapped with attention "
           "(Megatron --cp-comm-type p2p; ring_comm allgather = --cp-comm-type all_gather)";
  }
  JobConfig check(const ModelSpec& model, const JobConfig& input) const override {
    JobConfig job = input;
    job.strategy = name();
    resolve_framework(job, "megatron");
    if (job.ulysses_degree > 1) {
      throw InputError("ulysses_degree",
                       fmt::format("strategy ring has no all-to-all (got ulysses_degree {}); use "
                                   "strategy usp for ulysses x ring",
                                   job.ulysses_degree));
    }
    derive_degree(job.ring_degree, job);
    check_and_resolve(model, job);
    return job;
  }
  LoweredStep lower(const ModelSpec& model, const JobConfig& job) const override {
    return lower_hybrid(model, check(model, job));
  }
};

}  // namespace

std::unique_ptr<Strategy> make_ring_strategy() { return std::make_unique<RingStrategy>(); }

}  // namespace spsim::detail
