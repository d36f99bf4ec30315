// File-level driver of `spsim calibrate`: reads the inputs, fits, writes the calibrated topology
// atomically. Kept out of src/cli/ so the tests can call it without the binary.
#ifndef SPSIM_CALIBRATE_CALIBRATE_FILES_H_
#define SPSIM_CALIBRATE_CALIBRATE_FILES_H_

#include <string>
#include <vector>

#include "spsim/calibrate.h"

namespace spsim::detail {

struct CalibrateRequest {
  std::string base_path;                  // resolved base topology file
  std::string base_name;                  // as the user gave it (for provenance)
  std::vector<std::string> nccl_tests;    // "FILE" or "KIND=FILE"
  std::vector<std::string> microbench;    // spsim-microbench JSON files
  std::string output;                     // calibrated topology to write
  FitOptions options;
  // The measured cluster's node shape where --base's differs (0: the base's): GPUs per node,
  // NICs per node and their rate (Gb/s). The written topology carries them.
  int64_t gpus_per_node = 0, nics = 0;
  double nic_gbps = 0;
  int64_t ranks = 0;                      // group size of logs whose device lines are elided
};

/// Reads every input, fits, and writes `output` through a temporary file renamed into place:
/// on any error nothing is written. Throws InputError naming the file (and line) at fault.
CalibrationReport calibrate_files(const CalibrateRequest& request);

}  // namespace spsim::detail

#endif  // SPSIM_CALIBRATE_CALIBRATE_FILES_H_
