#include "calibrate/calibrate_files.h"

#include <cstdio>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "common/json_reader.h"
#include "spsim/error.h"
#include "common/atomic_write.h"
#include "spsim/report.h"

namespace spsim::detail {

namespace fs = std::filesystem;

CalibrationReport calibrate_files(const CalibrateRequest& request) {
  if (request.output.empty()) throw InputError("-o", "an output file is required");
  check_output_path(request.output);  // a bad -o fails before the fits
  CalibrationInputs inputs;
  for (const auto& spec : request.nccl_tests) {
    std::string kind, path = spec;
    const auto eq = spec.find('=');
    if (eq != std::string::npos && !fs::exists(spec)) {
      kind = spec.substr(0, eq);
      path = spec.substr(eq + 1);
    }
    auto runs = read_nccl_tests_log(read_file(path), path, kind);
    int rows = 0;
    for (auto& run : runs) {
      rows += static_cast<int>(run.points.size());
      inputs.collectives.push_back(std::move(run));
    }
    inputs.provenance.push_back(fmt::format("{} ({} test(s), {} points)", path, runs.size(), rows));
  }
  for (const auto& path : request.microbench) {
    MicrobenchResults r = read_microbench_json(read_file(path), path);
    for (auto& run : r.collectives) inputs.collectives.push_back(std::move(run));
    inputs.gemm.insert(inputs.gemm.end(), r.gemm.begin(), r.gemm.end());
    inputs.attention.insert(inputs.attention.end(), r.attention.begin(), r.attention.end());
    inputs.memory.insert(inputs.memory.end(), r.memory.begin(), r.memory.end());
    inputs.provenance.push_back(fmt::format("{}: {}", path, r.provenance));
  }
  const std::string base_text = read_file(request.base_path);
  CalibrationReport report = calibrate_topology(base_text, request.base_name, inputs, request.options);
  write_file_atomically(request.output, report.json);
  return report;
}

}  // namespace spsim::detail
