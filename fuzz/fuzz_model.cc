// Model files: spsim's strict format and HuggingFace config.json (parse_model), then the
// parameter counts of whatever was accepted.
#include "fuzz_util.h"
#include "spsim/model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  spsim::fuzz::expect_input_errors_only([&] {
    const spsim::ModelSpec model = spsim::parse_model(spsim::fuzz::text_of(data, size), "fuzz.json");
    if (model.total_params() <= 0) __builtin_trap();  // an accepted model has parameters
  });
  return 0;
}
