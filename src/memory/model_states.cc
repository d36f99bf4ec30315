#include <algorithm>
#include <utility>

#include "spsim/memory.h"

namespace spsim {

std::string MemoryEstimate::largest_term() const {
  const std::pair<const char*, double> terms[] = {
      {"params", params},       {"grads", grads},     {"optimizer", optimizer},
      {"activations", activations}, {"buffers", buffers}, {"reserve", reserve}};
  const auto* best = std::max_element(std::begin(terms), std::end(terms),
                                      [](const auto& a, const auto& b) { return a.second < b.second; });
  return best->first;
}

void add_model_states(MemoryEstimate& memory, double params_per_gpu, int zero_stage,
                      int64_t zero_group, Precision precision, double grad_bytes) {
  // Mixed-precision Adam (Rajbhandari et al., ZeRO, SC'20 §3.1; USP Table 2): 2-byte params,
  // gradients in the framework's accumulation dtype (Megatron-LM fp32 main grads: 4 bytes, the
  // 18 B/param of its distributed-optimizer table; DeepSpeed and NeMo's perf recipes: 2),
  // 12 bytes of fp32 master weights + Adam m + v. Pure fp32 training keeps no master copy.
  const bool fp32 = precision == Precision::kFp32 || precision == Precision::kTf32;
  const double param_bytes = fp32 ? 4 : 2;
  const double optimizer_bytes = fp32 ? 8 : 12;
  const double group = static_cast<double>(std::max<int64_t>(1, zero_group));
  memory.params += params_per_gpu * param_bytes / (zero_stage >= 3 ? group : 1.0);
  memory.grads += params_per_gpu * grad_bytes / (zero_stage >= 2 ? group : 1.0);
  memory.optimizer += params_per_gpu * optimizer_bytes / (zero_stage >= 1 ? group : 1.0);
}

}  // namespace spsim
