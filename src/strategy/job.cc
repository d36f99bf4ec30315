#include "spsim/job.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/json_reader.h"
#include "spsim/error.h"
#include "spsim/limits.h"
#include "spsim/long_context.h"

namespace spsim {

int64_t JobConfig::micro_batches() const {
  const int64_t dp = data_parallel > 0 ? data_parallel : 1;
  if (global_batch_size <= 0) return 1;
  return global_batch_size / (micro_batch_size * dp);
}

JobConfig job_from_json(const nlohmann::json& json, const std::string& where) {
  detail::ObjectReader in(json, where);
  JobConfig job;
  job.strategy = in.string("strategy", job.strategy);
  job.framework = in.string("framework", "");
  job.fp8_recipe = in.string("fp8_recipe", "");
  job.attention_impl = in.string("attention_impl", "");
  job.elementwise_impl = in.string("elementwise_impl", "");
  job.grad_reduce_dtype = in.string("grad_reduce_dtype", "");
  job.cross_entropy = in.string("cross_entropy", "");
  job.backward_prefetch = in.string("backward_prefetch", "");
  job.num_gpus = in.integer("num_gpus", job.num_gpus, 1, kMaxGpus);
  job.seq_length = in.integer("seq_length", job.seq_length, 1, kMaxSeqLength);
  job.micro_batch_size = in.integer("micro_batch_size", job.micro_batch_size, 1, kMaxMicroBatchSize);
  job.global_batch_size = in.integer("global_batch_size", 0, 0, kMaxGlobalBatchSize);
  job.tensor_parallel = in.integer("tensor_model_parallel_size", 1, 1, kMaxDegree);
  job.ulysses_degree = in.integer("ulysses_degree", 1, 1, kMaxDegree);
  job.ring_degree = in.integer("ring_degree", 1, 1, kMaxDegree);
  job.pipeline_parallel = in.integer("pipeline_model_parallel_size", 1, 1, kMaxPipelineStages);
  job.virtual_pipeline_stages =
      in.integer("virtual_pipeline_model_parallel_size", 1, 1, kMaxPipelineStages);
  job.first_stage_layers = in.integer("decoder_first_pipeline_num_layers", 0, 0, kMaxLayers);
  job.last_stage_layers = in.integer("decoder_last_pipeline_num_layers", 0, 0, kMaxLayers);
  job.embedding_in_pipeline_split = in.boolean("account_for_embedding_in_pipeline_split", false);
  job.loss_in_pipeline_split = in.boolean("account_for_loss_in_pipeline_split", false);
  job.data_parallel = in.integer("data_parallel_size", 0, 0, kMaxGpus);
  job.sequence_parallel = in.boolean("sequence_parallel", job.sequence_parallel);
  job.ring_variant = in.string("ring_variant", job.ring_variant);
  job.ring_comm = in.string("ring_comm", job.ring_comm);
  job.ulysses_kv_replication = in.boolean("ulysses_kv_replication", job.ulysses_kv_replication);
  job.ulysses_overlap = in.boolean("ulysses_overlap", job.ulysses_overlap);
  job.zero_stage = static_cast<int>(in.integer("zero_stage", 0, 0, 3));
  const std::string granularity = in.string("recompute_granularity", "none");
  if (granularity.find(':') != std::string::npos) {
    in.fail("recompute_granularity", fmt::format("\"{}\" is the command line's form; a job file writes "
                                                 "\"recompute_granularity\": \"full\", \"recompute_method\": "
                                                 "\"block\", \"recompute_num_layers\": N",
                                                 granularity));
  }
  job.recompute = parse_recompute(granularity, in.pointer("recompute_granularity"));
  // Megatron's --recompute-method block --recompute-num-layers N: the first N layers of every
  // model chunk recompute. uniform with N = 1 (or no method) is every layer; uniform groups of
  // N > 1 layers checkpointed together are not modelled.
  const std::string method = in.string("recompute_method", "");
  const int64_t num_layers = in.integer("recompute_num_layers", 0, 0, kMaxLayers);
  if (!method.empty() && method != "uniform" && method != "block") {
    in.fail("recompute_method", fmt::format("must be uniform or block (got \"{}\")", method));
  }
  if (job.recompute != Recompute::kFull && (!method.empty() || num_layers > 0)) {
    in.fail(num_layers > 0 ? "recompute_num_layers" : "recompute_method",
            "applies to recompute_granularity \"full\" only; drop it or set the granularity to full");
  }
  if (!method.empty() && num_layers == 0 && in.has("recompute_num_layers")) {
    in.fail("recompute_num_layers", "must be at least 1 with a recompute_method");
  }
  if (method == "block") {
    if (num_layers == 0) {
      in.fail("recompute_num_layers", "recompute_method block needs recompute_num_layers >= 1 (the "
                                      "layers of every model chunk that recompute)");
    }
    job.recompute_layers = num_layers;
  } else if (num_layers > 1) {
    in.fail("recompute_num_layers",
            fmt::format("{} without recompute_method block checkpoints groups of {} layers (Megatron's "
                        "uniform method), which spsim does not model; use 1 (every layer) or "
                        "recompute_method block (the first N layers of every model chunk)",
                        num_layers, num_layers));
  }
  job.precision = parse_precision(in.string("precision", "bf16"), in.pointer("precision"));
  const std::string kernel = in.string("attention_kernel", "flash");
  if (kernel == "flash") {
    job.attention_kernel = AttentionKernel::kFlash;
  } else if (kernel == "standard") {
    job.attention_kernel = AttentionKernel::kStandard;
  } else {
    in.fail("attention_kernel", fmt::format("must be flash or standard (got \"{}\")", kernel));
  }
  job.causal = in.boolean("causal", job.causal);
  job.loss = to_string(parse_loss(in.string("loss", "standard"), in.pointer("loss")));
  job.tiled_mlp = parse_tiled_mlp(in.string("tiled_mlp", "off"), in.pointer("tiled_mlp"));
  set_offload(job, in.string("offload", "none"), in.pointer("offload"));
  job.framework_reserve_bytes =
      in.number("framework_reserve_gib", kDefaultFrameworkReserveBytes / (1024.0 * 1024 * 1024),
                0, kMaxReserveGib) * 1024.0 * 1024 * 1024;
  if (job.ring_variant != "basic" && job.ring_variant != "zigzag" && job.ring_variant != "stripe") {
    in.fail("ring_variant",
            fmt::format("must be basic, zigzag or stripe (got \"{}\")", job.ring_variant));
  }
  if (job.ring_comm != "p2p" && job.ring_comm != "allgather") {
    in.fail("ring_comm", fmt::format("must be p2p or allgather (got \"{}\")", job.ring_comm));
  }
  if (!job.fp8_recipe.empty() && job.fp8_recipe != "delayed" && job.fp8_recipe != "current") {
    in.fail("fp8_recipe", fmt::format("must be delayed or current (got \"{}\")", job.fp8_recipe));
  }
  if (!job.attention_impl.empty() && job.attention_impl != "cudnn" && job.attention_impl != "flash2" &&
      job.attention_impl != "triton") {
    in.fail("attention_impl", fmt::format("must be cudnn, flash2 or triton (got \"{}\")", job.attention_impl));
  }
  if (!job.elementwise_impl.empty() && job.elementwise_impl != "fused" && job.elementwise_impl != "eager") {
    in.fail("elementwise_impl", fmt::format("must be fused or eager (got \"{}\")", job.elementwise_impl));
  }
  if (!job.grad_reduce_dtype.empty() && job.grad_reduce_dtype != "bf16" && job.grad_reduce_dtype != "fp32") {
    in.fail("grad_reduce_dtype", fmt::format("must be bf16 or fp32 (got \"{}\")", job.grad_reduce_dtype));
  }
  if (!job.cross_entropy.empty() && job.cross_entropy != "fused" && job.cross_entropy != "flash" &&
      job.cross_entropy != "native" && job.cross_entropy != "unfused") {
    in.fail("cross_entropy", fmt::format("must be fused, flash, native or unfused (got \"{}\")", job.cross_entropy));
  }
  if (!job.backward_prefetch.empty() && job.backward_prefetch != "pre" && job.backward_prefetch != "post" &&
      job.backward_prefetch != "sync") {
    in.fail("backward_prefetch", fmt::format("must be pre, post or sync (got \"{}\")", job.backward_prefetch));
  }
  if (in.has("seq_dist")) {
    const std::string path = in.string("seq_dist", "");
    job.seq_dist = std::make_shared<const SequenceDistribution>(
        load_sequence_distribution(path, where + ": /seq_dist"));
  }
  in.finish();
  return job;
}

nlohmann::json job_to_json(const JobConfig& job) {
  nlohmann::json out;
  out["strategy"] = job.strategy;
  out["framework"] = job.framework;
  out["fp8_recipe"] = job.fp8_recipe;
  out["attention_impl"] = job.attention_impl;
  out["elementwise_impl"] = job.elementwise_impl;
  // Only when set: results and sweep fingerprints of jobs without them stay as they were.
  if (!job.grad_reduce_dtype.empty()) out["grad_reduce_dtype"] = job.grad_reduce_dtype;
  if (!job.cross_entropy.empty()) out["cross_entropy"] = job.cross_entropy;
  if (!job.backward_prefetch.empty()) out["backward_prefetch"] = job.backward_prefetch;
  out["num_gpus"] = job.num_gpus;
  out["seq_length"] = job.seq_length;
  out["micro_batch_size"] = job.micro_batch_size;
  out["global_batch_size"] = job.global_batch_size;
  out["micro_batches"] = job.micro_batches();
  out["tensor_model_parallel_size"] = job.tensor_parallel;
  out["ulysses_degree"] = job.ulysses_degree;
  out["ring_degree"] = job.ring_degree;
  out["pipeline_model_parallel_size"] = job.pipeline_parallel;
  out["virtual_pipeline_model_parallel_size"] = job.virtual_pipeline_stages;
  // Megatron's uneven layout fields only when set: an even plan's configuration stays as short
  // as the launch arguments that give it.
  if (job.first_stage_layers > 0) out["decoder_first_pipeline_num_layers"] = job.first_stage_layers;
  if (job.last_stage_layers > 0) out["decoder_last_pipeline_num_layers"] = job.last_stage_layers;
  if (job.embedding_in_pipeline_split) out["account_for_embedding_in_pipeline_split"] = true;
  if (job.loss_in_pipeline_split) out["account_for_loss_in_pipeline_split"] = true;
  out["data_parallel_size"] = job.data_parallel;
  out["sequence_parallel"] = job.sequence_parallel;
  out["ring_variant"] = job.ring_variant;
  out["ring_comm"] = job.ring_comm;
  out["ulysses_kv_replication"] = job.ulysses_kv_replication;
  out["ulysses_overlap"] = job.ulysses_overlap;
  out["zero_stage"] = job.zero_stage;
  out["recompute_granularity"] = to_string(job.recompute);
  // Megatron's block method only when a part of the layers recomputes.
  if (job.recompute_layers > 0) {
    out["recompute_method"] = "block";
    out["recompute_num_layers"] = job.recompute_layers;
  }
  out["precision"] = to_string(job.precision);
  out["attention_kernel"] = job.attention_kernel == AttentionKernel::kFlash ? "flash" : "standard";
  out["causal"] = job.causal;
  // Long-context techniques only when on: a plan without them keeps its configuration as it was.
  if (job.loss != "standard") out["loss"] = job.loss;
  if (job.tiled_mlp != 0) out["tiled_mlp"] = tiled_mlp_name(job.tiled_mlp);
  if (job.offloads_to_host()) out["offload"] = offload_name(job);
  out["framework_reserve_gib"] = job.framework_reserve_bytes / (1024.0 * 1024 * 1024);
  // Only when given: a fixed-length job's configuration is unchanged.
  if (job.seq_dist) out["seq_dist"] = job.seq_dist->source;
  return out;
}

void set_recompute(JobConfig& job, const std::string& text, const std::string& where) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos) {
    job.recompute = parse_recompute(text, where);
    job.recompute_layers = 0;
    return;
  }
  const std::string head = text.substr(0, colon), count = text.substr(colon + 1);
  const bool digits = !count.empty() && count.size() <= 6 &&
                      count.find_first_not_of("0123456789") == std::string::npos;
  const int64_t layers = digits ? std::stoll(count) : 0;
  if (head != "full" || layers < 1 || layers > kMaxLayers) {
    throw InputError(where, fmt::format("unknown recompute \"{}\"; use none, selective, full, op or "
                                        "full:N (full recompute of the first N >= 1 layers of every "
                                        "model chunk, Megatron's --recompute-method block)", text));
  }
  job.recompute = Recompute::kFull;
  job.recompute_layers = layers;
}

std::string recompute_name(const JobConfig& job) {
  if (job.recompute == Recompute::kFull && job.recompute_layers > 0) {
    return fmt::format("full:{}", job.recompute_layers);
  }
  return to_string(job.recompute);
}

int64_t recomputed_layers(const JobConfig& job, int64_t chunk_layers) {
  if (job.recompute != Recompute::kFull) return 0;
  return job.recompute_layers > 0 ? std::min(job.recompute_layers, chunk_layers) : chunk_layers;
}

}  // namespace spsim
