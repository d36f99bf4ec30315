// Writes a calibrated topology: the base topology (read and validated by the topology loader)
// with the fitted efficiencies written over the values they replace, and a "calibration" block
// holding every collective fit and every replaced value's provenance. The output goes through
// topology_to_json and is re-read by parse_topology, so it always loads.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "spsim/calibrate.h"
#include "spsim/error.h"
#include "spsim/topology.h"
#include "spsim/units.h"

namespace spsim {

namespace {

std::string percent(double x) { return fmt::format("{:.1f}%", x * 100); }

double round_to(double x, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(x * scale) / scale;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// Efficiency against kernel size: the points binned by size (one bin per factor of 2 in
/// GFLOP), each bin's median size and median achieved/peak, rounded like the rest of the file
/// (4 significant digits, 3 decimals). Medians keep one slow shape from bending the curve; a
/// bin whose efficiency falls outside (0, 1] is left out (the scalar's check warns about it).
EfficiencyCurve efficiency_curve(const std::vector<double>& gflop, const std::vector<double>& achieved,
                                 double peak) {
  std::map<int, std::pair<std::vector<double>, std::vector<double>>> bins;
  for (size_t i = 0; i < gflop.size(); ++i) {
    if (!(gflop[i] > 0)) continue;
    auto& bin = bins[static_cast<int>(std::floor(std::log2(gflop[i])))];
    bin.first.push_back(gflop[i]);
    bin.second.push_back(achieved[i] / peak);
  }
  EfficiencyCurve curve;
  for (const auto& [index, bin] : bins) {
    EfficiencyCurve::Point p;
    p.gflop = std::strtod(fmt::format("{:.4g}", median(bin.first)).c_str(), nullptr);
    p.efficiency = round_to(median(bin.second), 3);
    if (!(p.efficiency > 0 && p.efficiency <= 1)) continue;
    if (!curve.points.empty() && !(p.gflop > curve.points.back().gflop)) continue;
    curve.points.push_back(p);
  }
  return curve;
}

/// A value about to be replaced: the topology field it lives in and its dotted file path.
struct Replacement {
  std::string key;  // "collective_efficiency.intra_node.all_gather", "gpu.gemm_efficiency"
  double* field;
  double fitted;
  std::string source;
};

const CollectiveRun* run_of(const CalibrationInputs& inputs, const CalibrationReport::Fit& f) {
  for (const auto& r : inputs.collectives) {
    if (r.file == f.file && r.kind == f.kind && r.ranks == f.ranks && r.scope() == f.scope) return &r;
  }
  return nullptr;
}

/// GPU model names in a device or datasheet name, upper case: "NVIDIA H100 80GB HBM3" -> {H100},
/// "B200-GB200-186GB" -> {B200, GB200}, "NVIDIA A100-SXM4-80GB" -> {A100}. A model is one or two
/// letters, 2-3 digits and an optional letter (A100, H800, L40S, GB200, MI300X is not NVIDIA's
/// pattern but reads the same); memory sizes (80GB) and form factors (SXM5, HBM3) do not match.
std::set<std::string> gpu_models(const std::string& name) {
  std::set<std::string> models;
  std::string token;
  const auto take = [&]() {
    size_t letters = 0;
    while (letters < token.size() && std::isalpha(static_cast<unsigned char>(token[letters]))) ++letters;
    size_t digits = letters;
    while (digits < token.size() && std::isdigit(static_cast<unsigned char>(token[digits]))) ++digits;
    const size_t tail = token.size() - digits;
    const bool tail_letter = tail == 1 && std::isalpha(static_cast<unsigned char>(token.back()));
    if (letters >= 1 && letters <= 2 && digits - letters >= 2 && digits - letters <= 3 &&
        (tail == 0 || tail_letter)) {
      models.insert(token);
    }
    token.clear();
  };
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      token += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    } else {
      take();
    }
  }
  take();
  return models;
}

bool contains_upper(const std::string& text, const std::string& word) {
  std::string upper;
  for (char c : text) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return upper.find(word) != std::string::npos;
}

/// A log measured on another machine than --base describes would be fitted against the wrong line
/// rates (issue 16, S11: a 4-GPU x 200 Gb/s log on the 8-GPU x 400 Gb/s dgx-h100 base halved the
/// inter-node efficiency, 0.485 instead of 0.970, without a word). What nccl-tests prints is
/// checked: the GPU model of the rank lines and the ranks per host. (NIC speed is not in its
/// output: the replaced line names the base's NIC rate used.)
void check_log_matches_base(const CollectiveRun& run, const Topology& t, const std::string& base_name) {
  if (!run.gpu_name.empty()) {
    const auto measured = gpu_models(run.gpu_name), base = gpu_models(t.gpu.name);
    bool same = measured.empty() || base.empty();
    for (const auto& m : measured) same = same || base.count(m) > 0;
    const bool pcie_on_sxm = contains_upper(run.gpu_name, "PCIE") && contains_upper(t.gpu.name, "SXM");
    if (!same || pcie_on_sxm) {
      throw InputError(run.file, fmt::format("the ranks ran on {}, but --base {} has {} GPUs; calibrate "
                                             "on a base topology with the measured GPU (spsim list "
                                             "topologies, or a copy with its gpu block changed)",
                                             run.gpu_name, base_name, t.gpu.name));
    }
  }
  if (run.hosts.empty() || run.ranks_per_node <= 0) return;  // device lines elided: no host layout
  if (run.ranks_per_node > t.gpus_per_node) {
    throw InputError(run.file, fmt::format("{} ranks ran on one host, but --base {} has {} GPUs per node; "
                                           "calibrate on a base topology with {} GPUs per node",
                                           run.ranks_per_node, base_name, t.gpus_per_node,
                                           run.ranks_per_node));
  }
  if (run.scope() == "inter_node" && run.ranks_per_node != t.gpus_per_node) {
    throw InputError(run.file, fmt::format(
        "{} ranks per host across {} hosts, but --base {} has {} GPUs per node: its inter-node line "
        "rate is the node's NICs shared by {} GPUs; calibrate on a base with {} GPUs per node and "
        "that node's NICs, or rerun nccl-tests with {} ranks per host",
        run.ranks_per_node, run.hosts.size(), base_name, t.gpus_per_node, t.gpus_per_node,
        run.ranks_per_node, t.gpus_per_node));
  }
}

// A log whose device lines were elided knows its rank count (from busbw/algbw or --ranks) but not
// its hosts: the ranks are taken as --base lays them out, and the output says so.
void lay_out_elided(CollectiveRun& run, const Topology& t, const std::string& base_name,
                    CalibrationReport& report) {
  if (run.ranks_per_node > 0 || run.listed_ranks == 0) return;
  const int64_t per_node = std::max<int64_t>(1, std::min<int64_t>(run.ranks, t.gpus_per_node));
  const int64_t hosts = (run.ranks + per_node - 1) / per_node;
  run.ranks_per_node = per_node;
  for (int64_t h = 0; h < hosts; ++h) run.hosts.push_back(fmt::format("unlisted-{}", h));
  report.lines.push_back(fmt::format("{}: the log lists {} of {} ranks' device lines; taken as {} per host, "
                                     "as --base {} has, on {} host(s) (--gpus-per-node sets another shape)",
                                     run.file, run.listed_ranks, run.ranks, per_node, base_name, hosts));
}

}  // namespace

CalibrationReport calibrate_topology(const std::string& base_json,
                                     const std::string& base_display_name,
                                     const CalibrationInputs& inputs, const FitOptions& options) {
  Topology t = parse_topology(base_json, base_display_name);
  if (inputs.collectives.empty() && inputs.gemm.empty() && inputs.attention.empty() &&
      inputs.memory.empty()) {
    throw InputError("calibrate", "no measurements given; pass --nccl-tests and/or --microbench");
  }
  CalibrationReport report;
  if (!t.fits.empty() || !t.replaced.empty()) {
    report.warnings.push_back(fmt::format("{}: already calibrated; its \"calibration\" block is "
                                          "replaced (fits from it are not kept, replaced values "
                                          "stay as the new base)",
                                          base_display_name));
    t.fits.clear();
    t.replaced.clear();
  }
  std::vector<Replacement> replacements;
  CalibrationInputs measured = inputs;  // elided logs get --base's host layout
  for (auto& run : measured.collectives) lay_out_elided(run, t, base_display_name, report);
  for (const auto& run : measured.collectives) check_log_matches_base(run, t, base_display_name);

  // --- Collectives: one alpha-beta fit per run.
  for (const auto& run : measured.collectives) {
    std::vector<SizeTime> samples;
    for (const auto& p : run.points) {
      samples.push_back({static_cast<double>(p.bytes), p.time_us * kMicro});
    }
    CalibrationReport::Fit f;
    f.kind = run.kind;
    f.scope = run.scope();
    f.ranks = run.ranks;
    f.hosts = static_cast<int64_t>(std::max<size_t>(1, run.hosts.size()));
    f.file = run.file;
    if (run.ranks < 2) {
      report.warnings.push_back(fmt::format("{}: {} over 1 rank moves no data; skipped", run.file,
                                            run.kind));
      continue;
    }
    try {
      f.fit = fit_alpha_beta(samples, busbw_factor(run.kind, run.ranks), options);
    } catch (const InputError& e) {
      throw InputError(run.file, fmt::format("{} fit: {}", run.test_name, e.what()));
    }
    for (const auto& w : f.fit.warnings) {
      report.warnings.push_back(fmt::format("{} ({} {} ranks): {}", run.file, run.kind, run.ranks, w));
    }
    report.collective_fits.push_back(std::move(f));
  }
  // Deterministic order; one fit per (kind, scope, group size), as the topology loader requires.
  std::stable_sort(report.collective_fits.begin(), report.collective_fits.end(),
                   [](const CalibrationReport::Fit& x, const CalibrationReport::Fit& y) {
                     return std::tie(x.kind, x.scope, x.ranks, x.hosts, x.file) <
                            std::tie(y.kind, y.scope, y.ranks, y.hosts, y.file);
                   });
  std::map<std::string, size_t> written;  // "kind/scope/n" -> index into report.collective_fits
  for (size_t i = 0; i < report.collective_fits.size(); ++i) {
    const auto& f = report.collective_fits[i];
    const std::string key = fmt::format("{}/{}/{}", f.kind, f.scope, f.ranks);
    if (f.fit.points_in_range == 0) {
      report.warnings.push_back(fmt::format("{}: {} {} ranks not written: the fit holds nowhere",
                                            f.file, f.kind, f.ranks));
      continue;
    }
    if (f.scope == "intra_node" && f.ranks > t.gpus_per_node) {
      report.warnings.push_back(fmt::format(
          "{}: {} over {} ranks on one host does not fit {}'s {} GPUs per node; not written "
          "(calibrate against a topology with the measured node size)",
          f.file, f.kind, f.ranks, base_display_name, t.gpus_per_node));
      continue;
    }
    if (written.count(key)) {
      const auto& kept = report.collective_fits[written[key]];
      report.warnings.push_back(fmt::format(
          "{}: {} {} over {} ranks duplicates the fit from {} (one per kind, scope and group "
          "size is written: the first in sorted order)",
          f.file, f.kind, f.scope, f.ranks, kept.file));
      continue;
    }
    written[key] = i;
    const CollectiveRun* run = run_of(measured, f);
    std::string source = fmt::format("fit of {} ({} ranks on {} host(s), {} per host", run->test_name,
                                     f.ranks, f.hosts, run->ranks_per_node);
    if (!run->gpu_name.empty()) source += ", " + run->gpu_name;
    if (!run->nccl_version.empty()) source += ", NCCL " + run->nccl_version;
    source += fmt::format(") from {}; rel err max {} median {} over {} points", f.file,
                          percent(f.fit.max_rel_err), percent(f.fit.median_rel_err),
                          f.fit.points_in_range);
    if (!f.fit.alpha_measured) source += "; alpha extrapolated (no latency-bound sizes)";
    if (!run->source_note.empty()) source += "; " + run->source_note;
    CollectiveFit fit;
    fit.kind = f.kind;
    fit.scope = f.scope;
    fit.group_size = static_cast<int>(f.ranks);
    fit.alpha_s = round_to(f.fit.alpha_s / kMicro, 3) * kMicro;
    fit.busbw = round_to(f.fit.busbw / kGB, 2) * kGB;
    fit.min_bytes = f.fit.min_bytes;
    fit.max_bytes = f.fit.max_bytes;
    fit.source = source;
    t.fits.push_back(fit);
  }

  // --- Collective efficiencies: fitted busbw / the line rate spsim's default model divides by
  // (src/collective/collective_cost.cc), so that the default model reproduces the fitted busbw
  // for the measured shape. Per (scope, kind) the fit over the most ranks is used.
  std::map<std::string, size_t> best;  // "scope.kind" -> fit index
  for (const auto& [key, i] : written) {
    const auto& f = report.collective_fits[i];
    const std::string sk = f.scope + "." + f.kind;
    if (!best.count(sk) || report.collective_fits[best[sk]].ranks < f.ranks) best[sk] = i;
  }
  const double nic_per_gpu = t.nic_bandwidth_per_gpu();
  for (const auto& [sk, i] : best) {
    const auto& f = report.collective_fits[i];
    const CollectiveRun* run = run_of(measured, f);
    double line_rate = 0;
    std::string rule;
    if (f.scope == "intra_node") {
      line_rate = t.intra_node_bandwidth;
      rule = fmt::format("node.bandwidth_GBps = {:.1f} GB/s", line_rate / kGB);
    } else if (nic_per_gpu > 0) {
      const double n = static_cast<double>(f.ranks);
      const double k = static_cast<double>(run->ranks_per_node);
      if (f.kind == "all_to_all") {
        // The off-node share (n-k)/(n-1) leaves through the GPU's own NIC share: busbw =
        // (n-1)/(n-k) x NIC-per-GPU x efficiency (N/(N-1) for N nodes, nccl-tests#130).
        line_rate = nic_per_gpu * (n - 1) / (n - k);
        rule = fmt::format("per-GPU NIC {:.1f} GB/s x (n-1)/(n-k), n = {}, k = {}",
                           nic_per_gpu / kGB, f.ranks, run->ranks_per_node);
      } else if (f.kind == "send_recv") {
        line_rate = nic_per_gpu;
        rule = fmt::format("per-GPU NIC {:.1f} GB/s", nic_per_gpu / kGB);
      } else {
        // A ring crosses each node boundary on the k NICs of the group's k GPUs on a node.
        line_rate = k * nic_per_gpu;
        rule = fmt::format("{} ranks/node x per-GPU NIC {:.1f} GB/s", run->ranks_per_node,
                           nic_per_gpu / kGB);
        if (line_rate > t.intra_node_bandwidth) {
          report.warnings.push_back(fmt::format(
              "{}: {} across nodes is NVLink-bound in the model ({} > node bandwidth); "
              "collective_efficiency.inter_node.{} is set from the network rate anyway",
              f.file, f.kind, rule, f.kind));
        }
      }
    }
    const std::string key = "collective_efficiency." + sk;
    if (!(line_rate > 0)) {
      report.warnings.push_back(fmt::format("{}: has no NICs, so {} is not replaced",
                                            base_display_name, key));
      continue;
    }
    const double efficiency = round_to(f.fit.busbw / line_rate, 3);
    if (efficiency > 1.0) {
      report.warnings.push_back(fmt::format(
          "{}: fitted busbw {:.1f} GB/s exceeds the line rate ({}): NCCL used NVLS/tree, whose "
          "busbw is not a wire bandwidth (nccl-tests#212); {} not replaced, the fit stays in "
          "calibration.collective_fits (rerun with NCCL_ALGO=Ring to measure the links)",
          f.file, f.fit.busbw / kGB, rule, key));
      continue;
    }
    if (f.scope == "inter_node" && efficiency < 0.5) {
      // nccl-tests prints no NIC speed; a ring reaching under half the line rate most often means
      // --base's NICs are faster or more than the cluster's.
      report.warnings.push_back(fmt::format(
          "{}: fitted busbw {:.1f} GB/s is {:.0f} % of the line rate ({}): if the cluster's NICs are "
          "fewer or slower than --base {}'s ({} x {:.0f} Gb/s per node), give --nics / --nic-gbps",
          f.file, f.fit.busbw / kGB, efficiency * 100, rule, base_display_name, t.nics_per_node,
          t.nic_bandwidth * 8 / 1e9));
    }
    if (!(efficiency > 0)) {
      report.warnings.push_back(fmt::format("{}: fitted busbw {:.3f} GB/s rounds to efficiency 0; "
                                            "{} not replaced", f.file, f.fit.busbw / kGB, key));
      continue;
    }
    replacements.push_back({key, &t.efficiency.collective[f.scope][f.kind], efficiency,
                            fmt::format("fitted busbw {:.2f} GB/s / line rate ({}) from {}",
                                        f.fit.busbw / kGB, rule, f.file)});
  }

  // --- Kernel efficiencies: achieved / datasheet peak. The scalar is the median over the
  // larger half (by FLOP or bytes) of the points, where kernels approach steady state; the whole
  // curve is printed.
  const std::string input_note =
      inputs.provenance.empty() ? std::string("microbenchmark") : inputs.provenance.back();
  auto kernel_efficiency = [&](const std::string& what, const std::string& key, double* field,
                               const std::vector<double>& work, const std::vector<double>& achieved,
                               double peak, const std::string& peak_text, const std::string& unit,
                               EfficiencyCurve* fitted_curve = nullptr, const std::string& dtype = "") {
    if (work.empty()) return;
    if (fitted_curve != nullptr) {
      *fitted_curve = efficiency_curve(work, achieved, peak);
      if (fitted_curve->points.size() < 2) {
        fitted_curve->points.clear();  // one size measured: the scalar says the same
      } else {
        fitted_curve->dtype = dtype;
        fitted_curve->source = fmt::format("median achieved/peak per factor-2 size bin of {} {} points ({}); {}",
                                    work.size(), what, peak_text, input_note);
        std::string text;
        for (const auto& p : fitted_curve->points) text += fmt::format(" {}GF:{}", p.gflop, p.efficiency);
        report.lines.push_back(fmt::format("gpu.{}_efficiency_curve: {} points:{}", what, fitted_curve->points.size(), text));
      }
    }
    std::vector<size_t> idx(work.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return work[a] < work[b]; });
    std::vector<double> large;
    for (size_t j = idx.size() / 2; j < idx.size(); ++j) large.push_back(achieved[idx[j]] / peak);
    const double eff = round_to(median(large), 3);
    std::string curve;
    for (size_t j : idx) curve += fmt::format(" {:.4g}{}:{:.3f}", work[j], unit, achieved[j] / peak);
    report.lines.push_back(fmt::format("{} efficiency curve (size:achieved/peak, {}):{}", what,
                                       peak_text, curve));
    if (!(eff > 0 && eff <= 1)) {
      report.warnings.push_back(fmt::format("{} efficiency {:.3f} is outside (0, 1]: the peak ({}) "
                                            "or the measurement is wrong; {} not replaced",
                                            what, eff, peak_text, key));
      return;
    }
    replacements.push_back(
        {key, field, eff,
         fmt::format("median achieved/peak over the {} largest of {} {} points ({}); {}",
                     large.size(), work.size(), what, peak_text, input_note)});
  };
  auto dtype_of = [](const auto& points) {
    // bf16 if measured (spsim's default training precision), else the first dtype.
    std::string dtype = points.front().dtype;
    for (const auto& p : points) {
      if (p.dtype == "bf16") dtype = "bf16";
    }
    return dtype;
  };
  auto peak_of = [&](const std::string& dtype, const std::string& what) -> double {
    const auto it = t.gpu.peak_flops.find(dtype);
    if (it == t.gpu.peak_flops.end()) {
      report.warnings.push_back(fmt::format("{}: no {} peak in gpu.peak_tflops; {} efficiency not "
                                            "computed", base_display_name, dtype, what));
      return 0;
    }
    return it->second;
  };
  if (!inputs.gemm.empty()) {
    const std::string dtype = dtype_of(inputs.gemm);
    if (const double peak = peak_of(dtype, "gemm"); peak > 0) {
      std::vector<double> work, achieved;
      for (const auto& g : inputs.gemm) {
        if (g.dtype != dtype) continue;
        work.push_back(g.flops() / 1e9);
        achieved.push_back(g.flops() / (g.time_us * kMicro));
      }
      // The fitted plateau replaces the kernel model's GEMM efficiency of this dtype; the curve
      // (size-dependent) overrides the whole GEMM timing where present.
      KernelTiming& timing = t.efficiency.kernels.gemm[dtype == "fp16" ? "bf16" : dtype];
      kernel_efficiency("gemm", fmt::format("gpu.kernels.gemm.{}.efficiency", dtype == "fp16" ? "bf16" : dtype),
                        &timing.efficiency, work, achieved, peak,
                        fmt::format("{} peak {:.1f} TFLOP/s", dtype, peak / 1e12), "GF",
                        &t.efficiency.gemm_curve, dtype);
    }
  }
  if (!inputs.attention.empty()) {
    const std::string dtype = dtype_of(inputs.attention);
    if (const double peak = peak_of(dtype, "attention"); peak > 0) {
      std::vector<double> work, achieved;
      for (const auto& a : inputs.attention) {
        if (a.dtype != dtype) continue;
        work.push_back(a.flops() / 1e9);
        achieved.push_back(a.flops() / (a.time_us * kMicro));
      }
      // spsim-microbench times cuDNN's SDPA (the kernel TransformerEngine runs): its forward
      // plateau; the fitted curve overrides every attention call where present.
      kernel_efficiency("attention", "gpu.kernels.attention.cudnn.fwd.efficiency",
                        &t.efficiency.kernels.attention["cudnn"].fwd.efficiency, work,
                        achieved, peak,
                        fmt::format("{} peak {:.1f} TFLOP/s, FlashAttention FLOP convention", dtype,
                                    peak / 1e12), "GF", &t.efficiency.attention_curve, dtype);
    }
  }
  if (!inputs.memory.empty()) {
    std::vector<double> work, achieved;
    for (const auto& m : inputs.memory) {
      work.push_back(static_cast<double>(m.bytes) / kMiB);
      // A device-to-device copy reads and writes every byte.
      achieved.push_back(2.0 * static_cast<double>(m.bytes) / (m.time_us * kMicro));
    }
    // A device-to-device copy is the best case of a fused elementwise kernel.
    kernel_efficiency("memory", "gpu.kernels.elementwise.fused.efficiency",
                      &t.efficiency.kernels.elementwise["fused"].efficiency, work, achieved,
                      t.gpu.hbm_bandwidth,
                      fmt::format("HBM {:.0f} GB/s, a copy moves 2x its bytes",
                                  t.gpu.hbm_bandwidth / kGB), "MiB");
  }

  // --- Apply the replacements, record them sorted by key (the loader's order).
  std::sort(replacements.begin(), replacements.end(),
            [](const Replacement& a, const Replacement& b) { return a.key < b.key; });
  for (const auto& r : replacements) {
    t.replaced.push_back({r.key, *r.field, r.fitted, r.source});
    report.lines.push_back(fmt::format("replaced {}: {} -> {} ({})", r.key, *r.field, r.fitted,
                                       r.source));
    *r.field = r.fitted;
  }
  // What stays the base's datasheet value: a job whose collectives fall there is not calibrated
  // (one node measured, then a 64-GPU Ulysses run: its inter-node all-to-all is not).
  std::set<std::string> replaced_keys;
  for (const auto& r : replacements) replaced_keys.insert(r.key);
  for (const char* scope : {"intra_node", "inter_node"}) {
    std::string kept;
    for (const char* kind : kCollectiveKinds) {
      if (!replaced_keys.count(fmt::format("collective_efficiency.{}.{}", scope, kind))) {
        kept += fmt::format("{}{}", kept.empty() ? "" : ", ", kind);
      }
    }
    if (!kept.empty()) {
      report.lines.push_back(fmt::format("not calibrated, {} kept from {}: {} {}", 
                                         kept.find(',') == std::string::npos ? "efficiency" : "efficiencies",
                                         base_display_name, scope, kept));
    }
  }
  std::string provenance = "spsim calibrate on base " + base_display_name;
  for (const auto& p : inputs.provenance) provenance += "; " + p;
  t.provenance = provenance;
  if (t.name.find("-calibrated") == std::string::npos) t.name += "-calibrated";
  report.json = topology_to_json(t);
  // The output must load: re-read it with the same rules as `spsim run --topology`.
  parse_topology(report.json, "calibrated topology");
  return report;
}

}  // namespace spsim
