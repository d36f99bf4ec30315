// TaskGraph: one training step lowered by a strategy, as the SPMD program every GPU runs.
//
// Every rank runs the same program (sequence/tensor/data parallelism are symmetric); where ranks
// differ (causal ring without balancing), a task carries per-position work. The program is a list
// of segments run in order; a segment is repeated `repeat` times back to back (one per layer) and
// the whole sequence of per-micro-batch segments is repeated `micro_batches` times:
//
//   for mb in 0..micro_batches-1:
//     for seg in segments (skipping those whose `when` excludes mb):
//       for i in 0..seg.repeat-1: run seg.tasks
//
// Execution semantics (both engines implement exactly these):
//   * each task runs on one stream of its GPU; a stream runs its tasks one at a time, in program
//     order (like a CUDA stream);
//   * a task starts when its stream is free and every task in `deps` (indices into the same
//     segment instance) has finished;
//   * a communication task involves every rank of its group; it starts when all of them are ready;
//   * a segment marked `barrier` starts only when every stream of the GPU is idle;
//   * the step ends when every stream of every GPU is idle.
#ifndef SPSIM_TASK_GRAPH_H_
#define SPSIM_TASK_GRAPH_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "spsim/model.h"

namespace spsim {

enum class Stream : uint8_t { kCompute = 0, kSequenceComm = 1, kRingComm = 2, kDataComm = 3 };
inline constexpr int kNumStreams = 4;
const char* to_string(Stream stream);

enum class TaskKind : uint8_t { kCompute, kCollective };

enum class CommKind : uint8_t { kAllToAll, kAllGather, kReduceScatter, kAllReduce, kSendRecv };
const char* to_string(CommKind kind);  // "all_to_all", ..., "send_recv" (nccl-tests names)

/// What a task is for, for breakdowns: "which kind of communication is exposed".
enum class Category : uint8_t {
  kCompute,
  kUlyssesA2A,      // all-to-all of Q/K/V/O (and grads)
  kTensorParallel,  // Megatron TP/SP all-gather / reduce-scatter / all-reduce
  kRingP2P,         // ring attention K/V (and dK/dV) exchange
  kContextGather,   // all-gather context parallelism (K/V all-gather, dKV reduce-scatter)
  kDataParallel,    // gradient reduce-scatter / all-reduce
  kZeroParams,      // ZeRO-3 parameter all-gather
  kPipelineP2P,     // activations / gradients between pipeline stages
};
inline constexpr int kNumCategories = 8;
const char* to_string(Category category);  // "compute", "ulysses_a2a", "tp", "ring_p2p", ...

enum class Phase : uint8_t { kForward, kBackward, kOptimizer };

/// Which implementation runs a compute task, chosen by the lowering from the framework profile so
/// that engines never see a framework: attention from cuDNN (TransformerEngine's FusedAttention,
/// PyTorch's cuDNN SDPA backend) or FlashAttention-2 (flash-attn, PyTorch's flash backend);
/// elementwise and norm kernels fused (TE / cuDNN / Liger class) or eager PyTorch. The GPU's
/// kernel model (gpus/*.json) times each flavour.
enum class AttentionImpl : uint8_t { kCudnn, kFlash2, kTriton };
enum class ElementwiseImpl : uint8_t { kFused, kEager };
const char* to_string(AttentionImpl impl);    // "cudnn" | "flash2" | "triton"
const char* to_string(ElementwiseImpl impl);  // "fused" | "eager"

/// A group of ranks that communicate: `size` ranks, `stride` apart. Rank placement fills nodes in
/// order and nests TP innermost, then Ulysses, ring, DP, PP (USP's rule), so a group of a given
/// kind is {base + j * stride | j < size}.
struct CommGroup {
  const char* name = "";   // "tp", "ulysses", "ring", "dp", "zero", "pp"
  int64_t size = 1;
  int64_t stride = 1;
};

struct Task {
  const char* name = "";   // static string: "qkv_proj", "a2a_q", "ring_step", ...
  TaskKind kind = TaskKind::kCompute;
  Stream stream = Stream::kCompute;
  Category category = Category::kCompute;
  Phase phase = Phase::kForward;
  // Compute: the roofline inputs for this GPU.
  OpClass op_class = OpClass::kGemm;
  // Equal kernels the task stands for (a GEMM's backward without TP is dgrad + wgrad: 2), so a
  // calibrated efficiency curve is read at one kernel's size.
  uint16_t kernels = 1;
  // Kernel model inputs. Attention: its implementation, whether the call is a backward and
  // whether it applies a causal mask (each has its own timing); memory-bound: fused or eager.
  AttentionImpl attention_impl = AttentionImpl::kCudnn;
  ElementwiseImpl elementwise_impl = ElementwiseImpl::kFused;
  // hbm_bytes are a measured kernel time converted at the fused plateau (the loss kernels of
  // framework.h's loss_bytes_per_logit): timed as fused whatever the framework's elementwise
  // flavour, since the measurement already includes every pass the unfused kernels make.
  bool measured_at_fused_plateau = false;
  bool backward_kernel = false;
  bool causal_kernel = false;
  // A GEMM of an fp8 job that runs in 16-bit (the LM head: Megatron's output layer is not a
  // TransformerEngine module, torchtitan's float8 filter skips "output").
  bool high_precision = false;
  double flops = 0;
  double hbm_bytes = 0;
  // Per-position work multipliers within `group` (causal ring without balancing: rank i of the
  // ring does work_scale[i] x flops). Empty: every rank does the same work.
  std::vector<double> work_scale;
  // Collective: bytes this GPU sends (per the spec: (n-1)/n of the buffer for ring AG/RS/A2A,
  // 2(n-1)/n for all-reduce, the whole block for a send/recv step).
  CommKind comm = CommKind::kAllToAll;
  int group = -1;          // index into TaskGraph::groups
  double bytes = 0;
  // Separate collective calls the task stands for (a layer's parameters gathered one weight
  // matrix at a time, gradients reduced in buckets): each pays the collective's latency, the
  // bytes are shared.
  uint16_t calls = 1;
  // Dependencies: indices of earlier tasks in the same segment instance.
  std::array<int32_t, 4> deps{-1, -1, -1, -1};
  // A task of the previous instance of this repeated segment that must end first (its index in
  // the segment), -1 if none: the layer before gathered this layer's parameters (FSDP's backward
  // all-gather of the next layer). The first instance has no previous one and does not wait.
  int32_t prev_instance_dep = -1;
  // In the first instance of a segment that continues the one before it (Segment::continues):
  // the task of that segment's last instance this task waits for, as prev_instance_dep does
  // between instances of one segment (the last plain layer gathered the first checkpointed
  // layer's parameters); -1 if none.
  int32_t continued_dep = -1;
  void add_dep(int index);  // throws Error past 4 deps

  /// A compute task on the compute stream (`name` must be a static string).
  static Task compute(const char* name, Phase phase, OpClass op_class, double flops, double hbm_bytes);
  /// A collective of `bytes` per rank over group `group` on `stream` (`name` static).
  static Task collective(const char* name, Phase phase, Stream stream, Category category, CommKind kind,
                         int group, double bytes);
};

/// Which micro-batches run a segment. Gradient reduction happens only in the last micro-batch
/// (DDP no_sync / DeepSpeed gradient accumulation boundary), so lowerings emit a backward segment
/// without DP communication for the others.
enum class When : uint8_t { kEveryMicroBatch, kLastMicroBatch, kAllButLastMicroBatch };

struct Segment {
  const char* name = "";     // "embedding_fwd", "layer_fwd", "head", "layer_bwd", "optimizer"
  int64_t repeat = 1;        // layers
  When when = When::kEveryMicroBatch;
  /// Every stream of the GPU drains before this segment starts (the optimizer step waits for
  /// the gradient reduction, as torch.cuda.synchronize / DeepSpeed's boundary does).
  bool barrier = false;
  /// The same layers as the segment just before it, split off where the layers differ (full
  /// recompute of part of a chunk): its first instance waits for that segment's last one through
  /// Task::continued_dep, as later instances wait for their previous one.
  bool continues = false;
  std::vector<Task> tasks;
};

struct TaskGraph {
  std::string strategy;      // "ulysses", ...
  int64_t num_gpus = 0;
  int64_t micro_batches = 1; // gradient-accumulation steps per optimizer step
  int64_t tokens_per_step = 0;  // global tokens processed per step (for tokens/s)
  Precision precision = Precision::kBf16;  // selects the peak FLOP/s for GEMMs
  std::vector<CommGroup> groups;
  std::vector<Segment> segments;
  int add_group(const char* name, int64_t size, int64_t stride);
};

}  // namespace spsim

#endif  // SPSIM_TASK_GRAPH_H_
