#include "calibrate/calibrate_files.h"

#include <cstdio>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/json_reader.h"
#include "spsim/error.h"
#include "common/atomic_write.h"
#include "spsim/report.h"

namespace spsim::detail {

namespace fs = std::filesystem;

namespace {

// The base topology with the measured cluster's node shape (--gpus-per-node, --nics,
// --nic-gbps), so a cluster that is not shipped gets its own file: the line rates the fits are
// divided by are then that cluster's. The loader checks the result like any topology file.
std::string with_node_shape(const std::string& base_text, const CalibrateRequest& request,
                            std::vector<std::string>& lines) {
  nlohmann::json base = parse_json(base_text, request.base_name);
  if (!base.is_object() || !base.contains("node") || !base["node"].is_object()) {
    throw InputError("--base", fmt::format("{} has no \"node\" object to give --gpus-per-node to", request.base_name));
  }
  std::vector<std::string> changed;
  auto set = [&](nlohmann::json& object, const char* key, const nlohmann::json& value, const std::string& what) {
    const std::string before = object.contains(key) ? object[key].dump() : "none";
    object[key] = value;
    changed.push_back(fmt::format("{} {} (base {})", what, value.dump(), before));
  };
  if (request.gpus_per_node > 0) set(base["node"], "gpus", request.gpus_per_node, "GPUs per node");
  if (request.nics > 0 || request.nic_gbps > 0) {
    if (!base.contains("network") || !base["network"].is_object()) {
      throw InputError("--nics", fmt::format("{} has no \"network\" object; calibrate on a base with a "
                                             "network (spsim list topologies)",
                                             request.base_name));
    }
    if (request.nics > 0) set(base["network"], "nics_per_node", request.nics, "NICs per node");
    if (request.nic_gbps > 0) set(base["network"], "nic_bandwidth_Gbps", request.nic_gbps, "Gb/s per NIC");
  }
  std::string note;
  for (const auto& c : changed) note += (note.empty() ? "" : ", ") + c;
  const std::string description = base.value("description", std::string());
  base["description"] = description + (description.empty() ? "" : "; ") +
                        "node shape from spsim calibrate: " + note;
  lines.push_back(fmt::format("node shape set on {}: {}", request.base_name, note));
  return base.dump(2);
}

}  // namespace

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
    auto runs = read_nccl_tests_log(read_file(path), path, kind, request.ranks);
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
  std::string base_text = read_file(request.base_path);
  std::vector<std::string> shape_lines;
  if (request.gpus_per_node > 0 || request.nics > 0 || request.nic_gbps > 0) {
    base_text = with_node_shape(base_text, request, shape_lines);
  }
  CalibrationReport report = calibrate_topology(base_text, request.base_name, inputs, request.options);
  report.lines.insert(report.lines.begin(), shape_lines.begin(), shape_lines.end());
  write_file_atomically(request.output, report.json);
  return report;
}

}  // namespace spsim::detail
