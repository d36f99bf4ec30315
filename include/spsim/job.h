// JobConfig: what to run — strategy, degrees, sequence, batch, ZeRO, recompute, precision.
// Names follow Megatron-LM (snake_case in JSON, kebab-case flags) plus USP's ulysses/ring degrees.
#ifndef SPSIM_JOB_H_
#define SPSIM_JOB_H_

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "spsim/model.h"
#include "spsim/sequence_distribution.h"

namespace spsim {

struct JobConfig {
  std::string strategy = "ulysses";   // ulysses | megatron-sp | megatron-tp | ring | usp
  // megatron | nemo | deepspeed | fsdp (include/spsim/framework.h); "" = the strategy's usual one.
  std::string framework;
  std::string fp8_recipe;             // delayed | current; "" = the framework's
  std::string attention_impl;         // cudnn | flash2 | triton; "" = the framework's (TE: cuDNN on Hopper+)
  // Norm, activation, RoPE and residual kernels: fused (TE / cuDNN / Liger kernels, or
  // torch.compile's Inductor fusions) or eager PyTorch ops; "" = the framework's.
  std::string elementwise_impl;       // fused | eager
  // Two framework defaults a Megatron-LM script sets per job ("" = the framework's):
  // gradient accumulation and reduction dtype (bf16: --grad-reduce-in-bf16, 2 bytes; fp32: 4;
  // under DeepSpeed the accumulation dtype only: FrameworkProfile::grad_comm_in_param_dtype) and
  // the cross entropy (framework.h LossImpl): fused = one kernel over the 16-bit logits
  // (--cross-entropy-loss-fusion --cross-entropy-fusion-impl te); native = Megatron-Core's own
  // fused loss (--cross-entropy-loss-fusion alone), fp32 inside; unfused = an fp32 copy; flash =
  // flash-attn's Triton kernel (LLM Foundry's loss_fn fused_crossentropy; not a Megatron setting).
  std::string grad_reduce_dtype;      // bf16 | fp32
  std::string cross_entropy;          // fused | flash | native | unfused
  // ZeRO-3 / FSDP backward: when the next layer's parameters are all-gathered ("" = the
  // framework's, FrameworkProfile::zero3_backward_prefetch). pre: when this layer's backward
  // starts, so the gather overlaps its compute and goes ahead of its gradient reduce-scatter
  // (FSDP2's implicit prefetch, FSDP1 BACKWARD_PRE, Megatron-FSDP); post: once this layer's
  // gradients are computed, still ahead of their reduce-scatter (FSDP1 BACKWARD_POST, Composer's
  // default; DeepSpeed's on-demand fetch); sync: after everything before it, the reduce-scatter
  // included, in the forward too (DeepSpeed's ZeRO-3 from March to October 2021 called
  // torch.cuda.synchronize() before every parameter all-gather).
  std::string backward_prefetch;      // pre | post | sync
  int64_t num_gpus = 8;
  int64_t seq_length = 131072;        // s, tokens per sequence
  int64_t micro_batch_size = 1;       // b
  int64_t global_batch_size = 0;      // sequences per step; 0: micro_batch_size x data_parallel
  int64_t tensor_parallel = 1;        // t
  int64_t ulysses_degree = 1;         // u
  int64_t ring_degree = 1;            // r
  int64_t pipeline_parallel = 1;      // p stages, outermost (USP nesting)
  int64_t virtual_pipeline_stages = 1;  // v model chunks per stage (Megatron interleaved 1F1B)
  // Megatron-LM's uneven pipeline layouts (megatron/core/transformer/transformer_block.py,
  // get_num_layers_to_build): the first / last stage's transformer layers (0: L/p like the
  // others), or the embedding / the loss counted as one layer of the first / last model chunk.
  // pipeline_chunk_layers() (pipeline.h) turns them, or torchtitan's own rule, into a layout.
  int64_t first_stage_layers = 0;     // --decoder-first-pipeline-num-layers
  int64_t last_stage_layers = 0;      // --decoder-last-pipeline-num-layers
  bool embedding_in_pipeline_split = false;  // --account-for-embedding-in-pipeline-split
  bool loss_in_pipeline_split = false;       // --account-for-loss-in-pipeline-split
  int64_t data_parallel = 0;          // D; 0: derived as num_gpus / (t u r p)
  bool sequence_parallel = true;      // Megatron-SP (AG/RS) vs plain TP (all-reduce)
  std::string ring_variant = "zigzag";  // basic | zigzag | stripe (causal load balance)
  std::string ring_comm = "p2p";      // p2p (overlapped) | allgather (Llama-3 style, not overlapped)
  bool ulysses_kv_replication = true; // u > kv heads: replicate KV heads (ALST) or reject (yunchang)
  bool ulysses_overlap = false;       // DeepSpeed sp_stream: overlap backward a2a with compute
  int zero_stage = 0;                 // 0..3
  Recompute recompute = Recompute::kNone;
  // Full recompute of only the first N layers of every pipeline model chunk, the rest keeping
  // their activations (Megatron-LM --recompute-method block --recompute-num-layers N; torchtitan's
  // per-layer selective AC, every k-th layer, is the same count); 0: every layer. Written
  // "full:N" wherever a recompute is text (--recompute, sweep rows, validation rows).
  int64_t recompute_layers = 0;
  Precision precision = Precision::kBf16;
  AttentionKernel attention_kernel = AttentionKernel::kFlash;
  bool causal = true;
  // Long-context techniques (include/spsim/long_context.h), off by default:
  std::string loss = "standard";      // --loss standard | fused | chunked:N (canonical text)
  int64_t tiled_mlp = 0;              // --tiled-mlp: 0 off, -1 auto (ceil(tokens/h) tiles), N tiles
  // What lives in host memory (--offload, job "offload"; long_context.h): the optimizer step and
  // its states (DeepSpeed zero_optimization.offload_optimizer.device "cpu", ZeRO-Offload), and
  // the activation checkpoints of full recompute (ALST's activation_checkpoint_cpu_offload,
  // blocking copies), copied out after each layer's forward and back before its backward; and
  // ZeRO-3's 16-bit parameter partitions (zero_optimization.offload_param.device "cpu"), copied
  // to the GPU before each gather.
  bool offload_optimizer = false;
  bool offload_activations = false;
  bool offload_params = false;
  double framework_reserve_bytes = 0; // CUDA context, NCCL buffers, allocator slack (named reserve)
  // Variable-length batches (--seq-dist, job "seq_dist"): the documents packed into each
  // seq_length sample; null: every sample is one document (the default). Shared, read-only.
  std::shared_ptr<const SequenceDistribution> seq_dist;

  int64_t sequence_parallel_degree() const { return ulysses_degree * ring_degree; }
  bool offloads_to_host() const { return offload_optimizer || offload_params || offload_activations; }
  /// micro-batches per optimizer step (gradient accumulation).
  int64_t micro_batches() const;
};

/// Reads a recompute as text into `job` (recompute and recompute_layers): none, selective, full,
/// op, or full:N (N >= 1 layers per model chunk). InputError naming `where` otherwise.
void set_recompute(JobConfig& job, const std::string& text, const std::string& where);
/// The job's recompute as text, the inverse of set_recompute ("full:5", "selective").
std::string recompute_name(const JobConfig& job);
/// Layers of a model chunk of `chunk_layers` layers that re-run their forward in the backward:
/// every one under full recompute (min(recompute_layers, chunk_layers) when that is set), none
/// otherwise (selective and op-level recompute re-run parts of every layer, not whole layers).
int64_t recomputed_layers(const JobConfig& job, int64_t chunk_layers);

/// Default framework reserve: 3 GiB (CUDA context ~0.5 GiB, NCCL buffers, PyTorch allocator
/// fragmentation; see README "Memory model").
inline constexpr double kDefaultFrameworkReserveBytes = 3.0 * 1024 * 1024 * 1024;

/// Reads a job from JSON (strict keys). `where` names the file for messages.
JobConfig job_from_json(const nlohmann::json& json, const std::string& where);
/// Every field explicit, the resolved data_parallel included.
nlohmann::json job_to_json(const JobConfig& job);

}  // namespace spsim

#endif  // SPSIM_JOB_H_
