// Megatron-LM tensor parallelism (arXiv 1909.08053) with sequence parallelism (Korthikanti et al.,
// arXiv 2205.05198): "megatron-sp" all-gathers before and reduce-scatters after each TP block;
// "megatron-tp" is plain TP with all-reduces and replicated norm/dropout activations.
#include <fmt/format.h>

#include "spsim/error.h"
#include "strategy/lowering.h"
#include "strategy/plugins.h"

namespace spsim::detail {

namespace {

constexpr StrategyTraits kSequenceParallelTraits{
    .name = "megatron-sp", .uses_tensor = true, .uses_ulysses = false, .uses_ring = false,
    .splits_sequence = true, .in_all = true, .cli_picks_degrees = true};
constexpr StrategyTraits kTensorParallelTraits{
    .name = "megatron-tp", .uses_tensor = true, .uses_ulysses = false, .uses_ring = false,
    .splits_sequence = false, .in_all = false, .cli_picks_degrees = true};

class MegatronStrategy : public Strategy {
 public:
  explicit MegatronStrategy(bool sequence_parallel) : sequence_parallel_(sequence_parallel) {}
  const StrategyTraits& traits() const override {
    return sequence_parallel_ ? kSequenceParallelTraits : kTensorParallelTraits;
  }
  const char* description() const override {
    return sequence_parallel_
               ? "Megatron tensor + sequence parallelism: all-gather / reduce-scatter around "
                 "each TP block (--tensor-model-parallel-size t --sequence-parallel)"
               : "Megatron tensor parallelism without SP: all-reduce after each TP block "
                 "(--tensor-model-parallel-size t)";
  }
  JobConfig check(const ModelSpec& model, const JobConfig& input) const override {
    JobConfig job = input;
    job.strategy = name();
    resolve_framework(job, "megatron");
    job.sequence_parallel = sequence_parallel_;
    if (job.ulysses_degree > 1) {
      throw InputError("ulysses_degree",
                       fmt::format("strategy {} has no all-to-all (got ulysses_degree {}); use "
                                   "strategy ulysses or usp with tensor_model_parallel_size",
                                   name(), job.ulysses_degree));
    }
    if (job.ring_degree > 1) {
      throw InputError("ring_degree",
                       fmt::format("strategy {} has no ring (got ring_degree {}); use strategy "
                                   "ring with tensor_model_parallel_size (Megatron TP x CP)",
                                   name(), job.ring_degree));
    }
    derive_degree(job.tensor_parallel, job);
    if (job.tensor_parallel < 2) {
      throw InputError(
          "tensor_model_parallel_size",
          fmt::format("strategy {} needs tensor_model_parallel_size > 1 (got {}); {}", name(),
                      job.tensor_parallel,
                      sequence_parallel_
                          ? "Megatron sequence parallelism exists only with tensor parallelism; "
                            "use strategy ulysses or ring to split the sequence alone"
                          : "with 1 it is plain data parallelism"));
    }
    check_and_resolve(model, job);
    return job;
  }
  LoweredStep lower(const ModelSpec& model, const JobConfig& job) const override {
    return lower_hybrid(model, check(model, job));
  }

 private:
  bool sequence_parallel_;
};

}  // namespace

std::unique_ptr<Strategy> make_megatron_sp_strategy() {
  return std::make_unique<MegatronStrategy>(true);
}
std::unique_ptr<Strategy> make_megatron_tp_strategy() {
  return std::make_unique<MegatronStrategy>(false);
}

}  // namespace spsim::detail
