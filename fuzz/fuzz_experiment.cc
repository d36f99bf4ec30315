// Experiment files (--config): the run part (model, topology, engine, overrides, job) and the
// sweep block, as `spsim run --config` and `spsim sweep --config` read them.
#include "cli/job_options.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text = spsim::fuzz::text_of(data, size);
  spsim::fuzz::expect_input_errors_only([&] { spsim::cli::check_experiment(text, "fuzz.json"); });
  spsim::fuzz::expect_input_errors_only([&] { spsim::cli::check_sweep_block(text, "fuzz.json"); });
  return 0;
}
