#include <algorithm>

#include "spsim/engine.h"

namespace spsim {

Roofline::Roofline(const Topology& topology, Precision precision) {
  // Flash attention and elementwise kernels run in bf16 inside fp8 jobs (TransformerEngine keeps
  // only GEMM inputs in fp8).
  const Precision non_gemm = precision == Precision::kFp8 ? Precision::kBf16 : precision;
  const Efficiency& eff = topology.efficiency;
  gemm_flops_ = topology.gpu.peak(precision) * eff.gemm;
  attention_flops_ = topology.gpu.peak(non_gemm) * eff.attention;
  elementwise_flops_ = topology.gpu.peak(non_gemm) * eff.gemm;
  hbm_bandwidth_ = topology.gpu.hbm_bandwidth * eff.memory;
  overhead_s_ = eff.kernel_overhead_s;
  gemm_peak_ = topology.gpu.peak(precision);
  attention_peak_ = topology.gpu.peak(non_gemm);
  if (!eff.gemm_curve.empty()) gemm_curve_ = &eff.gemm_curve;
  if (!eff.attention_curve.empty()) attention_curve_ = &eff.attention_curve;
}

double Roofline::time_s(const Task& task, double work_scale) const {
  // Roofline: the op is bound either by its arithmetic at the achieved FLOP rate of its class or
  // by its HBM traffic at the achieved bandwidth; plus a fixed per-kernel launch cost. A rank
  // with no work (work_scale 0: a fully masked causal block) launches nothing.
  if (work_scale <= 0) return 0.0;
  const double flops = task.flops * work_scale;
  // A calibrated curve gives the efficiency of one kernel of this size (the same fraction of
  // peak in every precision, as the scalar).
  const double kernel_gflop = flops / (task.kernels > 0 ? task.kernels : 1) * 1e-9;
  double rate = gemm_flops_;
  if (task.op_class == OpClass::kGemm && gemm_curve_ != nullptr) {
    rate = gemm_peak_ * gemm_curve_->at(kernel_gflop);
  }
  if (task.op_class == OpClass::kAttention) {
    rate = attention_curve_ != nullptr ? attention_peak_ * attention_curve_->at(kernel_gflop) : attention_flops_;
  }
  if (task.op_class == OpClass::kMemoryBound) rate = elementwise_flops_;
  const double flop_time = rate > 0 ? flops / rate : 0.0;
  const double byte_time = hbm_bandwidth_ > 0 ? task.hbm_bytes * work_scale / hbm_bandwidth_ : 0.0;
  return std::max(flop_time, byte_time) + overhead_s_;
}

double compute_time_s(const Task& task, const Topology& topology, Precision precision) {
  return Roofline(topology, precision).time_s(task);
}

}  // namespace spsim
