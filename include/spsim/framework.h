// FrameworkProfile: what a training framework actually runs for a plan. The same degrees cost
// different time and memory under Megatron-LM, NeMo / Megatron-Bridge, DeepSpeed or FSDP2 /
// torchtitan: the gradient dtype and when gradients are reduced, which attention and elementwise
// kernels run, how the loss holds the logits, the FP8 recipe, and which combinations the framework
// accepts at all. One row per framework in src/framework/profiles.cc, every value with its source;
// code reads fields and never tests a framework's name. Engines never see a profile: the lowering
// turns it into tasks (and their kernel flavours) and memory.
#ifndef SPSIM_FRAMEWORK_H_
#define SPSIM_FRAMEWORK_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "spsim/job.h"
#include "spsim/memory.h"
#include "spsim/model.h"
#include "spsim/task_graph.h"

namespace spsim {

/// How the logits meet the loss (memory and time of the loss phase). loss_bytes_per_logit()
/// gives each kind's kernel traffic.
enum class LossImpl : uint8_t {
  kFp32Copy,  // Megatron's vocab-parallel cross entropy: an fp32 copy of the logits, softmax in
              // place on it and saved (core/tensor_parallel/cross_entropy.py)
  kTorchCrossEntropy,  // torch F.cross_entropy on an fp32 copy (torchtitan's cross_entropy(pred.float()),
                       // HF LlamaForCausalLM's loss): log_softmax out of place and saved, then nll_loss
  kTorchLossParallel,  // torchtitan's vocab-parallel loss under TP (loss_parallel(), now
                       // _LossParallelCrossEntropy): fp32 copy, shifted, log_probs saved; the
                       // backward's zeros, exp(log_probs) and their sum
  kFused,     // one fused kernel over the bf16 logits writing an fp32 gradient (TE / Liger style)
  kMegatronNative,  // Megatron-Core's cross_entropy_loss_fusion with its default impl "native":
                    // JIT-fused, but it still upcasts the logits to fp32 and saves the fp32 softmax
                    // (core_r0.8.0 fusions/fused_cross_entropy.py, tensor_parallel/cross_entropy.py)
  kFlashAttn,  // flash-attn's Triton CrossEntropyLoss (LLM Foundry's fused_crossentropy): one kernel
               // over the 16-bit logits, which it keeps; the backward writes a new 16-bit gradient
};

/// How FP8 GEMM inputs are scaled (TransformerEngine recipes; torchao's tensorwise is "current").
enum class Fp8Recipe : uint8_t {
  kDelayed,  // scale from an amax history: one read per cast
  kCurrent,  // amax of this tensor first: two reads per cast
};

/// Which ZeRO stages combine with pipeline parallelism (check_framework_rules()).
enum class PipelineZero : uint8_t {
  kAny,              // every stage the framework has (Megatron-Core: distributed optimizer, FSDP)
  kBelowZero2,       // DeepSpeed: "ZeRO-2 and ZeRO-3 are incompatible with pipeline parallelism"
  kTorchPipelining,  // PyTorch pipelining (torchtitan): each stage's gradients stay unsharded
                     // until the last micro-batch (backward_maybe_with_nosync) and are reduced
                     // once per step; parameters stay gathered (fsdp_reshard_after_forward
                     // default / never: spsim's ZeRO-1, FSDP's only use of it) or are regathered
                     // per micro-batch (always: ZeRO-3); no ZeRO-2
};

/// How a framework places transformer layers on pipeline stages (pipeline_chunk_layers()).
enum class PipelineSplit : uint8_t {
  kEven,        // every model chunk L/(p v) layers, else an error (DeepSpeed PipelineModule with
                // Megatron-DeepSpeed's partition_method type:transformer)
  kMegatron,    // even, or the job's uneven first/last stage or embedding/loss accounting
  kTorchtitan,  // L + 1 + 1 "effective layers" (embedding and output count one each) spread
                // with the remainder on the first stages (pipeline_parallel.py)
};

/// Context-parallel attention: TransformerEngine's kernels (all-gather: one kernel over the
/// gathered K,V; p2p: one a ring step), or r SDPA calls with eager fp32 merges (PyTorch's
/// torch.distributed.tensor.experimental.context_parallel).
enum class CpAttention : uint8_t { kSingleKernel, kPerStepSdpa };

// Full recompute of part of the layers (--recompute full:N, job.h recompute_layers).
enum class PartialRecompute : uint8_t {
  kNone,          // every layer or none
  kFirstOfChunk,  // the first N layers of every model chunk (Megatron-Core's block method)
  kEveryKth,      // blocks k, 2k, ... of a rank, floor(L / k) = N of them (torchtitan's per-layer AC)
};

struct FrameworkProfile {
  const char* name;          // "megatron" | "nemo" | "deepspeed" | "fsdp"
  const char* title;         // "Megatron-LM", ...
  // Kernels the framework's layers call (the kernel model in gpus/*.json times each flavour).
  AttentionImpl attention;
  ElementwiseImpl elementwise;
  LossImpl loss;
  LossImpl loss_under_tp;  // the loss it runs when tensor parallelism splits the vocabulary
  Fp8Recipe fp8_recipe;
  // FP8 jobs: bytes per element of a GEMM input saved for the backward. TransformerEngine keeps
  // the quantized copy (column-wise data only: Linear/LayerNormLinear forward, "Discard row-wise
  // data since it is not needed in backward pass"), 1; torchao's Float8Linear saves input_hp,
  // the 16-bit tensor, and quantizes again in the backward, 2.
  double fp8_saved_gemm_input_bytes;
  // FP8 jobs with sequence parallelism: the all-gathers before column-parallel GEMMs (and of the
  // output gradient before row-parallel ones) carry the quantized tensor, 1 byte an element
  // (TE gather_along_first_dim(..., quantizer=...)); otherwise the 16-bit activation.
  bool fp8_quantized_all_gather;
  // Gradients with 16-bit training: bytes per element of the accumulation buffer and on the
  // wire (fp32 main grads: 4; bf16: 2). fp32 training keeps 4 whatever this says.
  int grad_bytes;
  // The data-parallel gradient traffic is in the parameters' dtype, whatever the accumulation
  // dtype (DeepSpeed's communication_data_type defaults to the model's fp16/bf16, engine.py
  // communication_data_type, and allreduce_bucket casts to it); otherwise in grad_bytes.
  bool grad_comm_in_param_dtype;
  // Bytes per element of that traffic under Ulysses sequence parallelism, 0: as without. The
  // Ulysses group is what Megatron-DeepSpeed and ALST register with DeepSpeed's engine (an mpu with
  // get_sequence_parallel_world_size, utils/groups.py:799-807), which then sets
  // communication_data_type to seq_parallel_communication_data_type, fp32 by default
  // (engine.py:1848-1858, constants.py:306); DeepSpeed itself ships no ring.
  int sequence_parallel_grad_comm_bytes;
  // ZeRO stage from which gradients are reduced in every micro-batch instead of once per step
  // at the accumulation boundary (DeepSpeed ZeRO-2/3 reduce every micro-batch; FSDP2 as
  // torchtitan runs it always does; Megatron never does): 4 = never.
  int reduce_every_micro_batch_from_zero;
  // ZeRO-1/2 gradient traffic is an all-reduce per bucket (DeepSpeed's default
  // use_multi_rank_bucket_allreduce), not a reduce-scatter.
  bool zero12_all_reduce;
  // Communication granularity, each call paying the collective's latency: ZeRO-3 / FSDP gathers
  // a layer's parameters one weight matrix at a time (DeepSpeed's per-submodule fetch) or as one
  // flat unit (FSDP2, Megatron-FSDP); gradients are reduced in buckets of this many parameters
  // (at least bucket_params_per_rank x the reduction group), 0 = one call per layer.
  bool gather_per_matrix;
  double grad_bucket_params;
  double grad_bucket_params_per_rank;
  // ZeRO-3 backward: the next layer's all-gather is issued when this layer's backward starts, so
  // it overlaps this layer's compute (JobConfig::backward_prefetch "pre"); false: once this
  // layer's gradients are computed ("post"). Either way ahead of this layer's reduce-scatter.
  bool zero3_backward_prefetch;
  // ZeRO-3 memory: parameters gathered ahead of the layer in use, beside it (0: the next layer or
  // unit whole, as FSDP2 prefetches; DeepSpeed: stage3_prefetch_bucket_size elements per fetch),
  // and the live parameters the prefetcher fills up to (0: none beyond those; DeepSpeed:
  // stage3_max_live_parameters).
  double zero3_prefetch_params;
  double zero3_live_params;
  // ZeRO stages the framework offers (bit s set: stage s) and which of them combine with
  // pipeline parallelism.
  uint8_t zero_stages;
  PipelineZero pipeline_zero;
  PipelineSplit pipeline_split;
  // Strategies (spsim names) the framework runs, and whether Ulysses may replicate KV heads when
  // its degree exceeds them (ALST does; TE's a2a CP asserts kv_heads % cp == 0).
  std::vector<const char*> strategies;
  bool kv_replication;
  // Long-context techniques (spsim/long_context.h) the framework's training code offers: the
  // --loss kinds (bit k set: LossKind k; standard always) and the tiled MLP.
  uint8_t loss_kinds;
  bool tiled_mlp;
  // The chunked loss's own holdings: bytes per element of its accumulated [T, h] input gradient
  // (0: the activation's), and whether a chunk's 16-bit logits stay alive through its backward.
  double chunked_loss_grad_bytes;
  bool chunked_loss_keeps_logits;
  // Recompute modes the framework's launch settings offer (bit m set: Recompute m).
  uint8_t recompute_modes;
  // Which layers full recompute of part of them (--recompute full:N) checkpoints, if any.
  PartialRecompute partial_recompute;
  // How context parallelism runs the attention: TransformerEngine's (Megatron, NeMo, Llama 3)
  // all-gather CP calls one kernel over (s/r x s) and its p2p ring one fused kernel a step;
  // PyTorch's context_parallel (torchtitan) calls SDPA once per chunk with either rotation and
  // merges the outputs with eager fp32 ops.
  CpAttention cp_attention;
  // When gradients exist, per ZeRO stage 0-3, in a step of one micro-batch (with gradient
  // accumulation every later micro-batch meets the first one's: resident).
  std::array<GradLifetime, 4> grad_lifetime;
  // Gradient copies a pipeline stage keeps resident: 2 where the pipeline engine's optimizer
  // keeps a flat gradient buffer beside the 16-bit param.grad it zeroes but never frees.
  int pipeline_grad_copies;
  // ZeRO-1/2/3 copy each gradient into a contiguous reduce bucket of grad_bucket_params elements
  // of the 16-bit parameter dtype, allocated whole (DeepSpeed's contiguous_gradients, on by
  // default; when it lives: memory/layer_buffers.h), instead of reducing it from autograd's own
  // tensor a layer at a time.
  bool resident_reduce_bucket;
  // ZeRO-3 / FSDP: a tied embedding and LM head, gathered by the embedding's forward, stay
  // gathered until the embedding's backward (one unit that is not resharded after the forward).
  bool tied_head_stays_gathered;
  const char* source;        // where each value comes from
};

/// HBM traffic per logit element of the loss forward and backward, as memory-bound kernel bytes:
/// Liger-Kernel's H100 measurements (linkedin/Liger-Kernel@ead96b6 benchmark/data/
/// all_benchmark_data.csv, 8192 tokens x 131072 vocabulary, bf16) times the fused elementwise
/// plateau of gpus/h100-sxm.json (0.77 x 3.35 TB/s): Megatron's unfused vocab-parallel cross
/// entropy 15.812 / 21.247 ms -> 38.0 / 51.0 B; Megatron's native fused one ("megatron-fused")
/// 11.81 / 18.232 ms -> 28.4 / 43.8 B; Liger's fused kernel (what TE's Triton cross entropy
/// follows) 2.968 / 7.959 ms -> 7.1 / 19.1 B.
struct LossBytes { double fwd, bwd; };
LossBytes loss_bytes_per_logit(LossImpl impl);

/// Memory of the loss per logit element: `saved`, what it keeps from its forward to its backward;
/// `transient`, what it holds beyond that at its worst moment. `e`: bytes of the 16-bit logits.
///  Megatron vocab-parallel and native fused: an fp32 copy, softmax in place, saved (4); the 16-bit
///  logits beside it in the forward, the fp32 gradient's 16-bit cast in the backward (e; 0 in fp32
///  training, where .float() returns the logits themselves).
///  TE's Triton kernel (TransformerEngine@d0067d0 triton/cross_entropy.py: the gradient in an fp32
///  grad_input since #3193, July 2026; before, written in place into the logits): the fp32
///  gradient saved (4), beside the logits in the forward and its 16-bit cast in the backward (e).
///  flash-attn's: the logits saved (e), a new gradient of their dtype in the backward (e).
///  torch F.cross_entropy: log_softmax's output saved (4); in the backward, nll_loss's dense
///  gradient and log_softmax's input gradient beside it (8; the forward's 16-bit logits + fp32
///  copy, 6, are less). torchtitan's loss-parallel version under TP (components/loss.py
///  _LossParallelCrossEntropy @b5bcd76): log_probs saved (4); the backward's zeros_like,
///  exp(log_probs) and their sum beside it (12; the forward's 16-bit logits, fp32 copy, shifted
///  and exp(shifted), 14, are less). Measured: Liger-Kernel's benchmark of torch CrossEntropyLoss on fp32
///  [16384 x 131072] peaks at 40,960 MiB = 20 B per element on an A100 = the input (4), the
///  gradient left from the previous iteration (4) and these 12 (linkedin/Liger-Kernel@ead96b6
///  benchmark/data/all_benchmark_data.csv, cross_entropy huggingface full memory; its script
///  benchmark/scripts/benchmark_cross_entropy.py and utils.py _test_memory).
struct LossMemory { double saved, transient; };
LossMemory loss_memory_per_logit(LossImpl impl, double e);

/// The profile of `name`; InputError naming `where` with a "did you mean" for an unknown name.
const FrameworkProfile& find_framework(std::string_view name, const std::string& where = "framework");
/// InputError on `where` unless `impl` is an attention implementation spsim times (cudnn, flash2,
/// triton); "" (the framework's own) passes.
void check_attention_impl(std::string_view impl, const std::string& where);
std::vector<std::string> list_frameworks();

/// The recompute modes a search tries for a plan of `framework` (its recompute_modes, in the
/// order none, selective, full, op). No framework named: the schemes' default frameworks'
/// (Megatron's and DeepSpeed's), all but op. An unknown name: every mode, so the lowering's
/// error names the framework instead of the search coming back empty.
std::vector<Recompute> offered_recomputes(const std::string& framework);

/// Checks the job against the framework's rules (ZeRO stages, ZeRO with PP, strategies, KV
/// replication); InputError naming the framework, the rule and the fix.
void check_framework_rules(const FrameworkProfile& framework, const JobConfig& job);

}  // namespace spsim

#endif  // SPSIM_FRAMEWORK_H_
