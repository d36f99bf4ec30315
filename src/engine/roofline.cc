// Compute time of one task on one GPU, from the GPU's kernel model (gpus/*.json): each kernel is a
// latency plus its work at a plateau rate, so small kernels (short ring blocks, small shards, the
// many elementwise kernels of a layer) cost more per FLOP or byte than large ones.
#include <algorithm>

#include "spsim/engine.h"

#include <fmt/format.h>

#include "spsim/error.h"

namespace spsim {

namespace {

// FP8 training runs attention and elementwise kernels in bf16; only GEMM inputs are fp8, as
// TransformerEngine and torchao do.
Precision non_gemm_precision(Precision precision) {
  return precision == Precision::kFp8 ? Precision::kBf16 : precision;
}

}  // namespace

Roofline::Roofline(const Topology& topology, Precision precision) {
  const KernelModel& kernels = topology.efficiency.kernels;
  gemm_ = kernels.gemm_for(to_string(precision));
  gemm_peak_ = topology.gpu.peak(precision);
  gemm16_ = kernels.gemm_for(to_string(non_gemm_precision(precision)));
  gemm16_peak_ = topology.gpu.peak(non_gemm_precision(precision));
  attention_peak_ = topology.gpu.peak(non_gemm_precision(precision));
  for (AttentionImpl impl : {AttentionImpl::kCudnn, AttentionImpl::kFlash2}) {
    attention_[static_cast<int>(impl)] = kernels.attention_for(to_string(impl));
  }
  // Triton timings are measured for some GPUs only; lowering refuses a triton plan on the others.
  if (const auto it = kernels.attention.find("triton"); it != kernels.attention.end()) {
    attention_[static_cast<int>(AttentionImpl::kTriton)] = it->second;
    has_triton_ = true;
  }
  gpu_name_ = topology.gpu.name;
  for (ElementwiseImpl impl : {ElementwiseImpl::kFused, ElementwiseImpl::kEager}) {
    elementwise_[static_cast<int>(impl)] = kernels.elementwise_for(to_string(impl));
  }
  hbm_bandwidth_ = topology.gpu.hbm_bandwidth;
  host_memory_rate_ = topology.host.memory_bandwidth_per_rank() * topology.host.memory_efficiency;
  host_link_rate_ = topology.host.link_bandwidth * topology.host.link_efficiency;
  topology_name_ = topology.name;
  if (!topology.efficiency.gemm_curve.empty()) gemm_curve_ = &topology.efficiency.gemm_curve;
  if (!topology.efficiency.attention_curve.empty()) attention_curve_ = &topology.efficiency.attention_curve;
}

double Roofline::time_s(const Task& task, double work_scale) const {
  // A rank with no work (work_scale 0: a fully masked causal block) launches nothing.
  if (work_scale <= 0) return 0.0;
  const double flops = task.flops * work_scale;
  const double bytes = task.hbm_bytes * work_scale;
  const double kernels = task.kernels > 0 ? task.kernels : 1;
  switch (task.op_class) {
    case OpClass::kGemm: {
      // A calibrated curve gives the efficiency of one kernel of this size (the same fraction of
      // peak in every precision); it already includes the kernel's fixed costs.
      const double traffic = bytes / (elementwise_[0].efficiency * hbm_bandwidth_);
      if (gemm_curve_ != nullptr) {
        return std::max(flops / (gemm_peak_ * gemm_curve_->at(flops / kernels * 1e-9)), traffic);
      }
      // Skinny GEMMs (few tokens against a large weight) are bound by reading their operands.
      if (task.high_precision) return std::max(kernels * gemm16_.time_s(flops / kernels, gemm16_peak_), traffic);
      return std::max(kernels * gemm_.time_s(flops / kernels, gemm_peak_), traffic);
    }
    case OpClass::kAttention: {
      const double traffic = bytes / (elementwise_[0].efficiency * hbm_bandwidth_);
      if (attention_curve_ != nullptr) {
        return std::max(flops / (attention_peak_ * attention_curve_->at(flops / kernels * 1e-9)), traffic);
      }
      if (task.attention_impl == AttentionImpl::kTriton && !has_triton_) {
        throw InputError("--attention-impl",
                         fmt::format("GPU \"{}\" has no Triton FlashAttention timing (attention.triton in its "
                                     "gpus/*.json: measured for A100 and H100 only); use flash2 or cudnn",
                                     gpu_name_));
      }
      const AttentionTimings& t = attention_[static_cast<int>(task.attention_impl)];
      const KernelTiming& call = task.backward_kernel ? (task.causal_kernel ? t.bwd_causal : t.bwd)
                                                      : (task.causal_kernel ? t.fwd_causal : t.fwd);
      // A standard (score-keeping) kernel is bound by writing and reading its score matrix.
      return std::max(kernels * call.time_s(flops / kernels, attention_peak_), traffic);
    }
    case OpClass::kMemoryBound: {
      // Elementwise kernels are bound by their HBM traffic; their few FLOP never decide.
      const KernelTiming& t = elementwise_[static_cast<int>(task.elementwise_impl)];
      return kernels * t.time_s(bytes / kernels, hbm_bandwidth_);
    }
    case OpClass::kHostMemory:
    case OpClass::kHostLink: {
      // Streaming work on the host side: the CPUs' share of their node's memory bandwidth (every
      // rank of the node runs its optimizer step at once), or a copy over this GPU's own link.
      const double rate = task.op_class == OpClass::kHostMemory ? host_memory_rate_ : host_link_rate_;
      if (!(rate > 0)) throw_no_host_block(topology_name_);
      return bytes / rate;
    }
  }
  return 0.0;
}

double compute_time_s(const Task& task, const Topology& topology, Precision precision) {
  return Roofline(topology, precision).time_s(task);
}

}  // namespace spsim
