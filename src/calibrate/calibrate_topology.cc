// Writes a calibrated topology: the base file's JSON, the fitted efficiencies written over the
// values they replace, and a "calibration" block with every fit and every replaced value's
// provenance. Works on the JSON itself so that every field of the base file survives unchanged.
#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/json_reader.h"
#include "spsim/calibrate.h"
#include "spsim/error.h"
#include "spsim/units.h"

namespace spsim {

namespace {

using nlohmann::json;

/// A numeric value of the base file, with its dotted path ("efficiency.collective.intra_node.x").
struct Leaf {
  std::string path;
  std::vector<std::string> parts;
  json::json_pointer pointer;
  double value = 0;
};

void collect_leaves(const json& j, std::vector<std::string>& parts, const json::json_pointer& ptr,
                    std::vector<Leaf>& out) {
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) {  // nlohmann::json keeps keys sorted
      if (key == "calibration") continue;
      parts.push_back(key);
      collect_leaves(value, parts, ptr / key, out);
      parts.pop_back();
    }
  } else if (j.is_number()) {
    Leaf leaf;
    leaf.parts = parts;
    for (size_t i = 0; i < parts.size(); ++i) leaf.path += (i ? "." : "") + parts[i];
    leaf.pointer = ptr;
    leaf.value = j.get<double>();
    out.push_back(std::move(leaf));
  }
}

bool contains(const std::string& s, const std::string& what) {
  return s.find(what) != std::string::npos;
}

bool path_has(const Leaf& leaf, const std::string& what) {
  return std::any_of(leaf.parts.begin(), leaf.parts.end(),
                     [&](const std::string& p) { return contains(p, what); });
}

/// SI scale of a value from its key's unit suffix.
double unit_scale(const Leaf& leaf) {
  const std::string& key = leaf.parts.back();
  if (contains(key, "_TBps")) return 1e12;
  if (contains(key, "_GBps")) return kGB;
  if (contains(key, "_Gbps")) return kGbit;
  if (contains(key, "_MBps")) return 1e6;
  for (const auto& p : leaf.parts) {
    if (contains(p, "pflops")) return 1e15;
    if (contains(p, "tflops")) return 1e12;
    if (contains(p, "gflops")) return 1e9;
  }
  return 1.0;
}

template <typename Pred>
const Leaf* find_leaf(const std::vector<Leaf>& leaves, Pred pred) {
  for (const auto& leaf : leaves) {
    if (pred(leaf)) return &leaf;
  }
  return nullptr;
}

const Leaf* find_efficiency(const std::vector<Leaf>& leaves, const std::string& what) {
  return find_leaf(leaves, [&](const Leaf& l) {
    const std::string& key = l.parts.back();
    return key == what + "_efficiency" || (key == what && path_has(l, "efficiency"));
  });
}

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

struct BaseRates {
  const Leaf* intra = nullptr;           // per-GPU scale-up bandwidth
  const Leaf* nic = nullptr;             // per-NIC bandwidth
  const Leaf* nics_per_node = nullptr;
  const Leaf* gpus_per_node = nullptr;
  const Leaf* hbm = nullptr;
};

BaseRates find_rates(const std::vector<Leaf>& leaves) {
  BaseRates r;
  r.intra = find_leaf(leaves, [](const Leaf& l) {
    return contains(l.parts.back(), "bandwidth") &&
           (path_has(l, "intra_node") || path_has(l, "nvlink") || path_has(l, "scale_up") ||
            path_has(l, "nvswitch"));
  });
  r.nic = find_leaf(leaves, [](const Leaf& l) {
    return contains(l.parts.back(), "bandwidth") && path_has(l, "nic") &&
           !contains(l.parts.back(), "per_gpu");
  });
  r.nics_per_node = find_leaf(leaves, [](const Leaf& l) { return l.parts.back() == "nics_per_node"; });
  r.gpus_per_node = find_leaf(leaves, [](const Leaf& l) { return l.parts.back() == "gpus_per_node"; });
  r.hbm = find_leaf(leaves, [](const Leaf& l) {
    return contains(l.parts.back(), "bandwidth") && path_has(l, "hbm");
  });
  return r;
}

/// Peak dense FLOP/s of `dtype` in the base file (a leaf under a "peak..." key named by dtype).
std::optional<std::pair<const Leaf*, double>> find_peak(const std::vector<Leaf>& leaves,
                                                        const std::string& dtype) {
  const Leaf* leaf = find_leaf(leaves, [&](const Leaf& l) {
    if (!path_has(l, "peak")) return false;
    const std::string& key = l.parts.back();
    return key == dtype || key.rfind(dtype + "_", 0) == 0;
  });
  if (leaf == nullptr) return std::nullopt;
  return std::make_pair(leaf, leaf->value * unit_scale(*leaf));
}

struct Replacement {
  const Leaf* leaf;
  double fitted;
  std::string source;
};

}  // namespace

CalibrationReport calibrate_topology(const std::string& base_json,
                                     const std::string& base_display_name,
                                     const CalibrationInputs& inputs, const FitOptions& options) {
  json doc = detail::parse_json(base_json, base_display_name);
  if (!doc.is_object()) {
    throw InputError(base_display_name, "expected a topology JSON object");
  }
  if (inputs.collectives.empty() && inputs.gemm.empty() && inputs.attention.empty() &&
      inputs.memory.empty()) {
    throw InputError("calibrate", "no measurements given; pass --nccl-tests and/or --microbench");
  }
  CalibrationReport report;
  if (doc.contains("calibration")) {
    report.warnings.push_back(fmt::format("{}: already calibrated; its \"calibration\" block is "
                                          "replaced (fits from it are not kept)",
                                          base_display_name));
  }
  std::vector<Leaf> leaves;
  std::vector<std::string> parts;
  collect_leaves(doc, parts, json::json_pointer(), leaves);
  const BaseRates rates = find_rates(leaves);
  std::vector<Replacement> replacements;

  // --- Collectives: one alpha-beta fit per run.
  for (const auto& run : inputs.collectives) {
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
  // Deterministic order, and one fit per (kind, scope, group size): Topology::fits is keyed so.
  std::vector<size_t> order(report.collective_fits.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const auto& x = report.collective_fits[a];
    const auto& y = report.collective_fits[b];
    return std::tie(x.kind, x.scope, x.ranks, x.hosts, x.file) <
           std::tie(y.kind, y.scope, y.ranks, y.hosts, y.file);
  });
  json fits = json::array();
  std::map<std::string, size_t> written;  // "kind/scope/n" -> index into report.collective_fits
  for (size_t i : order) {
    const auto& f = report.collective_fits[i];
    const std::string key = fmt::format("{}/{}/{}", f.kind, f.scope, f.ranks);
    if (f.fit.points_in_range == 0) {
      report.warnings.push_back(fmt::format("{}: {} {} ranks not written: the fit holds nowhere",
                                            f.file, f.kind, f.ranks));
      continue;
    }
    if (written.count(key)) {
      const auto& kept = report.collective_fits[written[key]];
      report.warnings.push_back(fmt::format(
          "{}: {} {} over {} ranks duplicates the fit from {} (only one per kind, scope and group "
          "size is written; the first in sorted order is kept)",
          f.file, f.kind, f.scope, f.ranks, kept.file));
      continue;
    }
    written[key] = i;
    const CollectiveRun* run = nullptr;
    for (const auto& r : inputs.collectives) {
      if (r.file == f.file && r.kind == f.kind && r.ranks == f.ranks) run = &r;
    }
    std::string source = fmt::format("fit of {} ({} ranks on {} host(s), {} per host", run->test_name,
                                     f.ranks, f.hosts, run->ranks_per_node);
    if (!run->gpu_name.empty()) source += ", " + run->gpu_name;
    if (!run->nccl_version.empty()) source += ", NCCL " + run->nccl_version;
    source += fmt::format(") from {}; max rel err {} over {} points", f.file,
                          percent(f.fit.max_rel_err), f.fit.points_in_range);
    if (!f.fit.alpha_measured) source += "; alpha extrapolated (no latency-bound sizes)";
    if (!run->source_note.empty()) source += "; " + run->source_note;
    fits.push_back({{"kind", f.kind},
                    {"scope", f.scope},
                    {"group_size", f.ranks},
                    {"alpha_us", round_to(f.fit.alpha_s / kMicro, 3)},
                    {"busbw_GBps", round_to(f.fit.busbw / kGB, 2)},
                    {"min_bytes", f.fit.min_bytes},
                    {"max_bytes", f.fit.max_bytes},
                    {"source", source}});
  }

  // --- Collective efficiencies: fitted busbw / the line rate spsim's model divides by.
  // Per (scope, kind) the fit over the most ranks is used.
  std::map<std::string, size_t> best;  // "scope.kind" -> fit index
  for (const auto& [key, i] : written) {
    const auto& f = report.collective_fits[i];
    const std::string sk = f.scope + "." + f.kind;
    if (!best.count(sk) || report.collective_fits[best[sk]].ranks < f.ranks) best[sk] = i;
  }
  for (const auto& [sk, i] : best) {
    const auto& f = report.collective_fits[i];
    const Leaf* target = find_leaf(leaves, [&](const Leaf& l) {
      const size_t n = l.parts.size();
      if (n < 3 || l.parts[n - 1] != f.kind || l.parts[n - 2] != f.scope) return false;
      return std::any_of(l.parts.begin(), l.parts.end() - 2,
                         [](const std::string& p) { return contains(p, "collective"); });
    });
    if (target == nullptr) {
      report.warnings.push_back(fmt::format("{}: no collective efficiency for {} in the base "
                                            "topology; the fit is kept in calibration.collective_fits only",
                                            base_display_name, sk));
      continue;
    }
    const CollectiveRun* run = nullptr;
    for (const auto& r : inputs.collectives) {
      if (r.file == f.file && r.kind == f.kind && r.ranks == f.ranks) run = &r;
    }
    double line_rate = 0;
    std::string rule;
    const double intra = rates.intra ? rates.intra->value * unit_scale(*rates.intra) : 0;
    if (f.scope == "intra_node") {
      line_rate = intra;
      rule = rates.intra ? fmt::format("{} = {:.1f} GB/s", rates.intra->path, intra / kGB) : "";
    } else if (rates.nic && rates.nics_per_node && rates.gpus_per_node) {
      const double nic_per_gpu = rates.nic->value * unit_scale(*rates.nic) *
                                 rates.nics_per_node->value / rates.gpus_per_node->value;
      const double nodes = static_cast<double>(f.hosts);
      if (f.kind == "all_to_all") {
        // nccl-tests#130: alltoall busbw over N nodes = N/(N-1) x per-GPU network bandwidth.
        line_rate = nic_per_gpu * nodes / (nodes - 1);
        rule = fmt::format("per-GPU NIC {:.1f} GB/s x N/(N-1), N = {}", nic_per_gpu / kGB, f.hosts);
      } else if (f.kind == "send_recv") {
        line_rate = nic_per_gpu;
        rule = fmt::format("per-GPU NIC {:.1f} GB/s", nic_per_gpu / kGB);
      } else {
        // Rings cross nodes on every NIC the node's ranks use: ranks_per_node x per-GPU NIC,
        // capped by the scale-up bandwidth.
        line_rate = static_cast<double>(run->ranks_per_node) * nic_per_gpu;
        if (intra > 0) line_rate = std::min(line_rate, intra);
        rule = fmt::format("{} ranks/node x per-GPU NIC {:.1f} GB/s", run->ranks_per_node,
                           nic_per_gpu / kGB);
      }
    }
    if (!(line_rate > 0)) {
      report.warnings.push_back(fmt::format("{}: cannot find the {} line rate in the base "
                                            "topology; {} not replaced",
                                            base_display_name, f.scope, target->path));
      continue;
    }
    const double efficiency = f.fit.busbw / line_rate;
    if (efficiency > 1.0) {
      report.warnings.push_back(fmt::format(
          "{}: fitted busbw {:.1f} GB/s exceeds the line rate ({}); NCCL used NVLS/tree, whose "
          "busbw is not a wire bandwidth (nccl-tests#212); {} not replaced, the fit is kept in "
          "calibration.collective_fits (rerun with NCCL_ALGO=Ring to measure the links)",
          f.file, f.fit.busbw / kGB, rule, target->path));
      continue;
    }
    replacements.push_back({target, round_to(efficiency, 3),
                            fmt::format("fitted busbw {:.2f} GB/s / line rate ({}) from {}",
                                        f.fit.busbw / kGB, rule, f.file)});
  }

  // --- Kernel efficiencies: achieved / datasheet peak. The scalar is the median over the
  // large half (by FLOP or bytes) of the points, where the kernels approach steady state.
  auto kernel_efficiency = [&](const std::string& what, const std::vector<double>& work,
                               const std::vector<double>& achieved, double peak,
                               const std::string& peak_text, const std::string& unit) {
    std::vector<size_t> idx(work.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return work[a] < work[b]; });
    std::vector<double> large;
    for (size_t j = idx.size() / 2; j < idx.size(); ++j) large.push_back(achieved[idx[j]] / peak);
    const double eff = median(large);
    // The curve: efficiency per point, by work size.
    std::string curve;
    for (size_t j : idx) {
      curve += fmt::format(" {:.3g}{}:{:.2f}", work[j], unit, achieved[j] / peak);
    }
    report.lines.push_back(fmt::format("{} efficiency curve (size:efficiency of {}):{}", what,
                                       peak_text, curve));
    const Leaf* target = find_efficiency(leaves, what);
    if (target == nullptr) {
      report.warnings.push_back(fmt::format("{}: no {} efficiency key in the base topology; "
                                            "measured {:.3f} not written",
                                            base_display_name, what, eff));
      return;
    }
    replacements.push_back(
        {target, round_to(eff, 3),
         fmt::format("median achieved/peak over the {} largest of {} {} points ({}); {}",
                     large.size(), work.size(), what, peak_text,
                     inputs.provenance.empty() ? "microbenchmark" : inputs.provenance.back())});
  };
  if (!inputs.gemm.empty()) {
    // One scalar: bf16 if measured (spsim's default training precision), else the first dtype.
    std::string dtype = inputs.gemm.front().dtype;
    for (const auto& g : inputs.gemm) {
      if (g.dtype == "bf16") dtype = "bf16";
    }
    const auto peak = find_peak(leaves, dtype);
    if (!peak) {
      report.warnings.push_back(fmt::format("{}: no {} peak FLOP/s in the base topology; GEMM "
                                            "efficiency not computed", base_display_name, dtype));
    } else {
      std::vector<double> work, achieved;
      for (const auto& g : inputs.gemm) {
        if (g.dtype != dtype) continue;
        work.push_back(g.flops() / 1e9);
        achieved.push_back(g.flops() / (g.time_us * kMicro));
      }
      kernel_efficiency("gemm", work, achieved, peak->second,
                        fmt::format("{} peak {} = {:.1f} TFLOP/s", dtype, peak->first->path,
                                    peak->second / 1e12), "GF");
    }
  }
  if (!inputs.attention.empty()) {
    const std::string dtype = inputs.attention.front().dtype;
    const auto peak = find_peak(leaves, dtype);
    if (!peak) {
      report.warnings.push_back(fmt::format("{}: no {} peak FLOP/s in the base topology; attention "
                                            "efficiency not computed", base_display_name, dtype));
    } else {
      std::vector<double> work, achieved;
      for (const auto& a : inputs.attention) {
        if (a.dtype != dtype) continue;
        work.push_back(a.flops() / 1e9);
        achieved.push_back(a.flops() / (a.time_us * kMicro));
      }
      kernel_efficiency("attention", work, achieved, peak->second,
                        fmt::format("{} peak {} = {:.1f} TFLOP/s", dtype, peak->first->path,
                                    peak->second / 1e12), "GF");
    }
  }
  if (!inputs.memory.empty()) {
    if (rates.hbm == nullptr) {
      report.warnings.push_back(fmt::format("{}: no HBM bandwidth in the base topology; memory "
                                            "efficiency not computed", base_display_name));
    } else {
      const double hbm = rates.hbm->value * unit_scale(*rates.hbm);
      std::vector<double> work, achieved;
      for (const auto& m : inputs.memory) {
        work.push_back(static_cast<double>(m.bytes) / kMiB);
        achieved.push_back(2.0 * static_cast<double>(m.bytes) / (m.time_us * kMicro));
      }
      kernel_efficiency("memory", work, achieved, hbm,
                        fmt::format("{} = {:.0f} GB/s, copy = 2x bytes", rates.hbm->path, hbm / kGB),
                        "MiB");
    }
  }

  // --- Apply the replacements and write the calibration block.
  json replaced = json::object();
  for (const auto& r : replacements) {
    replaced[r.leaf->path] = {{"datasheet", r.leaf->value}, {"fitted", r.fitted}, {"source", r.source}};
    doc[r.leaf->pointer] = r.fitted;
    report.lines.push_back(fmt::format("replaced {}: {} -> {} ({})", r.leaf->path, r.leaf->value,
                                       r.fitted, r.source));
  }
  std::string provenance = "spsim calibrate on base " + base_display_name;
  for (const auto& p : inputs.provenance) provenance += "; " + p;
  doc["calibration"] = {{"provenance", provenance}, {"collective_fits", fits}, {"replaced", replaced}};
  report.json = doc.dump(2) + "\n";
  return report;
}

}  // namespace spsim
