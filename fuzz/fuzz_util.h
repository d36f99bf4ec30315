// Shared by the libFuzzer targets: a loader may throw InputError (bad input, the normal outcome)
// and nothing else. Any other exception, a crash, a sanitizer report, a hang or a blow-up in
// memory is a finding.
#ifndef SPSIM_FUZZ_FUZZ_UTIL_H_
#define SPSIM_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/json_reader.h"
#include "spsim/calibrate.h"
#include "spsim/error.h"

namespace spsim::fuzz {

inline std::string text_of(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

/// Runs `load` and swallows InputError; everything else propagates and libFuzzer reports it.
template <typename Load>
void expect_input_errors_only(Load&& load) {
  try {
    load();
  } catch (const InputError&) {
  }
}

/// Fits `inputs` onto the shipped DGX-H100 topology, as `spsim calibrate --base dgx-h100` does.
inline void calibrate_on_dgx_h100(const CalibrationInputs& inputs) {
  static const std::string base =
      detail::read_file(std::string(SPSIM_SOURCE_DATA_DIR) + "/topologies/dgx-h100.json");
  calibrate_topology(base, "dgx-h100", inputs);
}

}  // namespace spsim::fuzz

#endif  // SPSIM_FUZZ_FUZZ_UTIL_H_
