// spsim-microbench JSON (read_microbench_json), then the calibration fits of what was accepted.
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spsim::fuzz::expect_input_errors_only([&] {
    const spsim::MicrobenchResults results =
        spsim::read_microbench_json(spsim::fuzz::text_of(data, size), "fuzz.json");
    spsim::CalibrationInputs inputs;
    inputs.collectives = results.collectives;
    inputs.gemm = results.gemm;
    inputs.attention = results.attention;
    inputs.memory = results.memory;
    spsim::fuzz::calibrate_on_dgx_h100(inputs);
  });
  return 0;
}
