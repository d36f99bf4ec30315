// Shared lowering of one training step for the general hybrid t (Megatron TP/SP) x u (Ulysses) x
// r (ring) x D (data parallel), so each strategy plug-in only checks its own rules and picks
// degrees. Internal to src/strategy/.
#ifndef SPSIM_STRATEGY_LOWERING_H_
#define SPSIM_STRATEGY_LOWERING_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "spsim/framework.h"
#include "spsim/job.h"
#include "spsim/model.h"
#include "spsim/strategy.h"

namespace spsim::detail {

/// Checks the rules every scheme shares (GPU count, heads, KV heads, sequence and batch
/// divisibility, pipeline) and fills the derived fields of `job` (data_parallel,
/// global_batch_size). Throws InputError naming the field, the rule, the values and the fix.
void check_and_resolve(const ModelSpec& model, JobConfig& job);

/// Fills job.framework with the scheme's usual framework when the job names none (and
/// job.fp8_recipe with the framework's), then applies the framework's rules. Returns its profile.
const FrameworkProfile& resolve_framework(JobConfig& job, const char* usual_framework);

/// If the scheme's own degree is still 1 and data_parallel is unset (0), the scheme takes every
/// GPU not used by the other degrees: `spsim run --strategy ulysses --num-gpus 8` means u = 8.
void derive_degree(int64_t& degree, const JobConfig& job);

/// Lowers a resolved job (check_and_resolve already passed) to its task graph and memory.
/// `job.strategy`, degrees, sequence_parallel, ring_variant and ring_comm select the structure.
LoweredStep lower_hybrid(const ModelSpec& model, const JobConfig& job);

/// Emits a scheme's attention tasks into `out` (phase, forward or backward, the dependencies of
/// the pattern it replaces) and returns the task later ones must wait for.
using AttentionEmitter =
    std::function<int(std::vector<Task>& out, Phase phase, bool backward, const std::vector<int>& deps)>;
/// Appends a spliced attention's tasks to `out`: computes on the compute stream, collectives on
/// the ring stream over `group`; dependencies < 0 are ignored.
class SpliceEmitter {
 public:
  SpliceEmitter(std::vector<Task>& tasks, Phase phase, int group)
      : tasks_(tasks), phase_(phase), group_(group) {}
  int compute(const char* name, OpClass op_class, double flops, double bytes, const std::vector<int>& deps);
  int comm(const char* name, CommKind kind, Category category, double bytes, const std::vector<int>& deps);
  Task& at(int index) { return tasks_[static_cast<size_t>(index)]; }
  Phase phase() const { return phase_; }

 private:
  int push(Task task, const std::vector<int>& deps);
  std::vector<Task>& tasks_;
  Phase phase_;
  int group_;
};

/// Replaces each all-gather attention pattern of `segment` (forward: K,V gather and core;
/// backward: gather, core, dK,dV reduce-scatter) and, with `core_alone`, each attention core
/// outside one (r = 1), by `emit`'s tasks (src/strategy/attention_splice.cc).
void splice_attention(Segment& segment, bool core_alone, const AttentionEmitter& emit);

/// The factor on the attention core's FLOP for job.seq_dist (src/strategy/varlen.cc): the
/// busiest rank's per-document-masked work over a single document's; 1 without a distribution
/// or with a standard (mask-everything) kernel.
double varlen_attention_scale(const JobConfig& job);

/// Attention-core shard (heads, KV heads, tokens) and dense/norm token counts for `job`.
LayerShard make_layer_shard(const ModelSpec& model, const JobConfig& job);

}  // namespace spsim::detail

#endif  // SPSIM_STRATEGY_LOWERING_H_
