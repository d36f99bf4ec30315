// Weak stand-ins for interface functions that other branches implement (src/topology): they let
// the DES tests link on the des branch alone; the real, strong definitions win once merged.
// Delete this file after the merge.
#include <string>

#include "spsim/error.h"
#include "spsim/topology.h"

namespace spsim {

__attribute__((weak)) double GpuSpec::peak(Precision precision) const {
  const std::string key = to_string(precision);
  const auto it = peak_flops.find(key);
  if (it == peak_flops.end()) throw InputError("gpu.peak_flops", "no peak for " + key);
  return it->second;
}

__attribute__((weak)) const char* to_string(Precision precision) {
  switch (precision) {
    case Precision::kFp32: return "fp32";
    case Precision::kTf32: return "tf32";
    case Precision::kBf16: return "bf16";
    case Precision::kFp16: return "fp16";
    case Precision::kFp8: return "fp8";
  }
  return "?";
}

}  // namespace spsim
