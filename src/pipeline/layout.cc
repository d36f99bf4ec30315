// Which transformer layers each pipeline model chunk holds, as the job's framework places them.
// Megatron-Core: get_num_layers_to_build and TransformerConfig.__post_init__
// (megatron/core/transformer/transformer_block.py, transformer_config.py); torchtitan:
// _generate_llm_fqn_per_model_part (torchtitan/distributed/pipeline_parallel.py). Chunk g of the
// interleaved schedule lives on stage g mod p in both (Megatron's model chunks, torchtitan's
// "loop" stage ids), so a layout is one count per global chunk g = local · p + stage.
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/divisors.h"
#include "spsim/error.h"
#include "spsim/framework.h"
#include "spsim/pipeline.h"

namespace spsim {

namespace {

bool megatron_layout_given(const JobConfig& job) {
  return job.first_stage_layers > 0 || job.last_stage_layers > 0 ||
         job.embedding_in_pipeline_split || job.loss_in_pipeline_split;
}

// The first Megatron layout field the job sets, for messages.
const char* megatron_layout_field(const JobConfig& job) {
  if (job.first_stage_layers > 0) return "decoder_first_pipeline_num_layers";
  if (job.last_stage_layers > 0) return "decoder_last_pipeline_num_layers";
  if (job.embedding_in_pipeline_split) return "account_for_embedding_in_pipeline_split";
  return "account_for_loss_in_pipeline_split";
}

// Megatron's default: every chunk L / (p v) layers.
std::vector<int64_t> even_layout(const ModelSpec& model, const JobConfig& job, bool megatron) {
  const int64_t layers = model.num_layers, p = job.pipeline_parallel, v = job.virtual_pipeline_stages;
  const std::string uneven =
      megatron ? "; or place them unevenly as Megatron-LM does: --decoder-first-pipeline-num-layers / "
                 "--decoder-last-pipeline-num-layers, or --account-for-embedding-in-pipeline-split "
                 "and --account-for-loss-in-pipeline-split"
               : "";
  if (layers % p != 0) {
    throw InputError(
        "pipeline_model_parallel_size",
        fmt::format("num_layers {} must be divisible by pipeline_model_parallel_size {} (every "
                    "stage holds num_layers / p layers; model {}); valid "
                    "pipeline_model_parallel_size (--pp): {}{}",
                    layers, p, model.name, join_numbers(divisors(layers)), uneven));
  }
  if (layers % (p * v) != 0) {
    throw InputError(
        "virtual_pipeline_model_parallel_size",
        fmt::format("num_layers {} must be divisible by pipeline_model_parallel_size x "
                    "virtual_pipeline_model_parallel_size = {} x {} = {} (every model chunk holds "
                    "the same number of layers; model {}); valid virtual_pipeline_model_parallel_"
                    "size (--vpp) for p {}: {}{}",
                    layers, p, v, p * v, model.name, p, join_numbers(divisors(layers / p)), uneven));
  }
  return std::vector<int64_t>(static_cast<size_t>(p * v), layers / (p * v));
}

// --decoder-first/last-pipeline-num-layers: the named stages hold that many layers, the middle
// ones share the rest equally; every stage's count divides into its v chunks.
std::vector<int64_t> megatron_uneven_stages(const ModelSpec& model, const JobConfig& job) {
  const int64_t p = job.pipeline_parallel, v = job.virtual_pipeline_stages;
  int64_t middle_layers = model.num_layers, middle_stages = p;
  for (const auto& [count, field] : {std::pair{job.first_stage_layers, "decoder_first_pipeline_num_layers"},
                                     std::pair{job.last_stage_layers, "decoder_last_pipeline_num_layers"}}) {
    if (count == 0) continue;
    if (count % v != 0) {
      throw InputError(field, fmt::format("{} layers must be divisible by "
                                          "virtual_pipeline_model_parallel_size {} (each of the "
                                          "stage's model chunks holds the same number)",
                                          count, v));
    }
    middle_layers -= count;
    middle_stages -= 1;
  }
  if (middle_layers < 0 || (middle_layers > 0) != (middle_stages > 0) ||
      (middle_stages > 0 && middle_layers % middle_stages != 0) ||
      (middle_stages > 0 && (middle_layers / middle_stages) % v != 0) ||
      (middle_stages > 0 && middle_layers == 0)) {
    throw InputError(
        megatron_layout_field(job),
        fmt::format("the {} layers left for the {} middle stage(s) of model {} ({} layers) must split "
                    "equally, into chunks of virtual_pipeline_model_parallel_size {} (Megatron-LM's "
                    "rule for uneven pipelines); change the first/last stage layer counts",
                    middle_layers, middle_stages, model.name, model.num_layers, v));
  }
  std::vector<int64_t> stages(static_cast<size_t>(p), middle_stages > 0 ? middle_layers / middle_stages : 0);
  if (job.first_stage_layers > 0) stages.front() = job.first_stage_layers;
  if (job.last_stage_layers > 0) stages.back() = job.last_stage_layers;
  std::vector<int64_t> chunks(static_cast<size_t>(p * v));
  for (int64_t g = 0; g < p * v; ++g) chunks[static_cast<size_t>(g)] = stages[static_cast<size_t>(g % p)] / v;
  return chunks;
}

// --account-for-embedding/loss-in-pipeline-split: L + 1 (+ 1) units split equally over the p v
// chunks; the first chunk's share includes the embedding, the last one's the loss.
std::vector<int64_t> megatron_accounted(const ModelSpec& model, const JobConfig& job) {
  const int64_t p = job.pipeline_parallel, v = job.virtual_pipeline_stages;
  const int64_t units = model.num_layers + (job.embedding_in_pipeline_split ? 1 : 0) +
                        (job.loss_in_pipeline_split ? 1 : 0);
  if (units % (p * v) != 0) {
    throw InputError(
        megatron_layout_field(job),
        fmt::format("num_layers {} plus the embedding/loss counted as layers = {} must be divisible "
                    "by pipeline_model_parallel_size x virtual_pipeline_model_parallel_size = {} x {} "
                    "(model {}); change --pp / --vpp or the accounted modules",
                    model.num_layers, units, p, v, model.name));
  }
  std::vector<int64_t> chunks(static_cast<size_t>(p * v), units / (p * v));
  if (job.embedding_in_pipeline_split) chunks.front() -= 1;
  if (job.loss_in_pipeline_split) chunks.back() -= 1;
  return chunks;
}

// torchtitan: L + 1 + 1 effective layers, base = eff / S each, the first eff % S stages one more;
// the first stage's share includes the embedding, the last one's the final norm and output.
std::vector<int64_t> torchtitan_layout(const ModelSpec& model, const JobConfig& job) {
  const int64_t stages = job.pipeline_parallel * job.virtual_pipeline_stages;
  const int64_t layers = model.num_layers, effective = layers + 2;
  if (stages > effective || effective / stages < 1) {
    throw InputError("pipeline_model_parallel_size",
                     fmt::format("{} pipeline stages (p x v = {} x {}) exceed model {}'s {} layers "
                                 "plus its embedding and output (torchtitan's limit); lower --pp or --vpp",
                                 stages, job.pipeline_parallel, job.virtual_pipeline_stages,
                                 model.name, layers));
  }
  const int64_t base = effective / stages, extra = effective % stages;
  std::vector<int64_t> chunks(static_cast<size_t>(stages));
  int64_t placed = 0;
  for (int64_t g = 0; g < stages; ++g) {
    int64_t share = base + (g < extra ? 1 : 0);
    if (g == 0) share -= 1;
    if (g == stages - 1) share -= 1;
    share = std::max<int64_t>(0, std::min(share, layers - placed));
    chunks[static_cast<size_t>(g)] = share;
    placed += share;
  }
  return chunks;
}

}  // namespace

std::vector<int64_t> pipeline_chunk_layers(const ModelSpec& model, const JobConfig& job) {
  const int64_t p = job.pipeline_parallel;
  for (const auto& [count, field] : {std::pair{job.first_stage_layers, "decoder_first_pipeline_num_layers"},
                                     std::pair{job.last_stage_layers, "decoder_last_pipeline_num_layers"}}) {
    if (count < 0 || count > model.num_layers) {
      throw InputError(field, fmt::format("must be between 1 and model {}'s {} layers (got {}); 0 or "
                                          "absent splits the layers evenly",
                                          model.name, model.num_layers, count));
    }
  }
  const FrameworkProfile& framework = find_framework(job.framework.empty() ? "megatron" : job.framework);
  const bool layout_given = megatron_layout_given(job);
  if (layout_given && framework.pipeline_split != PipelineSplit::kMegatron) {
    throw InputError(megatron_layout_field(job),
                     fmt::format("is a Megatron-LM pipeline layout; framework {} places layers by "
                                 "its own rule{}; drop it or use --framework megatron or nemo",
                                 framework.name,
                                 framework.pipeline_split == PipelineSplit::kTorchtitan
                                     ? " (embedding and output count as one layer each)"
                                     : " (p | num_layers)"));
  }
  if (p == 1) {
    if (layout_given) {
      throw InputError(megatron_layout_field(job),
                       "places layers on pipeline stages; it needs pipeline_model_parallel_size "
                       "(--pp) > 1");
    }
    return {model.num_layers};
  }
  if (framework.pipeline_split == PipelineSplit::kTorchtitan) return torchtitan_layout(model, job);
  if (!layout_given) return even_layout(model, job, framework.pipeline_split == PipelineSplit::kMegatron);
  if ((job.first_stage_layers > 0 || job.last_stage_layers > 0) &&
      (job.embedding_in_pipeline_split || job.loss_in_pipeline_split)) {
    throw InputError("decoder_first_pipeline_num_layers",
                     "first/last stage layer counts cannot be combined with "
                     "account_for_embedding/loss_in_pipeline_split (Megatron-LM rejects it); use one");
  }
  return job.first_stage_layers > 0 || job.last_stage_layers > 0 ? megatron_uneven_stages(model, job)
                                                                  : megatron_accounted(model, job);
}

int64_t model_recomputed_layers(const ModelSpec& model, const JobConfig& job) {
  if (job.recompute != Recompute::kFull) return 0;
  if (job.recompute_layers == 0) return model.num_layers;
  int64_t sum = 0;
  for (int64_t layers : pipeline_chunk_layers(model, job)) sum += recomputed_layers(job, layers);
  return sum;
}

int64_t stage_layers(const std::vector<int64_t>& chunk_layers, int64_t stages, int64_t stage) {
  int64_t sum = 0;
  for (size_t g = static_cast<size_t>(stage); g < chunk_layers.size(); g += static_cast<size_t>(stages)) {
    sum += chunk_layers[g];
  }
  return sum;
}

}  // namespace spsim
