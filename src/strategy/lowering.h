// Shared lowering of one training step for the general hybrid t (Megatron TP/SP) x u (Ulysses) x
// r (ring) x D (data parallel), so each strategy plug-in only checks its own rules and picks
// degrees. Internal to src/strategy/.
#ifndef SPSIM_STRATEGY_LOWERING_H_
#define SPSIM_STRATEGY_LOWERING_H_

#include <cstdint>

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

/// Attention-core shard (heads, KV heads, tokens) and dense/norm token counts for `job`.
LayerShard make_layer_shard(const ModelSpec& model, const JobConfig& job);

}  // namespace spsim::detail

#endif  // SPSIM_STRATEGY_LOWERING_H_
