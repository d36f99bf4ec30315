// The framework profiles: one row per framework, every value with where it was read. Commits are
// those of the snapshots read for this table (each row's `source` names them; file:line inline).
#include <array>

#include <fmt/format.h>

#include "spsim/error.h"
#include "spsim/framework.h"
#include "spsim/long_context.h"

namespace spsim {

namespace {

constexpr uint8_t kZero0 = 1, kZero1 = 2, kZero2 = 4, kZero3 = 8;
constexpr uint8_t kNoRecompute = 1u << static_cast<int>(Recompute::kNone),
                  kSelectiveRecompute = 1u << static_cast<int>(Recompute::kSelective),
                  kFullRecompute = 1u << static_cast<int>(Recompute::kFull),
                  kOpRecompute = 1u << static_cast<int>(Recompute::kOp);
constexpr uint8_t kStandardLoss = 1u << static_cast<int>(LossKind::kStandard),
                  kFusedLoss = 1u << static_cast<int>(LossKind::kFused),
                  kChunkedLoss = 1u << static_cast<int>(LossKind::kChunked);

const std::array<FrameworkProfile, 4>& profiles() {
  static const std::array<FrameworkProfile, 4> table{{
      {
          "megatron", "Megatron-LM (Megatron-Core, TransformerEngine)",
          // TE's FusedAttention runs cuDNN SDPA; TE/apex fused norms, RoPE and bias-SwiGLU.
          AttentionImpl::kCudnn, ElementwiseImpl::kFused,
          // --cross-entropy-loss-fusion defaults off: vocab-parallel CE upcasts the logits to an
          // fp32 copy and saves its softmax (core/tensor_parallel/cross_entropy.py:25,181).
          LossImpl::kFp32Copy, LossImpl::kFp32Copy, Fp8Recipe::kDelayed,
          // TE keeps FP8 GEMM inputs quantized for the backward (module/linear.py:607-621,
          // layernorm_linear.py:469-487) and all-gathers them quantized (linear.py:408-411,
          // 1156-1159; layernorm_linear.py:295-313).
          1, true,
          // bf16 training accumulates and all-reduces gradients in fp32 unless
          // --grad-reduce-in-bf16 (training/arguments.py:1213-1217): 18 B/param, 6 + 12/d with the
          // distributed optimizer (docs/user-guide/features/dist_optimizer.md); the buffer is
          // what the DP collectives reduce.
          4, false, 0,
          // Gradients are reduced once per step, in the last micro-batch
          // (param_and_grad_buffer.py:863-885, register_grad_ready only when is_last_microbatch).
          4, false,
          // Buckets of max(4e7, 1e6 x dp) parameters (distributed_data_parallel_config.py:48-51);
          // Megatron-FSDP gathers flat units.
          false, 4e7, 1e6,
          // Megatron-FSDP's pre-backward hook all-gathers with prefetch in backward-pass order
          // (megatron_fsdp.py _pre_backward_param_unshard, PrefetchOrder.BACKWARD_PASS_ORDER), up
          // to suggested_AG_prefetch_size >= 5e8 elements ahead (:436-444); memory counts the next
          // layer (an undercount where that bucket spans more).
          true, 0, 0,
          // The distributed optimizer shards optimizer states over DP x CP (ZeRO-1); Megatron-FSDP
          // shards all (ZeRO-3); there is no ZeRO-2 of its own. Both combine with PP.
          kZero0 | kZero1 | kZero3, PipelineZero::kAny,
          // --decoder-first/last-pipeline-num-layers, --account-for-embedding/loss-in-pipeline-
          // split (core/transformer/transformer_block.py get_num_layers_to_build).
          PipelineSplit::kMegatron,
          // --cp-comm-type p2p (default), all_gather, a2a, a2a+p2p; TE's a2a asserts
          // heads % cp == 0 for Q, K and V (context_parallel.py:4242-4249): no KV replication.
          // lasp, lasp2: Linear-MoE (LASP-2's code, OpenSparseLLMs/Linear-MoE) runs them on Megatron-Core.
          {"dp", "megatron-sp", "megatron-tp", "ring", "ulysses", "usp", "lasp", "lasp2"}, false,
          // The loss is vocab-parallel CE over all logits (--cross-entropy-loss-fusion is TE's
          // unchunked kernel): no chunked or fused-linear loss, no tiled MLP.
          kStandardLoss, false, 0, false,
          // --recompute-granularity selective | full (arguments.py); no op-level policy. Full of
          // part: --recompute-method block --recompute-num-layers N, the first N layers of each
          // model chunk (core/transformer/transformer_block.py _checkpointed_forward).
          kNoRecompute | kSelectiveRecompute | kFullRecompute, PartialRecompute::kFirstOfChunk,
          CpAttention::kSingleKernel,
          // The DDP wrapper's grad buffer is allocated once with the model and zeroed before
          // each step (core/distributed/param_and_grad_buffer.py _ParamAndGradBuffer,
          // distributed_data_parallel.py zero_grad_buffer); Megatron-FSDP keeps its own.
          {GradLifetime::kResident, GradLifetime::kResident, GradLifetime::kResident, GradLifetime::kResident}, 1,
          // Its DDP buckets are views into that grad buffer: no buffer of their own.
          false,
          // Megatron-FSDP (ZeRO-3) gathers each module when it runs.
          false,
          "Megatron-LM @d98e8a6 (arguments.py, core/distributed/*, core/tensor_parallel/cross_entropy.py, "
          "docs dist_optimizer.md); TransformerEngine @d0067d0 (context_parallel.py, module/linear.py)",
      },
      {
          "nemo", "NeMo 2 / Megatron-Bridge performance recipes (Megatron-Core)",
          AttentionImpl::kCudnn, ElementwiseImpl::kFused,
          // cross_entropy_loss_fusion True with impl "te" (perf_recipes/_common.py:69-70): one
          // Triton kernel over the bf16 logits, fp32 gradient buffer (TE triton/cross_entropy.py:57;
          // in place in the logits before TE #3193, July 2026).
          LossImpl::kFused, LossImpl::kFused,
          // NeMo 24.x FP8 is delayed scaling; Megatron-Bridge 25.09+ tables run FP8-CS (current
          // scaling): rows give --fp8-recipe where they say which.
          Fp8Recipe::kDelayed, 1, true,  // TE, as megatron
          // The performance recipes reduce gradients in bf16: grad_reduce_in_fp32 = False
          // (Megatron-Bridge perf_recipes/_common.py:72-74; NeMo scripts/performance/helpers.py:234).
          2, false, 0, 4, false,
          // CommOverlapConfig: bucket_size 128 Mi parameters (training/comm_overlap.py:577).
          false, 134217728, 0,
          true, 0, 0,  // Megatron-FSDP, as megatron
          kZero0 | kZero1 | kZero3, PipelineZero::kAny,
          // Megatron-Core's layouts; the 405B recipes set account_for_embedding/loss_in_pipeline_
          // split (Megatron-Bridge recipes/llama/llama3.py, NeMo recipes/llama31_405b.py).
          PipelineSplit::kMegatron,
          {"dp", "megatron-sp", "megatron-tp", "ring", "ulysses", "usp"}, false,
          kStandardLoss, false, 0, false,  // Megatron-Core's loss, as megatron
          // Megatron-Core's, as megatron (recipes' recompute_method block, recompute_num_layers).
          kNoRecompute | kSelectiveRecompute | kFullRecompute, PartialRecompute::kFirstOfChunk,
          CpAttention::kSingleKernel,  // TE's all-gather CP, as megatron
          {GradLifetime::kResident, GradLifetime::kResident, GradLifetime::kResident, GradLifetime::kResident}, 1,  // Megatron-Core's grad buffer, as megatron
          false,  // buckets are views into it, as megatron
          false,  // Megatron-FSDP, as megatron
          "Megatron-Bridge @067f987 (perf_recipes/_common.py, training/comm_overlap.py); NeMo @8cfedd7 "
          "(scripts/performance/helpers.py); TransformerEngine @d0067d0",
      },
      {
          "deepspeed", "DeepSpeed (ZeRO, Ulysses) on Megatron-DeepSpeed or Hugging Face models",
          // flash_attention_2 in HF models (ALST recipes) and flash-attn in Megatron-DeepSpeed;
          // HF modelling code runs eager PyTorch norms and activations.
          AttentionImpl::kFlash2, ElementwiseImpl::kEager,
          // HF LlamaForCausalLM upcasts the logits to fp32 before torch's cross entropy
          // (loss/loss_utils.py ForCausalLMLoss).
          // DeepSpeed's tensor parallelism (AutoTP) leaves the model's loss as it is.
          LossImpl::kTorchCrossEntropy, LossImpl::kTorchCrossEntropy, Fp8Recipe::kDelayed,
          // HF modules under DeepSpeed save 16-bit GEMM inputs (torch autograd on nn.Linear);
          // no TP all-gathers.
          2, false,
          // grad_accum_dtype defaults to the model dtype: bf16 gradients (runtime/constants.py:495,
          // runtime/engine.py:1485-1496). The reduction casts to communication_data_type, which
          // defaults to the model's fp16/bf16 (engine.py:1405-1416, allreduce_bucket :3658-3664;
          // ZeRO-1/2/3 take it from the engine, :2430, :2512): a job that accumulates in fp32
          // still sends 16-bit gradients; fp32 under Ulysses (seq_parallel_communication_data_type).
          // (The pipeline engine's tied-weight all-reduce sends the accumulated gradient as it is,
          // pipe/engine.py _exec_reduce_tied_grads.)
          2, true, 4,
          // ZeRO-2 partitions gradients in every micro-batch (stage_1_and_2.py:1768), ZeRO-3 reduces
          // from its backward hooks (stage3.py:1570); ZeRO-1 only at the accumulation boundary.
          2,
          // ZeRO-1/2 combine buckets and all-reduce them (zero/config.py:119-124,
          // stage_1_and_2.py:1438-1466).
          true,
          // ZeRO-3 fetches each submodule's parameters with its own all-gather from the module's
          // pre-forward hook (partition_parameters.py, stage3 prefetch); reduce_bucket_size 5e8
          // elements (zero/config.py:113).
          true, 5e8, 0,
          // A submodule's parameters are fetched by its own pre-forward/pre-backward hook, with
          // at most stage3_prefetch_bucket_size = 5e7 elements prefetched ahead (zero/config.py:215),
          // less than one transformer layer of the models spsim ships: no layer-ahead prefetch.
          // Memory: every submodule's fetch prefetches up to 5e7 more elements while fewer than
          // stage3_max_live_parameters = 1e9 are gathered (partitioned_param_coordinator.py:
          // 451-454; config.py:238), and a parameter used again within stage3_max_reuse_distance
          // (1e9 elements of the trace) is not released (:636-665): about 1e9 gathered elements
          // beside a layer in use smaller than that.
          false, 5e7, 1e9,
          // "ZeRO-2 and ZeRO-3 are incompatible with pipeline parallelism" (runtime/pipe/engine.py:76).
          kZero0 | kZero1 | kZero2 | kZero3, PipelineZero::kBelowZero2,
          // Megatron-DeepSpeed builds PipelineModule(partition_method="type:transformer"): equal
          // transformer layers per stage.
          PipelineSplit::kEven,
          // Ulysses (sequence_parallel_size), yunchang USP / ring on top of it; ALST replicates KV
          // heads when sp > kv heads (runtime/sequence_parallel/ulysses_sp.py:131-150).
          {"dp", "ulysses", "usp", "ring", "colai-sp"}, true,
          // ALST on DeepSpeed: TiledFusedLogitsLoss (ulysses_sp.py:1065), Liger models
          // (ArcticTraining@b28638e model/liger_factory.py) and TiledMLP with tiled_mlp_compute
          // (config/trainer.py:145, ulysses_sp.py:943).
          kStandardLoss | kFusedLoss | kChunkedLoss, true,
          // TiledFusedLogitsLoss: x_grad = torch.zeros_like(x), the activation's dtype; each shard's
          // logits live inside its autograd.backward call only (ulysses_sp.py:1157-1175).
          0, false,
          // Megatron-DeepSpeed's --recompute-granularity selective/full; HF models' gradient
          // checkpointing is full, of every layer (what spsim's DeepSpeed plans emit): no full:N.
          kNoRecompute | kSelectiveRecompute | kFullRecompute, PartialRecompute::kNone,
          CpAttention::kSingleKernel,
          // Without pipeline stages and with 16-bit gradient accumulation (the BF16_Optimizer of
          // pipelines and fp32 accumulation keeps a flat fp32 gradient buffer: resident).
          // ZeRO-0: autograd creates each param.grad in the backward; FP16_Optimizer's step
          // (engine.py:2019, 2065) casts each group's gradients to fp32 and flattens them before
          // it frees them (fp16/fused_optimizer.py:286-313). ZeRO-1: the same gradients, reduced
          // after the backward (process_gradients, stage_1_and_2.py:1758-1765, overlap_comm off)
          // into grads_in_partition, allocated whole at the first bucket (:1669-1681); freed by
          // zero_grad(set_to_none=True) after the step (engine.py:3358-3369, :2017). ZeRO-2: each
          // backward's first reduction allocates grads_in_partition whole; its epilogue keeps a
          // view of it (all_grad_tensors, :938) and drops the buffer (:960), so the next
          // micro-batch allocates another and adds it in (:944), until the step. ZeRO-3:
          // grad_partitions_flat_buffer is allocated once (stage3.py:742).
          {GradLifetime::kMadeInBackwardCastAtStep, GradLifetime::kMadeInBackwardPartitionedAfter,
           GradLifetime::kPartitionPerBackward, GradLifetime::kResident},
          // The pipeline engine's BF16_Optimizer: a flat buffer of the accumulation dtype
          // (bf16_optimizer.py:176) beside the 16-bit param.grad, which clear_lp_grads zeroes
          // without freeing (pipe/engine.py:861-863, bf16_optimizer.py:473-489).
          2,
          // contiguous_gradients defaults on (zero/config.py:102): ZeRO-3 allocates the
          // reduce_bucket_size bucket at initialisation (stage3.py:731-735), ZeRO-1/2 at a
          // backward's first gradient hook and free it in its epilogue (setup_buckets,
          // stage_1_and_2.py:2494-2516, :829-831; a second one only with overlap_comm, off below
          // ZeRO-3). Not with BF16_Optimizer (bf16, fp32 accumulation, ZeRO-1: engine.py:1994).
          true,
          // ZeRO-3 fetches the tied weight for the embedding and again for the LM head, releasing
          // it after each (only parameters under stage3_param_persistence_threshold, 1e5
          // elements, stay gathered: zero/config.py:221).
          false,
          "DeepSpeed @edaa722 (runtime/engine.py, runtime/zero/*, runtime/pipe/engine.py, "
          "runtime/sequence_parallel/ulysses_sp.py)",
      },
      {
          "fsdp", "PyTorch FSDP2 (torchtitan)",
          // SDPA's flash backend (FlashAttention-2 kernels) in the 2024-25 torchtitan benchmarks;
          // eager PyTorch elementwise unless torch.compile.
          AttentionImpl::kFlash2, ElementwiseImpl::kEager,
          // cross_entropy(pred.float(), ...) (components/loss.py:39-61); the trainer deletes pred
          // before the backward (trainer.py:795 `del pred`).
          // Under TP torchtitan always shards the LM head's output over the vocabulary and runs its
          // loss-parallel cross entropy (components/loss.py:38-55, _LossParallelCrossEntropy).
          LossImpl::kTorchCrossEntropy, LossImpl::kTorchLossParallel, Fp8Recipe::kCurrent,
          // torchao Float8Linear: ctx.save_for_backward(input_hp, weight_hp_t)
          // (pytorch/ao@36027d8 torchao/float8/float8_linear.py:45); torchtitan's TP layouts are
          // "completely dtype-agnostic" (protocols/sharding.py:76): 16-bit all-gathers.
          2, false,
          // MixedPrecisionPolicy(param bf16, reduce fp32) (config/configs.py:94,102): fp32 gradients,
          // reduce-scattered in fp32.
          4, false, 0,
          // torchtitan reduce-scatters every micro-batch (trainer.py:856-864, no
          // set_requires_gradient_sync(False)).
          0, false,
          // One FSDP unit per transformer block: one all-gather and one reduce-scatter per layer
          // (distributed/fsdp.py:266-300).
          false, 0, 0,
          // FSDP2's implicit backward prefetch: each block's pre-backward hook unshards the next
          // block to run (torch/distributed/fsdp/_fully_shard/_fsdp_state.py _pre_backward ->
          // FSDPParamGroup.pre_backward(default_prefetch)), on the all-gather stream, while the
          // reduce-scatters run on their own stream.
          true, 0, 0,
          // fully_shard = ZeRO-3; reshard_after_forward False = ZeRO-2 (torchtitan docs/fsdp.md). Under PP,
          // PyTorch pipelining reduces gradients once per step and torchtitan keeps parameters
          // gathered by default (parallelize_llama.py:326-329 @9dec370: "do not reshard after
          // forward to avoid per-microbatch all-gathers"): ZeRO-1, or ZeRO-3 with "always".
          kZero0 | kZero1 | kZero2 | kZero3, PipelineZero::kTorchPipelining,
          // pipeline_parallel_first/last_stage_less_layers = 1 (config/configs.py:197-207),
          // _generate_llm_fqn_per_model_part (distributed/pipeline_parallel.py).
          PipelineSplit::kTorchtitan,
          // TP with sequence parallel norms, CP with all-gather (default) or all-to-all rotation.
          {"dp", "megatron-sp", "megatron-tp", "ring"}, false,
          // ChunkedLossWrapper (components/loss.py:501); no fused-linear loss or tiled MLP. Its
          // GradAccumulator is fp32 (:638-643) and `logits` holds a chunk's through
          // chunk_loss.backward() (:682-696).
          kStandardLoss | kChunkedLoss, false, 4, true,
          // activation_checkpoint.mode none | full | selective with selective_ac_option "op" or
          // "k": every k-th block whole, counted by a module-wide counter from 1 (full:N); no
          // core-attention-only policy like Megatron's
          // (torchtitan/parallelisms/parallelize_llama.py:226-286 @9dec370).
          kNoRecompute | kFullRecompute | kOpRecompute, PartialRecompute::kEveryKth,
          // PyTorch context_parallel (torch/distributed/tensor/experimental/_attention.py,
          // create_context_parallel_ctx in torchtitan/utils.py): one SDPA call per chunk.
          CpAttention::kPerStepSdpa,
          // The trainer zeroes gradients with zero_grad(set_to_none=training.disable_cuda_graphs),
          // False by default since torchtitan #3559 (August 2026, trainer.py:845): the sharded
          // gradients stay allocated across steps. (Before it, set_to_none=True freed them.)
          {GradLifetime::kResident, GradLifetime::kResident, GradLifetime::kResident, GradLifetime::kResident}, 1,
          // FSDP2 reduce-scatters each unit's unsharded gradients from a buffer of the unit's size.
          false,
          // Tied weights: tok_embeddings, norm and lm_head are one unit, resharded after the
          // forward only under reshard_after_forward "always" (distributed/fsdp.py:238-249).
          true,
          "torchtitan @b5bcd76 (config/configs.py, distributed/fsdp.py, components/loss.py, trainer.py); "
          "PyTorch fully_shard docstring; pytorch/ao @36027d8 (float8/float8_linear.py)",
      },
  }};
  return table;
}

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// What layer_ops.cc's op-level policy describes: one TransformerBlock whose mm calls are its
// seven projections in bf16/fp16/fp32, and one SDPA flash call.
void check_op_level_checkpointing(const FrameworkProfile& fw, const JobConfig& job) {
  auto refuse = [&](const std::string& why) {
    throw InputError("recompute", fmt::format("{}: --recompute op with {} is not modelled; use --recompute full "
                                              "or none",
                                              fw.title, why));
  };
  // torchao's Float8Linear calls aten._scaled_mm, which the policy's count and save list do not
  // name, and its save list keeps aten.abs outputs: what stays then depends on torchao's casts.
  if (job.precision == Precision::kFp8) refuse("--precision fp8 (torchao's _scaled_mm is not in its save list)");
  // Under TP the policy also keeps reduce-scatter outputs and re-runs the all-gathers, and under
  // context parallelism each ring step's SDPA output is kept: neither is placed here.
  if (job.tensor_parallel > 1) refuse("--tp > 1 (it keeps reduce-scatter outputs and re-runs all-gathers)");
  if (job.ring_degree > 1 || job.ulysses_degree > 1) refuse("context parallelism (it keeps every ring step's SDPA output)");
  if (job.attention_kernel != AttentionKernel::kFlash) refuse("the standard attention kernel (its save list names SDPA's flash and efficient kernels)");
}

}  // namespace

LossBytes loss_bytes_per_logit(LossImpl impl) {
  // time per logit element (s) x 0.77 x 3.35e12 B/s; see framework.h.
  constexpr double kPerElement = 0.77 * 3.35e12 / (8192.0 * 131072.0);
  switch (impl) {
    case LossImpl::kFused:
    case LossImpl::kFlashAttn: return {2.968e-3 * kPerElement, 7.959e-3 * kPerElement};
    case LossImpl::kMegatronNative: return {11.81e-3 * kPerElement, 18.232e-3 * kPerElement};
    // torch's cross entropy is timed as Megatron's unfused one: Liger's torch timings are of
    // fp32 inputs, without the upcast (an assumption: both upcast, normalise and write an fp32
    // gradient).
    case LossImpl::kFp32Copy:
    case LossImpl::kTorchCrossEntropy:
    case LossImpl::kTorchLossParallel: break;
  }
  return {15.812e-3 * kPerElement, 21.247e-3 * kPerElement};
}

LossMemory loss_memory_per_logit(LossImpl impl, double e) {
  switch (impl) {
    case LossImpl::kFp32Copy:
    case LossImpl::kMegatronNative: return {4.0, e < 4 ? e : 0.0};
    case LossImpl::kFused: return {4.0, e};
    case LossImpl::kFlashAttn: return {e, e};
    case LossImpl::kTorchCrossEntropy: return {4.0, 8.0};
    case LossImpl::kTorchLossParallel: return {4.0, 12.0};
  }
  return {4.0, 0.0};
}

const FrameworkProfile& find_framework(std::string_view name, const std::string& where) {
  for (const auto& profile : profiles()) {
    if (name == profile.name) return profile;
  }
  const auto names = list_frameworks();
  const std::string guess = closest_match(std::string(name), names);
  throw InputError(where, guess.empty()
                              ? fmt::format("unknown framework \"{}\"; use one of {}", name, join_names(names))
                              : fmt::format("unknown framework \"{}\"; did you mean \"{}\"? (known: {})", name,
                                            guess, join_names(names)));
}

namespace {
constexpr Recompute kRecomputes[] = {Recompute::kNone, Recompute::kSelective, Recompute::kFull, Recompute::kOp};
bool offers(uint8_t modes, Recompute r) { return ((modes >> static_cast<int>(r)) & 1u) != 0; }
}  // namespace

std::vector<Recompute> offered_recomputes(const std::string& framework) {
  uint8_t modes = 0xFF & ~(1u << static_cast<int>(Recompute::kOp));
  if (!framework.empty()) {
    try {
      modes = find_framework(framework).recompute_modes;
    } catch (const InputError&) {
      modes = 0xFF;
    }
  }
  std::vector<Recompute> out;
  for (Recompute r : kRecomputes) {
    if (offers(modes, r)) out.push_back(r);
  }
  return out;
}

void check_attention_impl(std::string_view impl, const std::string& where) {
  if (impl.empty() || impl == "cudnn" || impl == "flash2" || impl == "triton") return;
  throw InputError(where, fmt::format("must be cudnn, flash2 or triton (got \"{}\")", impl));
}

std::vector<std::string> list_frameworks() {
  std::vector<std::string> names;
  for (const auto& profile : profiles()) names.emplace_back(profile.name);
  return names;
}

void check_framework_rules(const FrameworkProfile& fw, const JobConfig& job) {
  bool runs = false;
  std::vector<std::string> strategies;
  for (const char* s : fw.strategies) {
    runs = runs || job.strategy == s;
    strategies.emplace_back(s);
  }
  if (!runs) {
    throw InputError("framework", fmt::format("{} does not run strategy {} (it runs {}); choose another "
                                              "--framework or strategy",
                                              fw.title, job.strategy, join_names(strategies)));
  }
  // A stage outside 0..3 is the shared rules' error (check_and_resolve), not a framework's.
  if (job.zero_stage >= 0 && job.zero_stage <= 3 && (fw.zero_stages & (1u << job.zero_stage)) == 0) {
    std::vector<std::string> stages;
    for (int z = 0; z < 4; ++z) {
      if (fw.zero_stages & (1u << z)) stages.push_back(std::to_string(z));
    }
    throw InputError("zero_stage", fmt::format("{} has no ZeRO-{} (its stages: {}); use --zero {} or another "
                                               "--framework",
                                               fw.title, job.zero_stage, join_names(stages), stages.back()));
  }
  const LossChoice loss = parse_loss(job.loss, "loss");
  if ((fw.loss_kinds & (1u << static_cast<int>(loss.kind))) == 0) {
    throw InputError("loss", fmt::format("{} has no --loss {} in its training code; use --loss standard{} or "
                                         "another --framework (deepspeed: ALST's tiled loss and Liger)",
                                         fw.title, job.loss,
                                         (fw.loss_kinds & (1u << static_cast<int>(LossKind::kChunked))) != 0
                                             ? " or chunked" : ""));
  }
  if (job.tiled_mlp != 0 && !fw.tiled_mlp) {
    throw InputError("tiled_mlp", fmt::format("{} has no tiled MLP (ALST's TiledMLP runs under DeepSpeed); "
                                              "use --tiled-mlp off or --framework deepspeed",
                                              fw.title));
  }
  if (std::string(fw.name) == "deepspeed" && job.zero_stage == 0 && job.grad_reduce_dtype == "fp32" &&
      job.precision != Precision::kFp32 && job.precision != Precision::kTf32) {
    // _do_optimizer_sanity_check (engine.py:1977-2021): without ZeRO a 16-bit model needs its
    // gradients in its own dtype ("unsupported mix of model_dtype and grad_accum_dtype").
    throw InputError("grad_reduce_dtype", "DeepSpeed does not accumulate a 16-bit model's gradients in fp32 without "
                                          "ZeRO (NotImplementedError in its optimizer check); use --zero 1 or more, "
                                          "or grad_reduce_dtype bf16");
  }
  if (job.offloads_to_host() && std::string(fw.name) != "deepspeed") {
    throw InputError("offload", fmt::format("{}: spsim models DeepSpeed's offloads (offload_optimizer, "
                                            "offload_param, ALST's checkpoint offload), not {}'s; use "
                                            "--framework deepspeed or --offload none",
                                            offload_name(job), fw.title));
  }
  // zero/offload_config.py: offload_param is "valid only with stage 3" (stage3.py places
  // partitions on the remote device; stages 1 and 2 keep whole parameters on the GPU).
  if (job.offload_params && job.zero_stage != 3) {
    throw InputError("offload", "params: DeepSpeed offloads parameters under ZeRO-3 only (offload_param); use --zero 3");
  }
  if (job.offload_optimizer && job.zero_stage < 1) {
    throw InputError("offload", "optimizer: DeepSpeed offloads the optimizer of ZeRO stages 1, 2 and 3 only; "
                                "use --zero 1, 2 or 3");
  }
  if (job.offload_optimizer && job.pipeline_parallel > 1) {
    throw InputError("offload", "optimizer: DeepSpeed's pipeline engine with offload_optimizer is not modelled "
                                "(the gradient copies of every micro-batch); use --pp 1");
  }
  if (job.offload_activations && (job.recompute != Recompute::kFull || job.recompute_layers != 0)) {
    throw InputError("offload", "activations: what is offloaded is each layer's checkpoint, which only full "
                                "recompute of every layer keeps; use --recompute full");
  }
  if (job.offload_activations && job.pipeline_parallel > 1) {
    throw InputError("offload", "activations: checkpoint offload under pipeline stages is not modelled "
                                "(ALST runs without them); use --pp 1");
  }
  if (!offers(fw.recompute_modes, job.recompute)) {
    std::vector<std::string> modes;
    for (Recompute r : offered_recomputes(fw.name)) modes.emplace_back(to_string(r));
    throw InputError("recompute", fmt::format("{} has no --recompute {} (its modes: {}); choose one of those or "
                                              "another --framework",
                                              fw.title, to_string(job.recompute), join_names(modes)));
  }
  if (job.recompute == Recompute::kOp) check_op_level_checkpointing(fw, job);
  // PyTorch's context_parallel splits round-robin (enable_load_balance, zigzag's chunks) or
  // contiguously (basic); it has no striped split.
  if (fw.cp_attention == CpAttention::kPerStepSdpa && job.ring_degree > 1 && job.ring_variant == "stripe") {
    throw InputError("ring_variant", fmt::format("{}: PyTorch's context_parallel has no striped split; use "
                                                 "--ring-variant zigzag (its round-robin load balancing) or basic",
                                                 fw.title));
  }
  const bool pp = job.pipeline_parallel > 1;
  if (fw.pipeline_zero == PipelineZero::kBelowZero2 && pp && job.zero_stage >= 2) {
    throw InputError("zero_stage", fmt::format("{}: ZeRO-{} cannot be combined with pipeline parallelism "
                                               "(runtime/pipe/engine.py asserts ZeRO < 2); use --zero 1 or --pp 1",
                                               fw.title, job.zero_stage));
  }
  if (fw.pipeline_zero == PipelineZero::kTorchPipelining && pp && job.zero_stage == 2) {
    throw InputError("zero_stage", fmt::format("{}: under pipeline parallelism gradients stay unsharded until the "
                                               "last micro-batch (PyTorch pipelining reduces them once per step), "
                                               "so there is no ZeRO-2; use --zero 1 (fsdp_reshard_after_forward "
                                               "default or never) or --zero 3 (always)",
                                               fw.title));
  }
  if (fw.pipeline_zero == PipelineZero::kTorchPipelining && !pp && job.zero_stage == 1) {
    throw InputError("zero_stage", fmt::format("{} shards optimizer states only with the gradients (FSDP); "
                                               "ZeRO-1 is what it runs under pipeline parallelism only; use "
                                               "--zero 2 or 3, or --pp > 1",
                                               fw.title));
  }
}

}  // namespace spsim
