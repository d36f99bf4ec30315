#include "calibrate/calibrate_files.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <system_error>

#include <fmt/format.h>

#include "common/json_reader.h"
#include "spsim/error.h"

namespace spsim::detail {

namespace fs = std::filesystem;

void write_file_atomically(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError(path, "cannot create the output file; check the folder exists and is writable");
    out << text;
    out.flush();
    if (!out) {
      std::error_code ec;
      fs::remove(temp, ec);
      throw InputError(path, "cannot write the output file (disk full?)");
    }
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) {
    fs::remove(temp, ec);
    throw InputError(path, fmt::format("cannot move the output into place: {}", ec.message()));
  }
}

CalibrationReport calibrate_files(const CalibrateRequest& request) {
  if (request.output.empty()) throw InputError("-o", "an output file is required");
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
