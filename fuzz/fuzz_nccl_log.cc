// nccl-tests output (text logs and -J JSON), with and without a KIND= name, then the alpha-beta
// fits of every run that was read, as `spsim calibrate --nccl-tests` does.
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = spsim::fuzz::text_of(data, size);
  for (const char* kind : {"", "all_to_all"}) {
    spsim::fuzz::expect_input_errors_only([&] {
      spsim::CalibrationInputs inputs;
      inputs.collectives = spsim::read_nccl_tests_log(text, "fuzz.log", kind);
      spsim::fuzz::calibrate_on_dgx_h100(inputs);
    });
  }
  return 0;
}
