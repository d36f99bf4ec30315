// `spsim calibrate`: nccl-tests logs and spsim-microbench JSON -> calibrated topology.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "calibrate/calibrate_files.h"
#include "cli/commands.h"
#include "cli/flag_checks.h"
#include "common/data_dir.h"
#include "spsim/limits.h"
#include "spsim/units.h"

namespace spsim::cli {

namespace {

struct CalibrateOptions {
  std::string base;
  std::vector<std::string> nccl_tests;
  std::vector<std::string> microbench;
  std::string output;
  double tolerance = 0.10;
  int64_t gpus_per_node = 0, nics = 0, ranks = 0;
  double nic_gbps = 0;
};

/// "256MiB", "16KiB", "100 B": binary suffixes as nccl-tests' -b/-e.
std::string size_text(double bytes) {
  const std::string count = format_count(static_cast<int64_t>(bytes));
  return count.back() >= '0' && count.back() <= '9' ? count + " B" : count + "iB";
}

void run(const CalibrateOptions& o) {
  detail::CalibrateRequest request;
  request.base_path = detail::resolve_data_file(o.base, "topologies", "--base");
  request.base_name = o.base;
  request.nccl_tests = o.nccl_tests;
  request.microbench = o.microbench;
  request.output = o.output;
  request.options.tolerance = o.tolerance;
  request.gpus_per_node = o.gpus_per_node;
  request.nics = o.nics;
  request.nic_gbps = o.nic_gbps;
  request.ranks = o.ranks;
  const CalibrationReport report = detail::calibrate_files(request);
  for (const auto& f : report.collective_fits) {
    std::string range = f.fit.points_in_range > 0
                            ? fmt::format("holds {}..{}", size_text(f.fit.min_bytes),
                                          size_text(f.fit.max_bytes))
                            : std::string("holds nowhere");
    fmt::print("{:<14} {:<10} {:>3} ranks {:>2} host(s): alpha {:8.2f} us{} busbw {:8.2f} GB/s, "
               "{}, rel err max {:.1f}% median {:.1f}% ({} points)  [{}]\n",
               f.kind, f.scope, f.ranks, f.hosts, f.fit.alpha_s * 1e6,
               f.fit.alpha_measured ? " " : "*", f.fit.busbw / 1e9, range,
               f.fit.max_rel_err * 100, f.fit.median_rel_err * 100, f.fit.points_in_range, f.file);
  }
  for (const auto& line : report.lines) fmt::print("{}\n", line);
  for (const auto& w : report.warnings) fmt::print(stderr, "warning: {}\n", w);
  fmt::print("wrote {}{}\n", o.output,
             report.collective_fits.empty() ? "" : "  (* = alpha extrapolated, not measured)");
}

}  // namespace

void add_calibrate_command(CLI::App& app) {
  auto options = std::make_shared<CalibrateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate", "Fit nccl-tests logs / spsim-microbench JSON into a calibrated topology");
  cmd->add_option("--base", options->base,
                  "base topology: a shipped name (dgx-h100) or a path")->required();
  cmd->add_option("--nccl-tests", options->nccl_tests,
                  "nccl-tests output (text log or -J JSON); KIND=FILE names the collective "
                  "when the log does not (all_gather, reduce_scatter, all_reduce, all_to_all, "
                  "send_recv)");
  cmd->add_option("--microbench", options->microbench, "spsim-microbench JSON output");
  cmd->add_option("-o,--output", options->output, "calibrated topology to write")->required();
  cmd->add_option("--tolerance", options->tolerance,
                  "relative error that bounds each fit's reported size range (default 0.10)")
      ->check(finite_number(0.001, 1.0));
  cmd->add_option("--gpus-per-node", options->gpus_per_node,
                  "the measured cluster's GPUs per node, where --base's differ (the written topology has them)")
      ->check(whole_number(1, kMaxGpus));
  cmd->add_option("--nics", options->nics, "the measured cluster's NICs per node, where --base's differ")
      ->check(whole_number(1, kMaxGpus));
  cmd->add_option("--nic-gbps", options->nic_gbps, "the measured cluster's rate per NIC in Gb/s (200, 400), "
                  "where --base's differs")
      ->check(finite_number(1, 1e6));
  cmd->add_option("--ranks", options->ranks,
                  "group size of nccl-tests logs whose \"# Rank\" device lines are elided or cut (default: "
                  "from busbw/algbw when one count fits)")
      ->check(whole_number(1, kMaxGpus));
  cmd->footer(
      "Examples:\n"
      "  spsim calibrate --base dgx-h100 --nccl-tests all_gather_perf.log --nccl-tests alltoall_perf.log \\\n"
      "                  --microbench gemm.json -o topologies/my-cluster.json\n"
      "  spsim calibrate --base dgx-h100 --nccl-tests all_to_all=alltoall.log -o mine.json --tolerance 0.05\n"
      "  spsim calibrate --base dgx-h100 --gpus-per-node 4 --nics 4 --nic-gbps 200 \\\n"
      "                  --nccl-tests all_gather_2node.log -o my-4gpu-cluster.json");
  cmd->callback([options] { run(*options); });
}

}  // namespace spsim::cli
