// Constraints shared by every scheme (docs/strategies.md lists each with its source).
#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/divisors.h"
#include "model/check_costed.h"
#include "spsim/error.h"
#include "spsim/limits.h"
#include "spsim/pipeline.h"
#include "strategy/lowering.h"

namespace spsim::detail {

namespace {

// Library callers build JobConfig directly, so the flag limits are checked here too.
void check_limit(int64_t value, int64_t limit, const char* field) {
  if (value > limit) {
    throw InputError(field, fmt::format("{} is too large: past the limit of {} (README \"Limits and "
                                        "errors\")", value, limit));
  }
}

// Ulysses degrees u that fit `heads` query heads and `kv` KV heads per TP rank: u | heads and
// (u | kv, or kv | u when KV heads are replicated as DeepSpeed ALST does).
std::vector<int64_t> valid_ulysses(int64_t heads, int64_t kv, bool replication) {
  std::vector<int64_t> out;
  for (int64_t u : divisors(heads)) {
    if (kv % u == 0 || (replication && u % kv == 0)) out.push_back(u);
  }
  return out;
}

// Sliding-window attention (model.h) as the frameworks run it: FlashAttention's window_size in
// one kernel over the whole (local) sequence, which Ulysses / TE's a2a CP, TE's all-gather CP
// (get_kv_seq_info_after_all_gather trims K,V to the window) and every plan without CP call.
// TE asserts "Context parallelism does not support sliding window attention" for its p2p ring
// (context_parallel.py:5054-5060 @d0067d0), and neither PyTorch's context_parallel SDPA nor the
// ring kernels spsim models take a window: no plan skips ring steps, so spsim does not either.
void check_sliding_window(const ModelSpec& model, const JobConfig& job) {
  if (sliding_window_attention_scale(model, job.seq_length) >= 1.0) return;
  const std::string what = fmt::format("model {} has sliding-window attention ({} keys on {} of {} layers)",
                                       model.name, model.sliding_window, model.sliding_window_layers,
                                       model.num_layers);
  if (!job.causal) {
    throw InputError("causal", what + ", a causal mask by construction; drop --no-causal");
  }
  if (job.seq_dist) {
    throw InputError("seq_dist", what + ": windows within packed documents are not modelled; drop --seq-dist "
                                        "and give one --seq length");
  }
  // Megatron's own DotProductAttention asserts "Sliding Window Attention is only supported by
  // TEDotProductAttention" (megatron/core/transformer/dot_product_attention.py).
  if (job.attention_kernel != AttentionKernel::kFlash && (job.framework == "megatron" || job.framework == "nemo")) {
    throw InputError("attention_kernel", what + ": Megatron runs sliding windows only in TransformerEngine's "
                                                "fused kernels; drop --attention-kernel standard");
  }
  // TE's hierarchical CP (a2a+p2p, USP's layout) is refused by the same assert as its p2p ring.
  if (job.ulysses_degree > 1 && job.ring_degree > 1) {
    throw InputError("ring_comm", what + ": a Ulysses x ring plan passes K,V around its ring step by step, "
                                         "which no framework runs with a window; use ulysses alone, or ring "
                                         "--cp-comm-type allgather");
  }
  const bool per_step_sdpa = !job.framework.empty() &&
                             find_framework(job.framework).cp_attention == CpAttention::kPerStepSdpa;
  if (job.ring_degree > 1 && (job.ring_comm != "allgather" || per_step_sdpa || job.strategy == "colai-sp")) {
    throw InputError("ring_comm",
                     what + ": a ring that passes K,V step by step has no window in the frameworks spsim "
                            "models (TransformerEngine asserts cp_comm_type a2a or all_gather; PyTorch's "
                            "context_parallel SDPA takes none); use --cp-comm-type allgather under Megatron, "
                            "or Ulysses");
  }
}

// --recompute full:N: a count the model has, checkpointed where the framework can place it.
void check_partial_recompute(const ModelSpec& model, const JobConfig& job) {
  if (job.recompute_layers == 0) return;
  const int64_t layers = model.num_layers, n = job.recompute_layers;
  if (n > layers) {
    throw InputError("recompute", fmt::format("full:{} asks for more layers than model {} has ({}); use --recompute "
                                              "full (every layer) or full:N with N < {}",
                                              n, model.name, layers, layers));
  }
  if (job.framework.empty()) return;  // resolved later; the lowering's check has it
  const FrameworkProfile& fw = find_framework(job.framework);
  if (fw.partial_recompute == PartialRecompute::kNone) {
    throw InputError("recompute", fmt::format("{} checkpoints every layer or none (Hugging Face's gradient "
                                              "checkpointing); use --recompute full or none, or --framework "
                                              "megatron for full:{}",
                                              fw.title, n));
  }
  if (fw.partial_recompute == PartialRecompute::kEveryKth) {
    // torchtitan checkpoints blocks k, 2k, ... with one counter per rank over all its blocks.
    if (job.pipeline_parallel > 1) {
      throw InputError("recompute", fmt::format("{} counts the blocks of every-k-th checkpointing across a rank's "
                                                "pipeline stages, which full:{} does not place; use --recompute "
                                                "full or none with --pp",
                                                fw.title, n));
    }
    const int64_t k = layers / n;
    if (layers / k != n) {
      throw InputError("recompute", fmt::format("{} checkpoints every k-th of the {} blocks, floor({} / k) of them: "
                                                "no k gives {}; use full:{} (k = {}) or full:{} (k = {})",
                                                fw.title, layers, layers, n, layers / k, k, layers / (k + 1), k + 1));
    }
  }
}

}  // namespace

const FrameworkProfile& resolve_framework(JobConfig& job, const char* usual_framework) {
  if (job.framework.empty()) job.framework = usual_framework;
  const FrameworkProfile& framework = find_framework(job.framework);
  if (job.fp8_recipe.empty()) job.fp8_recipe = framework.fp8_recipe == Fp8Recipe::kCurrent ? "current" : "delayed";
  if (job.attention_impl.empty()) job.attention_impl = to_string(framework.attention);
  if (job.elementwise_impl.empty()) job.elementwise_impl = to_string(framework.elementwise);
  // Every way a job arrives (flags, experiment JSON, imports, validation rows) meets these names
  // here, so a misspelt one is an error rather than a silent fall-back to the framework's own.
  const auto check_choice = [](const char* field, const std::string& value,
                               std::initializer_list<const char*> allowed, bool empty_ok) {
    if (empty_ok && value.empty()) return;
    for (const char* a : allowed) {
      if (value == a) return;
    }
    std::string names;
    for (const char* a : allowed) names += std::string(names.empty() ? "" : ", ") + a;
    throw InputError(field, fmt::format("must be one of {} (got \"{}\")", names, value));
  };
  check_choice("attention_impl", job.attention_impl, {"cudnn", "flash2", "triton"}, false);
  check_choice("elementwise_impl", job.elementwise_impl, {"fused", "eager"}, false);
  check_choice("fp8_recipe", job.fp8_recipe, {"delayed", "current"}, false);
  check_choice("cross_entropy", job.cross_entropy, {"fused", "flash", "native", "unfused"}, true);
  check_choice("grad_reduce_dtype", job.grad_reduce_dtype, {"bf16", "fp32"}, true);
  check_choice("backward_prefetch", job.backward_prefetch, {"pre", "post", "sync"}, true);
  // Only DeepSpeed's ALST replicates KV heads past the Ulysses degree; TE's a2a asserts
  // kv_heads % cp == 0.
  if (!framework.kv_replication) job.ulysses_kv_replication = false;
  check_framework_rules(framework, job);
  return framework;
}

}  // namespace spsim::detail

namespace spsim {

int64_t sequence_split(const JobConfig& job) {
  const bool megatron_sp = job.tensor_parallel > 1 && job.sequence_parallel;
  return job.ulysses_degree * job.ring_degree * (megatron_sp ? job.tensor_parallel : 1);
}

bool zigzag_split(const JobConfig& job) {
  return job.ring_degree > 1 && job.causal && job.ring_variant == "zigzag";
}

int64_t sequence_granularity(const JobConfig& job) {
  const int64_t g = sequence_split(job);
  return zigzag_split(job) ? std::lcm(g, 2 * job.ring_degree * job.ulysses_degree) : g;
}

}  // namespace spsim

namespace spsim::detail {

void derive_degree(int64_t& degree, const JobConfig& job) {
  if (degree != 1 || job.data_parallel != 0) return;
  const auto used = product_within({job.tensor_parallel, job.ulysses_degree, job.ring_degree,
                                    job.pipeline_parallel}, kMaxGpus);
  if (used && *used > 0 && job.num_gpus % *used == 0) degree = job.num_gpus / *used;
}

namespace {

// Mixture-of-experts layers are costed as Megatron-Core runs them by default (layer_ops.cc):
// expert parallelism 1, expert TP = TP, the allgather dispatcher, 16-bit or fp32 GEMMs.
void check_moe(const ModelSpec& model, const JobConfig& job) {
  if (!model.is_moe()) return;
  if (job.strategy == "colai-sp") {
    throw InputError("strategy", fmt::format("model {} has mixture-of-experts layers, which spsim costs as "
                                             "Megatron-Core runs them, and ColAI-SP runs under Colossal-AI; use "
                                             "ring, ulysses, usp or megatron-sp",
                                             model.name));
  }
  if (job.zero_stage >= 3) {
    // Megatron's ZeRO-3 is Megatron-FSDP, whose handling of expert parameters spsim has not read.
    throw InputError("zero_stage", fmt::format("mixture-of-experts layers under Megatron-FSDP (ZeRO-3) are not "
                                               "modelled; model {} runs with --zero 0 or 1",
                                               model.name));
  }
  if (job.framework != "megatron" && job.framework != "nemo") {
    throw InputError("framework", fmt::format("model {} has mixture-of-experts layers, which spsim costs as "
                                              "Megatron-Core runs them; use --framework megatron or nemo (got {})",
                                              model.name, job.framework));
  }
  const int64_t t = job.tensor_parallel;
  if (t > 1 && !job.sequence_parallel) {
    // MoELayer.forward raises without it (megatron/core/transformer/moe/moe_layer.py:636-640).
    throw InputError("sequence_parallel", fmt::format("Megatron-Core's MoE layers need sequence parallelism with "
                                                      "tensor_model_parallel_size {} > 1; use strategy megatron-sp",
                                                      t));
  }
  if (t > 1 && model.moe.expert_ffn_size % t != 0) {
    throw InputError("tensor_model_parallel_size",
                     fmt::format("moe_intermediate_size {} of model {} must be divisible by "
                                 "tensor_model_parallel_size {} (expert TP = TP splits each expert's columns)",
                                 model.moe.expert_ffn_size, model.name, t));
  }
  if (job.precision == Precision::kFp8) {
    throw InputError("precision", fmt::format("FP8 mixture-of-experts layers (TransformerEngine's padded expert "
                                              "GEMMs) are not modelled; model {} runs bf16, fp16 or fp32",
                                              model.name));
  }
  if (job.recompute == Recompute::kOp || job.tiled_mlp != 0) {
    throw InputError(job.recompute == Recompute::kOp ? "recompute" : "tiled_mlp",
                     fmt::format("--recompute op and --tiled-mlp describe dense MLPs; model {} has "
                                 "mixture-of-experts layers: use --recompute full, selective or none",
                                 model.name));
  }
}

}  // namespace

void check_and_resolve(const ModelSpec& model, JobConfig& job) {
  if (model.hidden_size <= 0 || model.num_layers <= 0 || model.num_attention_heads <= 0 ||
      model.num_key_value_heads <= 0 || model.head_dim <= 0 || model.ffn_hidden_size <= 0 ||
      model.vocab_size <= 0) {
    throw InputError("model", fmt::format("model \"{}\" has a non-positive size (hidden_size, "
                                          "num_layers, heads, head_dim, ffn or vocab); fix the "
                                          "model file", model.name));
  }
  check_costed(model, "model");
  // Attention type per layer: softmax schemes refuse linear layers, LASP needs them (registry.cc).
  const std::vector<std::string> names = list_strategies();
  if (std::find(names.begin(), names.end(), job.strategy) != names.end()) {
    if (const std::string why = applicability(strategy_traits(job.strategy), model); !why.empty()) {
      throw InputError("strategy", why);
    }
  }
  const int64_t t = job.tensor_parallel, u = job.ulysses_degree, r = job.ring_degree;
  const int64_t p = job.pipeline_parallel, v = job.virtual_pipeline_stages;
  if (t < 1 || u < 1 || r < 1 || p < 1 || v < 1 || job.num_gpus < 1 ||
      job.micro_batch_size < 1 || job.seq_length < 1) {
    throw InputError("config", "degrees, num_gpus, micro_batch_size and seq_length must be >= 1");
  }
  check_limit(job.num_gpus, kMaxGpus, "num_gpus");
  check_limit(t, kMaxDegree, "tensor_model_parallel_size");
  check_limit(u, kMaxDegree, "ulysses_degree");
  check_limit(r, kMaxDegree, "ring_degree");
  check_limit(p, kMaxPipelineStages, "pipeline_model_parallel_size");
  check_limit(v, kMaxPipelineStages, "virtual_pipeline_model_parallel_size");
  check_limit(job.data_parallel, kMaxGpus, "data_parallel_size");
  check_limit(job.seq_length, kMaxSeqLength, "seq_length");
  check_limit(job.micro_batch_size, kMaxMicroBatchSize, "micro_batch_size");
  check_limit(job.global_batch_size, kMaxGlobalBatchSize, "global_batch_size");
  if (v > 1 && p == 1) {
    throw InputError("virtual_pipeline_model_parallel_size",
                     fmt::format("the interleaved schedule needs pipeline_model_parallel_size > 1 "
                                 "(got v {} with p 1); set --pp > 1 or --vpp 1",
                                 v));
  }
  // Every chunk's layers, as the framework places them (src/pipeline/layout.cc); throws when it
  // cannot.
  pipeline_chunk_layers(model, job);
  // Checked here too, not only in job_from_json: library callers build JobConfig directly.
  if (job.zero_stage < 0 || job.zero_stage > 3) {
    throw InputError("zero_stage",
                     fmt::format("must be 0, 1, 2 or 3 (got {}); 0 = plain DP, 1 = optimizer, "
                                 "2 = + gradients, 3 = + parameters sharded",
                                 job.zero_stage));
  }
  if (job.ring_variant != "basic" && job.ring_variant != "zigzag" && job.ring_variant != "stripe") {
    throw InputError("ring_variant", fmt::format("must be basic, zigzag or stripe (got \"{}\")",
                                                 job.ring_variant));
  }
  if (job.ring_comm != "p2p" && job.ring_comm != "allgather") {
    throw InputError("ring_comm", fmt::format("must be p2p or allgather (got \"{}\")",
                                              job.ring_comm));
  }
  // Each degree is at most kMaxDegree (2^12) and p kMaxPipelineStages, so t x u x r x p fits in int64; times DP it
  // may not, and a product past the GPU limit can never equal num_gpus anyway.
  const int64_t split = t * u * r * p;
  if (split > kMaxGpus) {
    throw InputError(
        "num_gpus",
        fmt::format("tensor_model_parallel_size x ulysses_degree x ring_degree x "
                    "pipeline_model_parallel_size = {} x {} x {} x {} = {} is past the limit of {} "
                    "GPUs (README \"Limits and errors\"); use smaller degrees",
                    t, u, r, p, split, kMaxGpus));
  }
  if (job.data_parallel > 0) {
    if (job.num_gpus != split * job.data_parallel) {
      throw InputError(
          "num_gpus",
          fmt::format("must equal tensor_model_parallel_size x ulysses_degree x ring_degree x "
                      "data_parallel_size x pipeline_model_parallel_size = {} x {} x {} x {} x {} "
                      "= {} (got {}); set data_parallel_size to 0 to derive it or change the "
                      "degrees",
                      t, u, r, job.data_parallel, p, split * job.data_parallel, job.num_gpus));
    }
  } else {
    if (job.num_gpus % split != 0) {
      throw InputError(
          "num_gpus",
          fmt::format("{} GPUs not divisible by tensor_model_parallel_size x ulysses_degree x "
                      "ring_degree{} = {}; use a multiple of {} GPUs or change the degrees",
                      job.num_gpus,
                      p > 1 ? " x pipeline_model_parallel_size" : "",
                      p > 1 ? fmt::format("{} x {} x {} x {} = {}", t, u, r, p, split)
                            : fmt::format("{} x {} x {} = {}", t, u, r, split),
                      split));
    }
    job.data_parallel = job.num_gpus / split;
  }

  const int64_t a = model.num_attention_heads, k = model.num_key_value_heads;
  if (t > 1 && (a % t != 0 || k % t != 0)) {
    throw InputError(
        "tensor_model_parallel_size",
        fmt::format("num_attention_heads {} and num_key_value_heads {} must be divisible by "
                    "tensor_model_parallel_size {} (Megatron splits query and KV heads over TP "
                    "ranks; model {}); valid tensor_model_parallel_size: {}",
                    a, k, t, model.name, join_numbers(divisors(std::gcd(a, k)))));
  }
  if (t > 1 && !model.is_moe() && model.ffn_hidden_size % t != 0) {  // MoE: the experts' width (check_moe)
    // Megatron ColumnParallelLinear / RowParallelLinear divide the FFN width by t (divide()).
    const auto valid = divisors(std::gcd(std::gcd(a, k), model.ffn_hidden_size));
    throw InputError(
        "tensor_model_parallel_size",
        fmt::format("ffn_hidden_size {} must be divisible by tensor_model_parallel_size {} "
                    "(Megatron splits the MLP columns over TP ranks; model {}); valid "
                    "tensor_model_parallel_size: {}",
                    model.ffn_hidden_size, t, model.name, join_numbers(valid)));
  }
  const int64_t kt = k / t;
  if (u > 1) {
    const auto valid = valid_ulysses(a / t, kt, job.ulysses_kv_replication);
    if (a % (t * u) != 0) {
      throw InputError(
          "ulysses_degree",
          fmt::format("num_attention_heads {} must be divisible by tensor_model_parallel_size x "
                      "ulysses_degree = {} x {} = {} (model {}); valid ulysses_degree: {}",
                      a, t, u, t * u, model.name, join_numbers(valid)));
    }
    if (kt % u != 0) {
      if (u % kt == 0 && !job.ulysses_kv_replication) {
        throw InputError(
            "ulysses_degree",
            job.framework == "deepspeed" || job.framework.empty()
                ? fmt::format("num_key_value_heads per TP rank {} not divisible by ulysses_degree {} and "
                              "ulysses_kv_replication is off (yunchang and DeepSpeed layer.py need it); "
                              "drop --no-kv-replication (DeepSpeed ALST replicates KV heads) or use "
                              "ulysses_degree {}",
                              kt, u, join_numbers(valid))
                : fmt::format("num_key_value_heads per TP rank {} not divisible by ulysses_degree {}: {} "
                              "does not replicate KV heads (TE's a2a context parallelism needs them "
                              "divisible); use --framework deepspeed (ALST replicates them) or "
                              "ulysses_degree {}",
                              kt, u, job.framework, join_numbers(valid)));
      }
      if (u % kt != 0) {
        throw InputError(
            "ulysses_degree",
            fmt::format("ulysses_degree {} is neither a divisor nor a multiple of "
                        "num_key_value_heads per TP rank {} (model {}); valid ulysses_degree: {}",
                        u, kt, model.name, join_numbers(valid)));
      }
    }
  }

  const bool megatron_sp = t > 1 && job.sequence_parallel;
  const int64_t token_split = sequence_split(job);
  if (job.seq_length % token_split != 0) {
    throw InputError(
        "seq_length",
        fmt::format("must be divisible by ulysses_degree x ring_degree{} = {} (got {}); pad the "
                    "sequence to a multiple of {}",
                    megatron_sp ? " x tensor_model_parallel_size" : "", token_split, job.seq_length,
                    token_split));
  }
  if (zigzag_split(job) && job.seq_length % (2 * r * u) != 0) {
    throw InputError(
        "seq_length",
        fmt::format("ring_variant zigzag needs seq_length divisible by 2 x ring_degree x "
                    "ulysses_degree = {} (got {}); pad the sequence or set ring_variant basic",
                    2 * r * u, job.seq_length));
  }

  check_sliding_window(model, job);
  check_partial_recompute(model, job);
  check_moe(model, job);
  if (job.recompute == Recompute::kOp && (model.qkv_bias || model.linear_bias || !model.gated_mlp ||
                                          model.hidden_dropout > 0 || model.attention_dropout > 0)) {
    // The policy counts aten.mm calls: a Linear with a bias runs aten.addmm (neither counted nor
    // saved), a GeLU MLP has two matrices, dropout re-runs: it describes torchtitan's Llama block.
    throw InputError("recompute", fmt::format("--recompute op describes torchtitan's Llama block (seven bias-free "
                                              "mm calls, SwiGLU, no dropout) and model {} differs; use --recompute "
                                              "full or none",
                                              model.name));
  }

  const int64_t per_step = job.micro_batch_size * job.data_parallel;
  if (job.global_batch_size == 0) {
    job.global_batch_size = per_step;
  } else if (job.global_batch_size % per_step != 0) {
    throw InputError(
        "global_batch_size",
        fmt::format("must be divisible by micro_batch_size x data_parallel_size = {} x {} = {} "
                    "(got {}); use a multiple of {}",
                    job.micro_batch_size, job.data_parallel, per_step, job.global_batch_size,
                    per_step));
  }
  const int64_t micro_batches = job.global_batch_size / per_step;
  // Both engines time every micro-batch of the step.
  if (micro_batches > kMaxMicroBatches) {
    throw InputError(
        "global_batch_size",
        fmt::format("gives {} micro-batches per step (global_batch_size / (micro_batch_size x "
                    "data_parallel_size) = {} / ({} x {})), past the limit: at most {} (README "
                    "\"Limits and errors\"); use a smaller global_batch_size (--gbs) or a larger "
                    "micro_batch_size (--mbs)",
                    micro_batches, job.global_batch_size, job.micro_batch_size, job.data_parallel,
                    kMaxMicroBatches));
  }
  if (!product_within({job.global_batch_size, job.seq_length}, kMaxTokensPerStep)) {
    throw InputError(
        "global_batch_size",
        fmt::format("global_batch_size x seq_length = {} x {} tokens per step is past the limit of "
                    "{} (README \"Limits and errors\"); use a smaller batch or sequence",
                    job.global_batch_size, job.seq_length, kMaxTokensPerStep));
  }
  // The pipeline schedule is simulated op by op (two ops per micro-batch, chunk and stage): keep
  // it to a few seconds and a few hundred MB; the bubble fraction is < 1e-5 long before that.
  if (p > 1 && micro_batches > kMaxPipelineOps / (p * v)) {
    throw InputError(
        "global_batch_size",
        fmt::format("with pipeline parallelism the micro-batches x stages x chunks must be at most "
                    "{} (got {} x {} x {}); use a smaller global_batch_size (--gbs)",
                    kMaxPipelineOps, micro_batches, p, v));
  }
  if (v > 1 && micro_batches % p != 0) {
    // Megatron asserts this for the interleaved schedule (schedules.py).
    throw InputError(
        "global_batch_size",
        fmt::format("the interleaved pipeline schedule needs the micro-batches per step "
                    "(global_batch_size / (micro_batch_size x data_parallel_size) = {}) to be a "
                    "multiple of pipeline_model_parallel_size {}; use global_batch_size (--gbs) {}",
                    micro_batches, p, p * per_step * ((micro_batches + p - 1) / p)));
  }
}

}  // namespace spsim::detail
