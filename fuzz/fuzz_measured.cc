// A measured run for `spsim compare --measured`: step-time lists, Megatron-LM and NeMo logs, and
// PyTorch profiler (Kineto) traces, with and without warm-up steps skipped.
#include "fuzz_util.h"
#include "spsim/measured_step.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = spsim::fuzz::text_of(data, size);
  for (int64_t skip : {0, 1}) {
    spsim::fuzz::expect_input_errors_only([&] { spsim::parse_measured_step(text, "fuzz.trace", skip); });
  }
  return 0;
}
