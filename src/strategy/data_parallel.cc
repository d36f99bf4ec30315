// Plain data parallelism: every GPU runs whole sequences of the whole model (DDP, or ZeRO/FSDP
// sharding the states), no sequence or tensor split. What every framework runs for short
// sequences, and the baseline the sequence-parallel schemes are compared with.
#include <fmt/format.h>

#include "spsim/error.h"
#include "strategy/lowering.h"
#include "strategy/plugins.h"

namespace spsim::detail {

namespace {

// No degree of its own: data parallelism is what is left of the GPUs (cli_picks_degrees false:
// the rules reject any t, u or r a search tries).
constexpr StrategyTraits kTraits{.name = "dp", .uses_tensor = false, .uses_ulysses = false,
                                 .uses_ring = false, .splits_sequence = false, .in_all = false,
                                 .cli_picks_degrees = false};

class DataParallelStrategy : public Strategy {
 public:
  const StrategyTraits& traits() const override { return kTraits; }
  const char* description() const override {
    return "data parallelism only: whole sequences per GPU, gradients reduced over every GPU "
           "(DDP, ZeRO / distributed optimizer, FSDP)";
  }
  JobConfig check(const ModelSpec& model, const JobConfig& input) const override {
    JobConfig job = input;
    job.strategy = name();
    resolve_framework(job, "megatron");
    if (job.tensor_parallel > 1 || job.ulysses_degree > 1 || job.ring_degree > 1) {
      throw InputError(job.tensor_parallel > 1 ? "tensor_model_parallel_size"
                       : job.ulysses_degree > 1 ? "ulysses_degree" : "ring_degree",
                       fmt::format("strategy dp splits neither weights nor sequences (got t {}, u {}, r {}); "
                                   "use megatron-sp, ulysses, ring or usp for those",
                                   job.tensor_parallel, job.ulysses_degree, job.ring_degree));
    }
    check_and_resolve(model, job);
    return job;
  }
  LoweredStep lower(const ModelSpec& model, const JobConfig& job) const override {
    return lower_hybrid(model, check(model, job));
  }
};

}  // namespace

std::unique_ptr<Strategy> make_data_parallel_strategy() { return std::make_unique<DataParallelStrategy>(); }

}  // namespace spsim::detail
