#include <fmt/format.h>

#include "spsim/error.h"
#include "spsim/model.h"

namespace spsim {

int activation_bytes(Precision precision) {
  return precision == Precision::kFp32 || precision == Precision::kTf32 ? 4 : 2;
}

Precision parse_precision(const std::string& text, const std::string& where) {
  if (text == "fp32") return Precision::kFp32;
  if (text == "tf32") return Precision::kTf32;
  if (text == "bf16") return Precision::kBf16;
  if (text == "fp16") return Precision::kFp16;
  if (text == "fp8") return Precision::kFp8;
  throw InputError(where, fmt::format("unknown precision \"{}\"; use fp32, tf32, bf16, fp16 or fp8", text));
}

const char* to_string(Precision precision) {
  switch (precision) {
    case Precision::kFp32: return "fp32";
    case Precision::kTf32: return "tf32";
    case Precision::kBf16: return "bf16";
    case Precision::kFp16: return "fp16";
    case Precision::kFp8: return "fp8";
  }
  return "?";
}

Recompute parse_recompute(const std::string& text, const std::string& where) {
  if (text == "none") return Recompute::kNone;
  if (text == "selective") return Recompute::kSelective;
  if (text == "full") return Recompute::kFull;
  if (text == "op") return Recompute::kOp;
  throw InputError(where,
                   fmt::format("unknown recompute granularity \"{}\"; use none, selective, full or op", text));
}

const char* to_string(Recompute recompute) {
  switch (recompute) {
    case Recompute::kNone: return "none";
    case Recompute::kSelective: return "selective";
    case Recompute::kFull: return "full";
    case Recompute::kOp: return "op";
  }
  return "?";
}

const char* to_string(OpClass op_class) {
  switch (op_class) {
    case OpClass::kGemm: return "gemm";
    case OpClass::kAttention: return "attention";
    case OpClass::kMemoryBound: return "memory";
    case OpClass::kHostMemory: return "host_memory";
    case OpClass::kHostLink: return "host_link";
  }
  return "?";
}

}  // namespace spsim
