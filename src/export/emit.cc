// --emit: a resolved plan as the launch settings of Megatron-LM, Megatron-Bridge (NeMo),
// DeepSpeed or torchtitan. Each writer refuses, with the framework's own reason, what that
// framework cannot run or cannot say in its launch settings; docs/launch.md lists every mapping
// and every refusal with its source.
#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "export/launch_internal.h"
#include "spsim/error.h"
#include "spsim/framework.h"
#include "spsim/launch.h"
#include "spsim/strategy.h"

namespace spsim {

namespace {

using detail::Plan;

[[noreturn]] void refuse(LaunchFormat format, const std::string& message) {
  throw InputError("--emit " + std::string(to_string(format)), message);
}

// A value in a POSIX shell word: quoted when it holds anything but [A-Za-z0-9_.,+=:/-].
std::string shell_word(const std::string& word) {
  const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("_.,+=:/-").find(c) != std::string_view::npos;
  });
  return plain ? word : "'" + word + "'";
}

std::string comment_block(const std::vector<std::string>& comments) {
  std::string out;
  for (const auto& line : comments) out += "# " + line + "\n";
  return out;
}

// What every format needs: the plan was evaluated for the framework the format launches, and the
// settings can say everything the prediction assumed.
void check_common(LaunchFormat format, const Plan& plan) {
  const JobConfig& job = plan.job;
  const FrameworkProfile& framework = find_framework(launch_framework(format));
  if (job.framework != framework.name) {
    refuse(format, fmt::format("the plan was predicted for framework {}, and {} launches {}; run it with "
                               "--framework {} (or drop --framework: --emit sets it)",
                               job.framework, to_string(format), framework.name, framework.name));
  }
  try {
    check_framework_rules(framework, job);
  } catch (const InputError& e) {
    refuse(format, e.full());  // the framework's own rule, said as an --emit refusal
  }
  // A window is written where the launch carries one: Megatron-LM's --window-size and
  // --window-attn-skip-freq; the Hugging Face model's own config.json under DeepSpeed (its
  // flash_attention_2 path applies sliding_window). torchtitan's Llama and the Bridge recipes
  // spsim maps have none: a launch without it would train the full attention spsim did not cost.
  if (sliding_window_attention_scale(plan.model, job.seq_length) < 1.0 && format != LaunchFormat::kMegatron &&
      format != LaunchFormat::kDeepSpeed) {
    refuse(format, fmt::format("model {} has sliding-window attention, which the {} settings spsim writes do not "
                               "carry; use --emit megatron (--window-size) or set the window in the launch by hand",
                               plan.model.name, to_string(format)));
  }
  if (plan.model.is_moe() && format != LaunchFormat::kMegatron) {
    // The Bridge recipes spsim maps are dense Llama/GPT recipes: a MoE model needs its own recipe.
    refuse(format, fmt::format("model {} has mixture-of-experts layers, which spsim writes as Megatron-LM "
                               "arguments only; use --emit megatron",
                               plan.model.name));
  }
  if (!job.backward_prefetch.empty() && job.zero_stage == 3 &&
      job.backward_prefetch != (framework.zero3_backward_prefetch ? "pre" : "post")) {
    refuse(format, fmt::format("--backward-prefetch {}: {} gathers the next layer's parameters {} and its launch "
                               "settings have no switch for it; drop --backward-prefetch",
                               job.backward_prefetch, framework.title,
                               framework.zero3_backward_prefetch ? "ahead (pre)" : "on demand (post)"));
  }
  if (job.loss != "standard" || job.tiled_mlp != 0) {
    // Liger's fused loss, torchtitan's ChunkedLossWrapper, ArcticTraining's tiled loss and tiled
    // MLP are chosen in the training script or its own config, not in these launch settings.
    refuse(format, "--loss fused/chunked and --tiled-mlp are set in the training code (Liger-Kernel's "
                   "LigerFusedLinearCrossEntropyLoss, torchtitan's ChunkedLossWrapper, ArcticTraining's "
                   "tiled_mlp_compute), which --emit does not write; drop them to emit the launch settings");
  }
  if ((!job.grad_reduce_dtype.empty() || !job.cross_entropy.empty()) &&
      (format == LaunchFormat::kDeepSpeed || format == LaunchFormat::kTorchtitan)) {
    refuse(format, fmt::format("grad_reduce_dtype / cross_entropy are Megatron settings ({} decides them in its "
                               "training code); drop them", framework.title));
  }
  if (job.cross_entropy == "flash") {
    refuse(format, "cross_entropy flash is flash-attn's CrossEntropyLoss (LLM Foundry's loss_fn "
                   "fused_crossentropy), chosen in the model code, which none of the emitted frameworks "
                   "selects; drop it or use fused, native or unfused");
  }
  if (job.attention_impl == "triton") {
    refuse(format, "--attention-impl triton is FlashAttention's Triton kernel (LLM Foundry's attn_impl: triton), "
                   "which none of the emitted frameworks selects; use --attention-impl flash2 or cudnn");
  }
  if (job.ulysses_overlap) {
    refuse(format, "--ulysses-overlap is DeepSpeed DistributedAttention's sp_stream argument in the model "
                   "code, not a launch setting; drop --ulysses-overlap");
  }
  if (!job.causal) {
    refuse(format, fmt::format("{} trains causal language models (a causal mask); drop --no-causal",
                               framework.title));
  }
}

// torchrun starts the same number of processes on every node.
void check_whole_nodes(LaunchFormat format, const Plan& plan) {
  if (plan.nodes * plan.gpus_per_node_used != plan.job.num_gpus) {
    refuse(format, fmt::format("torchrun starts as many processes on every node, and {} GPUs do not fill "
                               "whole nodes of {} ({}); use a multiple of {} GPUs",
                               plan.job.num_gpus, plan.gpus_per_node, plan.topology_name, plan.gpus_per_node));
  }
}

// Megatron-Core's context parallelism (both front ends): the sequence is cut into 2 x cp chunks
// spread zigzag over the ranks (megatron/core/utils.py get_batch_on_this_cp_rank), ring K/V by
// P2P or all-gather, Ulysses by all-to-all, USP as a2a+p2p.
void check_megatron_cp(LaunchFormat format, const Plan& plan) {
  const JobConfig& job = plan.job;
  const int64_t cp = job.ulysses_degree * job.ring_degree;
  if (job.ring_degree > 1 && job.ring_variant != "zigzag") {
    refuse(format, fmt::format("Megatron-Core splits the sequence into 2 x context-parallel-size chunks in "
                               "zigzag order (megatron/core/utils.py get_batch_on_this_cp_rank); the {} ring "
                               "variant cannot be launched; use --ring-variant zigzag",
                               job.ring_variant));
  }
  if (cp > 1 && job.seq_length % (2 * cp) != 0) {
    refuse(format, fmt::format("Megatron-LM needs --seq-length to be a multiple of 2 x context-parallel-size "
                               "= {} (arguments.py); got {}; choose such a --seq",
                               2 * cp, job.seq_length));
  }
  if (job.ulysses_degree > 1 && job.ring_degree > 1 && job.ring_comm != "p2p") {
    refuse(format, "a2a+p2p context parallelism passes ring K/V by P2P; use --cp-comm-type p2p");
  }
  if (job.attention_kernel == AttentionKernel::kStandard && cp > 1) {
    refuse(format, "TransformerEngine's context parallelism runs fused attention kernels only; use "
                   "--attention-kernel flash");
  }
  if (plan.model.qkv_bias != plan.model.linear_bias && !plan.model.qkv_bias) {
    refuse(format, fmt::format("model {} has biases on the output and MLP projections but not on QKV, which "
                               "Megatron-LM cannot express (--add-bias-linear covers QKV too)",
                               plan.model.name));
  }
}

const char* cp_comm_type(const JobConfig& job) {
  if (job.ulysses_degree > 1 && job.ring_degree > 1) return "a2a+p2p";
  if (job.ulysses_degree > 1) return "a2a";
  return job.ring_comm == "allgather" ? "allgather" : "p2p";
}

// Megatron's --max-position-embeddings must be >= --seq-length (arguments.py); with learned
// positions that is the size of the position table, so a longer sequence is another model.
int64_t megatron_positions(LaunchFormat format, const Plan& plan) {
  const ModelSpec& m = plan.model;
  if (m.learned_position_embeddings && plan.job.seq_length > m.max_position_embeddings) {
    refuse(format, fmt::format("model {} has {} learned positions; Megatron-LM asserts max_position_embeddings "
                               ">= seq_length (arguments.py), and a table of {} positions is another model "
                               "(more parameters); use --seq {} or less, or a RoPE model",
                               m.name, m.max_position_embeddings, plan.job.seq_length, m.max_position_embeddings));
  }
  return std::max(m.max_position_embeddings, plan.job.seq_length);
}

// ---------------------------------------------------------------------------------------------
// Megatron-LM

std::vector<LaunchSetting> megatron_settings(const Plan& plan) {
  constexpr LaunchFormat f = LaunchFormat::kMegatron;
  check_common(f, plan);
  check_whole_nodes(f, plan);
  check_megatron_cp(f, plan);
  const JobConfig& job = plan.job;
  const ModelSpec& m = plan.model;
  if (job.precision == Precision::kTf32) {
    refuse(f, "Megatron-LM has no TF32 switch (without --bf16/--fp16 it trains in fp32); use --precision fp32 "
              "or bf16");
  }
  std::vector<LaunchSetting> s;
  auto arg = [&s](const char* name, const std::string& value = "") { s.push_back({"megatron-lm", name, value}); };
  auto num = [&arg](const char* name, int64_t value) { arg(name, std::to_string(value)); };
  s.push_back({"torchrun", "--nnodes", std::to_string(plan.nodes)});
  s.push_back({"torchrun", "--nproc-per-node", std::to_string(plan.gpus_per_node_used)});
  // The model.
  num("--num-layers", m.num_layers);
  num("--hidden-size", m.hidden_size);
  num("--ffn-hidden-size", m.ffn_hidden_size);
  if (m.is_moe()) {
    // What spsim costs (docs/model.md): every layer MoE, expert parallelism 1 (expert TP = TP, the
    // default), the allgather dispatcher, one GEMM per expert (moe_grouped_gemm off, the default).
    num("--num-experts", m.moe.num_experts);
    num("--moe-router-topk", m.moe.experts_per_token);
    num("--moe-ffn-hidden-size", m.moe.expert_ffn_size);
    arg("--moe-token-dispatcher-type", "allgather");
    num("--expert-model-parallel-size", 1);
  }
  num("--num-attention-heads", m.num_attention_heads);
  if (m.num_key_value_heads != m.num_attention_heads) {
    arg("--group-query-attention");
    num("--num-query-groups", m.num_key_value_heads);
  }
  num("--kv-channels", m.head_dim);
  if (m.gated_mlp) arg("--swiglu");
  arg("--normalization", m.norm == NormKind::kRMSNorm ? "RMSNorm" : "LayerNorm");
  if (!m.linear_bias) arg("--disable-bias-linear");
  if (!m.linear_bias && m.qkv_bias) arg("--add-qkv-bias");
  if (m.qk_norm) arg("--qk-layernorm");  // Qwen3: per-head norms on Q and K
  if (!m.tied_embeddings) arg("--untie-embeddings-and-output-weights");
  arg("--position-embedding-type", m.learned_position_embeddings ? "learned_absolute" : "rope");
  num("--max-position-embeddings", megatron_positions(f, plan));
  num("--vocab-size", m.vocab_size);
  num("--make-vocab-size-divisible-by", m.make_vocab_size_divisible_by);
  arg("--hidden-dropout", fmt::format("{}", m.hidden_dropout));
  arg("--attention-dropout", fmt::format("{}", m.attention_dropout));
  if (m.sliding_window > 0) {
    if (m.sandwich_norms || m.attn_logit_softcapping > 0 || m.final_logit_softcapping > 0) {
      refuse(f, fmt::format("model {} has Gemma's extra norms and logit soft-capping, which the Megatron-LM "
                            "arguments spsim writes do not carry; write the launch by hand",
                            m.name));
    }
    // TransformerConfig.window_size (left, right): W keys back, none ahead (causal).
    arg("--window-size", fmt::format("{},0", m.sliding_window));
    if (m.sliding_window_layers < m.num_layers) {
      // Megatron-Core windows layer l (1-based) unless l % N == 0 (transformer/utils.py
      // is_layer_window_attention): floor(L / N) full-attention layers, Gemma's own rule. Other
      // counts: the list form, 1 = sliding window, the full layers spread evenly (the cost
      // depends on the count only).
      const int64_t layers = m.num_layers, full = layers - m.sliding_window_layers;
      const int64_t every = full > 0 ? layers / full : 0;
      if (every > 0 && layers / every == full) {
        num("--window-attn-skip-freq", every);
      } else {
        std::string pattern;
        for (int64_t i = 0; i < layers; ++i) {
          const bool global = (i + 1) * full / layers > i * full / layers;
          pattern += fmt::format("{}{}", i == 0 ? "[" : ",", global ? 0 : 1);
        }
        arg("--window-attn-skip-freq", pattern + "]");
      }
    }
  }
  // Parallelism.
  num("--tensor-model-parallel-size", job.tensor_parallel);
  if (job.tensor_parallel > 1 && job.sequence_parallel) arg("--sequence-parallel");
  num("--pipeline-model-parallel-size", job.pipeline_parallel);
  const bool uneven = job.first_stage_layers > 0 || job.last_stage_layers > 0 || job.embedding_in_pipeline_split ||
                      job.loss_in_pipeline_split;
  if (job.virtual_pipeline_stages > 1) {
    // Layers per chunk only say the even split; an uneven one counts chunks (arguments.py).
    if (uneven) {
      num("--num-virtual-stages-per-pipeline-rank", job.virtual_pipeline_stages);
    } else {
      num("--num-layers-per-virtual-pipeline-stage",
          m.num_layers / (job.pipeline_parallel * job.virtual_pipeline_stages));
    }
  }
  // The uneven layouts spsim places as Megatron-Core does (src/pipeline/layout.cc).
  if (job.first_stage_layers > 0) num("--decoder-first-pipeline-num-layers", job.first_stage_layers);
  if (job.last_stage_layers > 0) num("--decoder-last-pipeline-num-layers", job.last_stage_layers);
  if (job.embedding_in_pipeline_split) arg("--account-for-embedding-in-pipeline-split");
  if (job.loss_in_pipeline_split) arg("--account-for-loss-in-pipeline-split");
  const int64_t cp = job.ulysses_degree * job.ring_degree;
  num("--context-parallel-size", cp);
  if (cp > 1) {
    arg("--cp-comm-type", cp_comm_type(job));
    if (job.ulysses_degree > 1 && job.ring_degree > 1) {
      arg("--hierarchical-context-parallel-sizes", fmt::format("{} {}", job.ulysses_degree, job.ring_degree));
    }
  }
  // ZeRO: the distributed optimizer shards optimizer states over DP x CP (ZeRO-1); Megatron-FSDP
  // with optim_grads_params shards everything (ZeRO-3; v1 runs on the distributed optimizer).
  if (job.zero_stage >= 1) arg("--use-distributed-optimizer");
  if (job.zero_stage == 3) {
    arg("--use-megatron-fsdp");
    arg("--data-parallel-sharding-strategy", "optim_grads_params");
  }
  // Batch and sequence.
  num("--micro-batch-size", job.micro_batch_size);
  num("--global-batch-size", plan.global_batch);
  num("--seq-length", job.seq_length);
  // Recompute: selective = core attention (Korthikanti et al.), full = every layer (uniform, 1)
  // or the first N of every model chunk (block, N).
  if (job.recompute == Recompute::kSelective) arg("--recompute-granularity", "selective");
  if (job.recompute == Recompute::kFull) {
    arg("--recompute-granularity", "full");
    arg("--recompute-method", job.recompute_layers > 0 ? "block" : "uniform");
    num("--recompute-num-layers", job.recompute_layers > 0 ? job.recompute_layers : 1);
  }
  // Precision: fp8 is TransformerEngine's hybrid E4M3/E5M2 over bf16; tensorwise = current scaling.
  if (job.precision == Precision::kBf16 || job.precision == Precision::kFp8) arg("--bf16");
  if (job.precision == Precision::kFp16) arg("--fp16");
  if (job.precision == Precision::kFp8) {
    arg("--fp8-format", "hybrid");
    arg("--fp8-recipe", job.fp8_recipe == "current" ? "tensorwise" : "delayed");
  }
  // Attention kernels: TE's fused (cuDNN) or flash backend, or Megatron's unfused attention.
  arg("--attention-backend", job.attention_kernel == AttentionKernel::kStandard ? "unfused"
                             : job.attention_impl == "flash2"                   ? "flash"
                                                                                : "fused");
  // The job-level gradient dtype and cross entropy (Megatron's defaults: fp32 grads, unfused).
  if (job.grad_reduce_dtype == "bf16") arg("--grad-reduce-in-bf16");
  // --cross-entropy-loss-fusion alone runs Megatron-Core's native fused loss; TE's needs the impl.
  if (job.cross_entropy == "fused" || job.cross_entropy == "native") arg("--cross-entropy-loss-fusion");
  if (job.cross_entropy == "fused") arg("--cross-entropy-fusion-impl", "te");
  return s;
}

std::string command_line(const std::string& launcher_and_script, const std::vector<LaunchSetting>& settings,
                         bool overrides) {
  std::string out = launcher_and_script;
  for (const auto& setting : settings) {
    if (setting.list == "torchrun") continue;
    out += " \\\n    ";
    if (overrides && setting.name.rfind("-", 0) != 0) {
      out += shell_word(setting.name + "=" + setting.value);
    } else {
      out += setting.name;
      if (setting.value.empty()) continue;
      // nargs='+' values are separate words.
      size_t start = 0;
      while (start < setting.value.size()) {
        const size_t space = setting.value.find(' ', start);
        const std::string word = setting.value.substr(start, space == std::string::npos ? std::string::npos : space - start);
        out += " " + shell_word(word);
        if (space == std::string::npos) break;
        start = space + 1;
      }
    }
  }
  return out + "\n";
}

std::string torchrun_prefix(const std::vector<LaunchSetting>& settings) {
  std::string out = "torchrun";
  for (const auto& setting : settings) {
    if (setting.list == "torchrun") out += " " + setting.name + " " + setting.value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Megatron-Bridge (NeMo 2's LLM recipes moved there): run_recipe.py --recipe + KEY=VALUE overrides.

std::vector<LaunchSetting> nemo_settings(const Plan& plan) {
  constexpr LaunchFormat f = LaunchFormat::kNemo;
  check_common(f, plan);
  check_whole_nodes(f, plan);
  check_megatron_cp(f, plan);
  const JobConfig& job = plan.job;
  const std::optional<ModelSpec> shipped = find_shipped_model(plan.model);
  const detail::Recipe* recipe = nullptr;
  for (const auto& r : detail::bridge_recipes()) {
    if (shipped && shipped->name == r.model) recipe = &r;
  }
  if (recipe == nullptr) {
    std::string known;
    for (const auto& r : detail::bridge_recipes()) known += (known.empty() ? "" : ", ") + std::string(r.model);
    refuse(f, fmt::format("no Megatron-Bridge recipe builds model {} (recipes spsim maps: {}); use --emit "
                          "megatron, which writes the model's dimensions",
                          plan.model.name, known));
  }
  if (plan.model.learned_position_embeddings || job.seq_length > plan.model.max_position_embeddings) {
    megatron_positions(f, plan);  // refuses learned positions past the table
  }
  if (job.precision == Precision::kFp32 || job.precision == Precision::kTf32) {
    refuse(f, "the Megatron-Bridge recipes train in mixed precision (mixed_precision bf16_mixed, fp16_mixed or "
              "an fp8 recipe); use --precision bf16, fp16 or fp8");
  }
  if (job.attention_impl == "flash2" || job.attention_kernel == AttentionKernel::kStandard) {
    refuse(f, "run_recipe.py overrides set model.attention_backend as a plain string, not an AttnBackend "
              "(training/utils/omegaconf_utils.py _apply_overrides), so spsim keeps the recipe's fused "
              "(cuDNN) attention; drop --attention-impl/--attention-kernel or use --emit megatron");
  }
  std::vector<LaunchSetting> s;
  auto set = [&s](const char* key, const std::string& value) { s.push_back({"megatron-bridge", key, value}); };
  auto num = [&set](const char* key, int64_t value) { set(key, std::to_string(value)); };
  auto flag = [&set](const char* key, bool value) { set(key, value ? "true" : "false"); };
  s.push_back({"torchrun", "--nnodes", std::to_string(plan.nodes)});
  s.push_back({"torchrun", "--nproc-per-node", std::to_string(plan.gpus_per_node_used)});
  set("--recipe", recipe->recipe);
  num("model.tensor_model_parallel_size", job.tensor_parallel);
  flag("model.sequence_parallel", job.tensor_parallel > 1 && job.sequence_parallel);
  num("model.pipeline_model_parallel_size", job.pipeline_parallel);
  set("model.virtual_pipeline_model_parallel_size",
      job.virtual_pipeline_stages > 1 ? std::to_string(job.virtual_pipeline_stages) : "null");
  if (job.first_stage_layers > 0) num("model.num_layers_in_first_pipeline_stage", job.first_stage_layers);
  if (job.last_stage_layers > 0) num("model.num_layers_in_last_pipeline_stage", job.last_stage_layers);
  if (job.embedding_in_pipeline_split) flag("model.account_for_embedding_in_pipeline_split", true);
  if (job.loss_in_pipeline_split) flag("model.account_for_loss_in_pipeline_split", true);
  const int64_t cp = job.ulysses_degree * job.ring_degree;
  num("model.context_parallel_size", cp);
  set("model.cp_comm_type", cp > 1 ? cp_comm_type(job) : "p2p");
  set("model.hierarchical_context_parallel_sizes",
      job.ulysses_degree > 1 && job.ring_degree > 1 ? fmt::format("[{},{}]", job.ulysses_degree, job.ring_degree)
                                                    : "null");
  const char* granularity = job.recompute == Recompute::kFull        ? "full"
                            : job.recompute == Recompute::kSelective ? "selective"
                                                                     : "null";
  set("model.recompute_granularity", granularity);
  set("model.recompute_method", job.recompute != Recompute::kFull ? "null"
                                : job.recompute_layers > 0      ? "block"
                                                                : "uniform");
  set("model.recompute_num_layers",
      job.recompute != Recompute::kFull ? "null" : std::to_string(std::max<int64_t>(job.recompute_layers, 1)));
  num("train.micro_batch_size", job.micro_batch_size);
  num("train.global_batch_size", plan.global_batch);
  num("dataset.seq_length", job.seq_length);
  num("model.seq_length", job.seq_length);
  flag("ddp.use_distributed_optimizer", job.zero_stage >= 1);
  flag("optimizer.use_distributed_optimizer", job.zero_stage >= 1);
  flag("ddp.use_megatron_fsdp", job.zero_stage == 3);
  if (job.zero_stage == 3) set("ddp.data_parallel_sharding_strategy", "optim_grads_params");
  // What the NeMo profile assumes (src/framework/profiles.cc): bf16 gradient reduction and TE's
  // fused cross entropy, as the performance recipes set them, unless the job sets them.
  flag("ddp.grad_reduce_in_fp32", job.grad_reduce_dtype == "fp32");
  flag("model.cross_entropy_loss_fusion", job.cross_entropy != "unfused");
  if (job.cross_entropy != "unfused") {
    set("model.cross_entropy_fusion_impl", job.cross_entropy == "native" ? "native" : "te");
  }
  std::string precision = job.precision == Precision::kFp16 ? "fp16_mixed" : "bf16_mixed";
  if (job.precision == Precision::kFp8) {
    precision = job.fp8_recipe == "current" ? "bf16_with_fp8_current_scaling_mixed"
                                            : "bf16_with_fp8_delayed_scaling_mixed";
  }
  set("mixed_precision", precision);
  return s;
}

std::string nemo_text(const std::vector<LaunchSetting>& settings) {
  std::string head = torchrun_prefix(settings) + " scripts/training/run_recipe.py";
  std::vector<LaunchSetting> rest;
  for (const auto& s : settings) {
    if (s.name == "--recipe") {
      head += " --recipe " + s.value;
    } else {
      rest.push_back(s);
    }
  }
  return command_line(head, rest, true);
}

// ---------------------------------------------------------------------------------------------
// DeepSpeed: the config JSON (ZeRO stage, batch, precision, Ulysses mesh).

std::vector<LaunchSetting> deepspeed_settings(const Plan& plan, std::vector<std::string>& notes) {
  constexpr LaunchFormat f = LaunchFormat::kDeepSpeed;
  check_common(f, plan);
  const JobConfig& job = plan.job;
  if (plan.model.sliding_window > 0) {
    notes.push_back(fmt::format("the model's config.json sets sliding_window {}; keep it: flash_attention_2 "
                                "applies it",
                                plan.model.sliding_window));
  }
  const StrategyTraits& traits = strategy_traits(job.strategy);
  if (job.ring_degree > 1 || (traits.uses_ring && !traits.cli_picks_degrees)) {
    refuse(f, fmt::format("DeepSpeed's config has no ring attention: a ring degree ({}) is set in the model code "
                          "(yunchang / ring-flash-attention), not in ds_config.json; use --emit megatron, or "
                          "-s ulysses",
                          job.strategy));
  }
  if (job.tensor_parallel > 1) {
    refuse(f, "deepspeed.initialize builds its Ulysses mesh as data_parallel x sequence_parallel "
              "(deepspeed/__init__.py); tensor parallelism (tensor_parallel.autotp_size) is not part of it; "
              "use -t 1");
  }
  if (job.pipeline_parallel > 1) {
    refuse(f, "DeepSpeed's pipeline stages are set in the model code (PipelineModule(num_stages=...)), not in "
              "ds_config.json; use --pp 1 or --emit megatron");
  }
  if (job.precision == Precision::kFp8 || job.precision == Precision::kTf32) {
    refuse(f, fmt::format("DeepSpeed's config has bf16 and fp16 mixed precision only (fp32 without them); "
                          "--precision {} cannot be set there",
                          to_string(job.precision)));
  }
  if (job.recompute == Recompute::kSelective) {
    refuse(f, "DeepSpeed and Hugging Face models checkpoint whole layers only (no selective attention "
              "recompute); use --recompute full or none");
  }
  if (job.recompute_layers > 0) {
    refuse(f, fmt::format("Hugging Face's gradient_checkpointing_enable() checkpoints every layer, not the first {} "
                          "of each chunk; use --recompute full or none",
                          job.recompute_layers));
  }
  if (job.attention_kernel == AttentionKernel::kStandard || job.attention_impl != "flash2") {
    refuse(f, "spsim's DeepSpeed plans run FlashAttention-2 (attn_implementation=\"flash_attention_2\", as "
              "the ALST recipes do); drop --attention-impl/--attention-kernel");
  }
  std::vector<LaunchSetting> s;
  auto num = [&s](const char* key, int64_t value) { s.push_back({"deepspeed", key, std::to_string(value)}); };
  num("train_batch_size", plan.global_batch);
  num("train_micro_batch_size_per_gpu", job.micro_batch_size);
  num("gradient_accumulation_steps", job.micro_batches());
  if (job.ulysses_degree > 1) {
    num("data_parallel_size", job.data_parallel);
    num("sequence_parallel_size", job.ulysses_degree);
  }
  num("zero_optimization.stage", job.zero_stage);
  if (job.offload_optimizer) {
    s.push_back({"deepspeed", "zero_optimization.offload_optimizer.device", "cpu"});
    s.push_back({"deepspeed", "zero_optimization.offload_optimizer.pin_memory", "true"});
  }
  if (job.offload_params) {
    s.push_back({"deepspeed", "zero_optimization.offload_param.device", "cpu"});
    s.push_back({"deepspeed", "zero_optimization.offload_param.pin_memory", "true"});
  }
  if (job.precision == Precision::kBf16) s.push_back({"deepspeed", "bf16.enabled", "true"});
  if (job.precision == Precision::kFp16) s.push_back({"deepspeed", "fp16.enabled", "true"});
  notes.push_back("load the model with attn_implementation=\"flash_attention_2\"");
  if (job.ulysses_degree > 1) {
    notes.push_back(fmt::format("register Ulysses attention in the model code: UlyssesSPAttentionHF."
                                "register_with_transformers(..., sequence_parallel_size={})",
                                job.ulysses_degree));
  }
  if (job.recompute == Recompute::kFull) {
    notes.push_back("turn on activation checkpointing in the model code (Hugging Face: "
                    "model.gradient_checkpointing_enable()); the config has no switch for it");
  }
  if (job.offload_optimizer) notes.push_back("pass DeepSpeedCPUAdam (or optimizer type cpu_adam) as the optimizer");
  if (job.offload_activations) {
    // ALST's copies (ArcticTraining's patch of torch.utils.checkpoint) are what spsim models, not
    // DeepSpeed's cpu_checkpointing, which covers deepspeed.checkpointing and copies on a side stream.
    notes.push_back("offload the checkpoints as ALST does: ArcticTraining's activation_checkpoint_cpu_offload: true "
                    "(it patches torch.utils.checkpoint); it is not a DeepSpeed config setting");
  }
  return s;
}

std::string deepspeed_text(const std::vector<LaunchSetting>& settings) {
  nlohmann::ordered_json config = nlohmann::ordered_json::object();
  for (const auto& s : settings) {
    const size_t dot = s.name.find('.');
    const bool whole = !s.value.empty() && s.value.find_first_not_of("0123456789") == std::string::npos;
    const nlohmann::ordered_json value = s.value == "true" ? nlohmann::ordered_json(true)
                                         : whole           ? nlohmann::ordered_json(std::stoll(s.value))
                                                           : nlohmann::ordered_json(s.value);
    if (dot == std::string::npos) {
      config[s.name] = value;
    } else {
      // Dotted names nest: zero_optimization.offload_optimizer.device.
      nlohmann::ordered_json* at = &config;
      size_t start = 0;
      for (size_t next = dot; next != std::string::npos; start = next + 1, next = s.name.find('.', start)) {
        at = &(*at)[s.name.substr(start, next - start)];
      }
      (*at)[s.name.substr(start)] = value;
    }
  }
  return config.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// ---------------------------------------------------------------------------------------------
// torchtitan: a job TOML (torchtitan <= 238fa99, the last version reading TOML).

// The pipeline_parallel_layers_per_stage giving p v stages: ceil((L + 2) / n) = p v
// (torchtitan/distributed/pipeline_parallel.py); refused when no n does.
int64_t torchtitan_layers_per_stage(LaunchFormat f, const Plan& plan) {
  const int64_t effective = plan.model.num_layers + 2;
  const int64_t stages = plan.job.pipeline_parallel * plan.job.virtual_pipeline_stages;
  for (int64_t n = 1; n <= effective; ++n) {
    if ((effective + n - 1) / n == stages) return n;
  }
  refuse(f, fmt::format("torchtitan makes ceil((L + 2) / pipeline_parallel_layers_per_stage) stages, and no value "
                        "gives {} x {} = {} for {} layers; use --vpp 2 or another --pp",
                        plan.job.pipeline_parallel, plan.job.virtual_pipeline_stages, stages, plan.model.num_layers));
}

std::vector<LaunchSetting> torchtitan_settings(const Plan& plan) {
  constexpr LaunchFormat f = LaunchFormat::kTorchtitan;
  check_common(f, plan);
  const JobConfig& job = plan.job;
  const std::optional<ModelSpec> shipped = find_shipped_model(plan.model);
  const detail::Flavor* flavor = nullptr;
  for (const auto& fl : detail::torchtitan_flavors()) {
    if (shipped && shipped->name == fl.model) flavor = &fl;
  }
  if (flavor == nullptr) {
    refuse(f, fmt::format("torchtitan defines no model of the shape of {} (its llama3 flavors 8B, 70B and 405B "
                          "are spsim's llama-3-8b, llama-3-70b and llama-3.1-405b); use --emit megatron",
                          plan.model.name));
  }
  if (job.tensor_parallel > 1 && !job.sequence_parallel) {
    refuse(f, "torchtitan's tensor parallelism always shards norms along the sequence (SequenceParallel, "
              "Megatron-SP); use -s megatron-sp");
  }
  if (job.ring_degree > 1 && job.ring_variant != "zigzag") {
    refuse(f, fmt::format("torchtitan balances a causal ring with its headtail load balancer (= zigzag); "
                          "no load balancing (None) cannot be written in TOML and {} is not offered; use "
                          "--ring-variant zigzag",
                          job.ring_variant));
  }
  if (job.zero_stage == 0 && (job.ring_degree > 1 || job.tensor_parallel > 1 || job.pipeline_parallel > 1)) {
    refuse(f, "torchtitan shards parameters whenever context parallelism is on (ParallelDims.fsdp_enabled: "
              "dp_shard > 1 or cp > 1) and runs DDP only as 1-D parallelism (llama3 parallelize.py); use "
              "--zero 2 or 3");
  }
  if (job.recompute == Recompute::kSelective) {
    refuse(f, "torchtitan's selective activation checkpointing saves per op or every n-th layer, not spsim's "
              "selective recompute (attention core only); use --recompute none or full");
  }
  if (job.precision == Precision::kFp16 || job.precision == Precision::kTf32) {
    refuse(f, fmt::format("torchtitan's training.mixed_precision_param is bfloat16 or float32; --precision {} "
                          "cannot be set; use bf16, fp32 or fp8",
                          to_string(job.precision)));
  }
  if (job.precision == Precision::kFp8 && job.fp8_recipe != "current") {
    refuse(f, "torchtitan's float8 (torchao) scales tensorwise or rowwise from the current tensor; delayed "
              "scaling is not offered; use --fp8-recipe current");
  }
  if (job.attention_kernel == AttentionKernel::kStandard || job.attention_impl != "flash2") {
    refuse(f, "torchtitan's TOML has no attention-kernel setting (SDPA picks FlashAttention-2 kernels); drop "
              "--attention-impl/--attention-kernel");
  }
  const int64_t divisor = job.tensor_parallel * 2 * job.ring_degree;
  if (job.ring_degree > 1 && job.seq_length % divisor != 0) {
    refuse(f, fmt::format("torchtitan needs training.seq_len to be a multiple of tp x 2 cp = {} "
                          "(llama3 parallelize.py); choose such a --seq",
                          divisor));
  }
  std::vector<LaunchSetting> s;
  auto str = [&s](const char* key, const std::string& value) { s.push_back({"torchtitan", key, "\"" + value + "\""}); };
  auto num = [&s](const char* key, int64_t value) { s.push_back({"torchtitan", key, std::to_string(value)}); };
  str("model.name", "llama3");
  str("model.flavor", flavor->flavor);
  if (job.precision == Precision::kFp8) s.push_back({"torchtitan", "model.converters", "[\"quantize.linear.float8\"]"});
  const int64_t p = job.pipeline_parallel;
  // Without pipeline stages a rank's batch is one micro-batch and gradients accumulate over
  // global / (local x dp) of them; with stages the rank's batch is split into micro-batches.
  num("training.local_batch_size", p > 1 ? job.micro_batch_size * job.micro_batches() : job.micro_batch_size);
  num("training.global_batch_size", plan.global_batch);
  num("training.seq_len", job.seq_length);
  str("training.mixed_precision_param", job.precision == Precision::kFp32 ? "float32" : "bfloat16");
  // ZeRO-0 is DDP (replicate), ZeRO-1/2/3 FSDP over all data-parallel ranks (and cp), parameters
  // resharded after forward (3) or kept (2; 1 under pipeline parallelism, whose gradients wait
  // for the last micro-batch).
  num("parallelism.data_parallel_replicate_degree", job.zero_stage == 0 ? job.data_parallel : 1);
  num("parallelism.data_parallel_shard_degree", job.zero_stage == 0 ? 1 : job.data_parallel);
  if (job.zero_stage > 0) str("parallelism.fsdp_reshard_after_forward", job.zero_stage == 3 ? "always" : "never");
  num("parallelism.tensor_parallel_degree", job.tensor_parallel);
  num("parallelism.pipeline_parallel_degree", p);
  if (p > 1) {
    const int64_t v = job.virtual_pipeline_stages;
    str("parallelism.pipeline_parallel_schedule", v > 1 ? "Interleaved1F1B" : "1F1B");
    num("parallelism.pipeline_parallel_microbatch_size", job.micro_batch_size);
    // torchtitan places L + 2 effective layers (embedding and output one each) over its stages,
    // as spsim's fsdp profile does; 1F1B runs one stage per rank and Interleaved1F1B two, unless
    // pipeline_parallel_layers_per_stage makes it ceil((L + 2) / layers) stages in all.
    if (v > 2) num("parallelism.pipeline_parallel_layers_per_stage", torchtitan_layers_per_stage(f, plan));
  }
  num("parallelism.context_parallel_degree", job.ring_degree);
  if (job.ring_degree > 1) {
    str("parallelism.context_parallel_load_balancer", "headtail");
    str("parallelism.context_parallel_rotate_method", job.ring_comm == "allgather" ? "allgather" : "alltoall");
  }
  // full:N is torchtitan's per-layer selective AC: every k-th block checkpointed (a module-wide
  // counter, apply_ac in parallelize.py @9dec370), floor(L / k) blocks in all: the same count.
  int64_t every = 0;
  if (job.recompute_layers > 0) {
    const int64_t layers = plan.model.num_layers;
    every = job.recompute_layers >= layers ? 1 : layers / job.recompute_layers;
    if (job.pipeline_parallel > 1 || layers / every != std::min(job.recompute_layers, layers)) {
      refuse(f, fmt::format("torchtitan checkpoints every k-th block (selective_ac_option = \"k\"), floor({} / k) "
                            "blocks{}: no k gives {}; use a count floor({} / k) or --recompute full",
                            layers, job.pipeline_parallel > 1 ? " counted per pipeline rank" : "",
                            job.recompute_layers, layers));
    }
  }
  str("activation_checkpoint.mode", job.recompute == Recompute::kFull && every <= 1 ? "full"
                                     : job.recompute == Recompute::kNone          ? "none"
                                                                                  : "selective");
  if (job.recompute == Recompute::kOp) str("activation_checkpoint.selective_ac_option", "op");
  if (every > 1) str("activation_checkpoint.selective_ac_option", std::to_string(every));
  if (job.precision == Precision::kFp8) str("quantize.linear.float8.recipe_name", "tensorwise");
  // Fused elementwise kernels in torchtitan are torch.compile of the blocks.
  if (job.elementwise_impl == "fused") {
    s.push_back({"torchtitan", "compile.enable", "true"});
    s.push_back({"torchtitan", "compile.components", "[\"model\"]"});
  }
  return s;
}

std::string toml_text(const std::vector<LaunchSetting>& settings) {
  std::string out;
  std::string section;
  for (const auto& s : settings) {
    const size_t dot = s.name.rfind('.');
    const std::string table = s.name.substr(0, dot);
    if (table != section) {
      out += (out.empty() ? "" : "\n") + ("[" + table + "]\n");
      section = table;
    }
    out += s.name.substr(dot + 1) + " = " + s.value + "\n";
  }
  return out;
}

}  // namespace

namespace detail {

const std::vector<Recipe>& bridge_recipes() {
  static const std::vector<Recipe> recipes{
      {"llama-2-7b", "llama2_7b_pretrain_config"},      {"llama-3-8b", "llama3_8b_pretrain_config"},
      {"llama-3-70b", "llama3_70b_pretrain_config"},    {"llama-3.1-8b", "llama31_8b_pretrain_config"},
      {"llama-3.1-70b", "llama31_70b_pretrain_config"}, {"llama-3.1-405b", "llama31_405b_pretrain_config"},
      {"qwen2.5-7b", "qwen25_7b_pretrain_config"},      {"qwen3-4b", "qwen3_4b_pretrain_config"},
  };
  return recipes;
}

const std::vector<Flavor>& torchtitan_flavors() {
  // Llama 3.1 has Llama 3's shapes (and torchtitan one flavor for both); reading a flavor back
  // gives the first model listed.
  static const std::vector<Flavor> flavors{{"llama-3-8b", "8B"},     {"llama-3.1-8b", "8B"},
                                           {"llama-3-70b", "70B"},   {"llama-3.1-70b", "70B"},
                                           {"llama-3.1-405b", "405B"}};
  return flavors;
}

Plan make_plan(const ModelSpec& model, const Topology& topology, const JobConfig& job) {
  Plan plan{model, topology.name, job};
  plan.gpus_per_node = std::max(1, topology.gpus_per_node);
  plan.gpus_per_node_used = std::min<int64_t>(job.num_gpus, plan.gpus_per_node);
  plan.nodes = std::max<int64_t>(1, job.num_gpus / plan.gpus_per_node_used);
  plan.global_batch = job.micro_batch_size * job.data_parallel * job.micro_batches();
  return plan;
}

}  // namespace detail

LaunchSettings emit_launch(LaunchFormat format, const ModelSpec& model, const Topology& topology,
                           const JobConfig& job, const std::vector<std::string>& comments) {
  const Plan plan = detail::make_plan(model, topology, job);
  LaunchSettings out;
  out.format = format;
  switch (format) {
    case LaunchFormat::kMegatron:
      out.settings = megatron_settings(plan);
      out.text = comment_block(comments) +
                 command_line(torchrun_prefix(out.settings) + " pretrain_gpt.py", out.settings, false);
      break;
    case LaunchFormat::kNemo:
      out.settings = nemo_settings(plan);
      out.text = comment_block(comments) + nemo_text(out.settings);
      break;
    case LaunchFormat::kDeepSpeed:
      out.settings = deepspeed_settings(plan, out.notes);
      out.text = deepspeed_text(out.settings);
      break;
    case LaunchFormat::kTorchtitan:
      out.settings = torchtitan_settings(plan);
      out.text = comment_block(comments) + toml_text(out.settings);
      break;
  }
  return out;
}

}  // namespace spsim
