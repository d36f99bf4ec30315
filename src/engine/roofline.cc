#include <algorithm>

#include "spsim/engine.h"

namespace spsim {

double compute_time_s(const Task& task, const Topology& topology, Precision precision) {
  // Roofline: the op is bound either by its arithmetic at the achieved FLOP rate for its class,
  // or by its HBM traffic at the achieved bandwidth; plus a fixed per-kernel launch cost.
  const Efficiency& eff = topology.efficiency;
  double achieved_flops = 0;
  switch (task.op_class) {
    case OpClass::kGemm:
      achieved_flops = topology.gpu.peak(precision) * eff.gemm;
      break;
    case OpClass::kAttention:
      // Flash attention runs in bf16/fp16 even in fp8 and fp32 training jobs' mixed kernels.
      achieved_flops = topology.gpu.peak(precision == Precision::kFp8 ? Precision::kBf16 : precision) *
                       eff.attention;
      break;
    case OpClass::kMemoryBound:
      achieved_flops = topology.gpu.peak(precision == Precision::kFp8 ? Precision::kBf16 : precision) *
                       eff.gemm;
      break;
  }
  const double flop_time = achieved_flops > 0 ? task.flops / achieved_flops : 0.0;
  const double achieved_bw = topology.gpu.hbm_bandwidth * eff.memory;
  const double byte_time = achieved_bw > 0 ? task.hbm_bytes / achieved_bw : 0.0;
  return std::max(flop_time, byte_time) + eff.kernel_overhead_s;
}

}  // namespace spsim
