// Memory: per-GPU bytes of parameters, gradients, optimizer states (mixed-precision Adam, sharded
// by ZeRO), activations from the per-op saved bytes, communication buffers and a named reserve.
#ifndef SPSIM_MEMORY_H_
#define SPSIM_MEMORY_H_

#include <cstdint>
#include <string>

#include "spsim/model.h"

namespace spsim {

struct GpuSpec;
struct Topology;

/// When a step's gradients occupy memory, which decides the moment of the peak
/// (detail::stage_memory; FrameworkProfile::grad_lifetime says which a framework runs).
enum class GradLifetime : uint8_t {
  kResident,  // a buffer allocated once and zeroed each step: there at every moment
  // Each parameter's gradient is created as the backward computes it and freed after the step:
  // in a step of one micro-batch none exist at the loss, all at the last layer. Then:
  kMadeInBackwardCastAtStep,        // the optimizer step casts them to fp32 and flattens that
                                    // while they live (DeepSpeed ZeRO-0's FP16_Optimizer: 2 + 4
                                    // + 4 bytes a parameter)
  kMadeInBackwardPartitionedAfter,  // the reduction after the backward allocates the whole 16-bit
                                    // partition beside them (DeepSpeed ZeRO-1)
  // The ZeRO-2 partition, allocated whole when a backward reduces its first bucket; with gradient
  // accumulation the earlier micro-batches' sum is kept beside it until the step (DeepSpeed).
  kPartitionPerBackward,
};

/// Per-GPU bytes at the peak moment of a step: each term is what is alive at that moment (the
/// loss, or a layer's backward), so `grads` is less than the model's when the framework creates
/// them in the backward and the peak comes before they all exist.
struct MemoryEstimate {
  double params = 0;       // bytes
  double grads = 0;
  double optimizer = 0;
  double activations = 0;  // saved activations of every layer in flight at the peak
  double buffers = 0;      // transient: all-to-all outputs, ring double buffers, fp32 accumulators
  double reserve = 0;      // framework reserve (named, from the job)
  // The step over time, for the DES memory trace: the in-flight layers' saved tensors the
  // forward accumulates, the gradients held from the step's start and those its backward makes.
  double saved_layers = 0;
  double grads_at_start = 0;
  double grads_made_in_backward = 0;
  double buffers_of_the_peak = 0;  // the part of `buffers` only the peak's moment holds
  // Bytes this GPU's rank keeps in host memory (--offload): not part of the GPU's peak, held
  // against the node's host memory share (Topology::host).
  double host = 0;
  double peak() const { return params + grads + optimizer + activations + buffers + reserve; }
  /// Name of the largest term: "activations", "optimizer", ...
  std::string largest_term() const;
};

/// Model-state bytes per GPU for `params_per_gpu` parameters held locally (after TP split),
/// sharded over a ZeRO group of `zero_group` ranks. Mixed precision (bf16/fp16/fp8): params 2,
/// grads `grad_bytes` (the framework's accumulation dtype: 2 or 4), optimizer 12 bytes per
/// parameter (fp32 master, Adam m and v); fp32: 4, grad_bytes (4), 8.
/// ZeRO-1 shards the optimizer, ZeRO-2 also grads, ZeRO-3 also params.
void add_model_states(MemoryEstimate& memory, double params_per_gpu, int zero_stage,
                      int64_t zero_group, Precision precision, double grad_bytes);

/// Whether the peak fits in the GPU's HBM and what it offloads in its share of the node's host
/// memory (the one test of "fits" for run, sweep and search).
bool fits(const MemoryEstimate& memory, const Topology& topology);
/// Bytes past the rank's share of its host's memory (<= 0 when what it offloads fits there, or
/// when it offloads nothing).
double host_over_bytes(const MemoryEstimate& memory, const Topology& topology);
/// What ends the plan's memory: "host" when only the offloaded bytes overflow, else the largest
/// GPU term.
std::string binding_memory_term(const MemoryEstimate& memory, const Topology& topology);
/// A plan that offloads (--offload) needs the topology's host block: InputError naming it otherwise.
void check_host_for_offload(bool offloads, const Topology& topology);
/// One line for a plan that offloads more than its host share holds, or "" when it does not.
std::string host_overflow_text(const MemoryEstimate& memory, const Topology& topology);

}  // namespace spsim

#endif  // SPSIM_MEMORY_H_
