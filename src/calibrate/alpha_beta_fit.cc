// Robust alpha-beta fit of collective times: t(S) = alpha + S * factor / busbw.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "spsim/calibrate.h"
#include "spsim/error.h"
#include "spsim/units.h"

namespace spsim {

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// "256MiB", "16KiB", "100 B": binary suffixes as nccl-tests' -b/-e.
std::string size_text(double bytes) {
  const std::string count = format_count(static_cast<int64_t>(bytes));
  return count.back() >= '0' && count.back() <= '9' ? count + " B" : count + "iB";
}

}  // namespace

double predict_time_s(const AlphaBetaFit& fit, double bytes, double busbw_factor) {
  return fit.alpha_s + bytes * busbw_factor / fit.busbw;
}

AlphaBetaFit fit_alpha_beta(const std::vector<SizeTime>& all_points, double busbw_factor,
                            const FitOptions& options) {
  std::vector<SizeTime> points;
  for (const auto& p : all_points) {
    if (p.bytes > 0 && p.time_s > 0) points.push_back(p);  // zero-size rows carry no bandwidth
  }
  std::sort(points.begin(), points.end(), [](const SizeTime& a, const SizeTime& b) {
    return a.bytes != b.bytes ? a.bytes < b.bytes : a.time_s < b.time_s;
  });
  std::vector<double> sizes;
  for (const auto& p : points) {
    if (sizes.empty() || sizes.back() != p.bytes) sizes.push_back(p.bytes);
  }
  if (sizes.size() < 2) {
    throw InputError("fit", fmt::format("needs at least 2 distinct nonzero message sizes (got {}); "
                                        "sweep sizes with -b/-e/-f",
                                        sizes.size()));
  }
  if (!(busbw_factor > 0)) {
    throw InputError("fit", fmt::format("busbw factor must be > 0 (got {})", busbw_factor));
  }
  AlphaBetaFit fit;

  // alpha: the latency-bound points, i.e. small messages whose time is near the minimum. A median,
  // so one noisy row (90.85 us at 16 KiB in the Snellius 2-node all_reduce log) does not move it.
  double t_min = points.front().time_s;
  for (const auto& p : points) t_min = std::min(t_min, p.time_s);
  std::vector<SizeTime> small;
  for (const auto& p : points) {
    if (p.bytes <= options.small_message_bytes && p.time_s <= 1.5 * t_min) small.push_back(p);
  }
  fit.alpha_measured = static_cast<int>(small.size()) >= options.min_small_points;

  // beta (seconds per bus byte): relative least squares over the large-message region (sizes >=
  // largest x large_fraction, at least the 2 largest sizes). Residual r = (alpha + beta S - t) / t
  // = alpha u + beta v - 1 with u = 1/t, v = S/t.
  double threshold = sizes.back() * options.large_fraction;
  threshold = std::min(threshold, sizes[sizes.size() - 2]);
  std::vector<SizeTime> large;
  for (const auto& p : points) {
    if (p.bytes >= threshold) large.push_back(p);
  }
  double alpha = 0, beta = 0;
  auto solve = [&](const std::vector<SizeTime>& region) {
    double suu = 0, suv = 0, svv = 0, su = 0, sv = 0;
    for (const auto& p : region) {
      const double u = 1.0 / p.time_s, v = p.bytes / p.time_s;
      suu += u * u, suv += u * v, svv += v * v, su += u, sv += v;
    }
    if (fit.alpha_measured) {
      // alpha = median of (t - beta S) over the latency-bound points, beta by least squares with
      // alpha fixed; alternated until stable (exact data: converges to the true pair).
      std::vector<double> ts;
      for (const auto& p : small) ts.push_back(p.time_s);
      alpha = median(ts);
      for (int iteration = 0; iteration < 50; ++iteration) {
        beta = (sv - alpha * suv) / svv;
        std::vector<double> residual;
        for (const auto& p : small) residual.push_back(p.time_s - beta * p.bytes);
        const double next = std::max(0.0, median(residual));
        if (std::abs(next - alpha) <= 1e-15) break;
        alpha = next;
      }
      beta = (sv - alpha * suv) / svv;
    } else {
      const double det = suu * svv - suv * suv;
      alpha = det != 0 ? (su * svv - sv * suv) / det : 0.0;
      beta = det != 0 ? (suu * sv - suv * su) / det : 0.0;
      if (alpha < 0) {  // a negative latency is unphysical: refit through the origin
        alpha = 0;
        beta = sv / svv;
      }
    }
  };
  solve(large);
  // Trimming: large points off by more than the tolerance (a size still on the protocol ramp, a
  // noisy row) are dropped and the fit redone, up to 3 passes, while 2 distinct sizes remain.
  for (int pass = 0; pass < 3; ++pass) {
    std::vector<SizeTime> kept;
    for (const auto& p : large) {
      if (std::abs(alpha + beta * p.bytes - p.time_s) / p.time_s <= options.tolerance) kept.push_back(p);
    }
    std::vector<double> kept_sizes;
    for (const auto& p : kept) {
      if (kept_sizes.empty() || kept_sizes.back() != p.bytes) kept_sizes.push_back(p.bytes);
    }
    if (kept.size() == large.size() || kept_sizes.size() < 2) break;
    large = kept;
    solve(large);
  }
  if (!fit.alpha_measured) {
    fit.warnings.push_back(fmt::format(
        "alpha not measured: no latency-bound sizes <= {} (smallest is {}); alpha = {:.2f} us is "
        "the intercept of the large-message fit; sweep from -b 8 to measure it",
        size_text(options.small_message_bytes), size_text(sizes.front()), alpha * 1e6));
  }
  if (!(beta > 0)) {
    throw InputError("fit", "large-message times do not grow with size; cannot fit a bandwidth "
                            "(check the log is one sweep of one collective)");
  }
  fit.alpha_s = alpha;
  fit.busbw = busbw_factor / beta;

  // Per-size worst relative error, then the contiguous run of sizes within tolerance that ends at
  // the largest size (large messages matter most for sequence parallelism); if the largest size
  // is itself off, the longest run (ties: the larger sizes).
  std::map<double, double> worst;  // size -> max rel err
  for (const auto& p : points) {
    const double err = std::abs(predict_time_s(fit, p.bytes, busbw_factor) - p.time_s) / p.time_s;
    worst[p.bytes] = std::max(worst[p.bytes], err);
  }
  size_t best_begin = 0, best_len = 0;
  for (size_t i = 0; i < sizes.size();) {
    if (worst[sizes[i]] > options.tolerance) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < sizes.size() && worst[sizes[j]] <= options.tolerance) ++j;
    if (j - i >= best_len) best_begin = i, best_len = j - i;
    if (j == sizes.size()) best_begin = i, best_len = j - i;  // the top run wins
    i = j;
  }
  std::vector<double> in_range_errors;
  double outside_worst = 0, outside_worst_size = 0;
  int outside = 0;
  for (const auto& p : points) {
    const double err = std::abs(predict_time_s(fit, p.bytes, busbw_factor) - p.time_s) / p.time_s;
    const bool inside = best_len > 0 && p.bytes >= sizes[best_begin] &&
                        p.bytes <= sizes[best_begin + best_len - 1];
    if (inside) {
      in_range_errors.push_back(err);
    } else if (err > options.tolerance) {
      ++outside;
      if (err > outside_worst) outside_worst = err, outside_worst_size = p.bytes;
    }
  }
  if (best_len > 0) {
    fit.min_bytes = sizes[best_begin];
    fit.max_bytes = sizes[best_begin + best_len - 1];
    fit.points_in_range = static_cast<int>(in_range_errors.size());
    fit.max_rel_err = *std::max_element(in_range_errors.begin(), in_range_errors.end());
    fit.median_rel_err = median(in_range_errors);
  } else {
    fit.warnings.push_back(fmt::format("alpha-beta does not fit any size within {:.0f}%",
                                       options.tolerance * 100));
  }
  if (outside > 0) {
    fit.warnings.push_back(fmt::format(
        "{} points outside {}..{} are off by more than {:.0f}% (worst {:.0f}% at {}): the "
        "alpha-beta model does not fit there (protocol/channel ramp-up, noise)",
        outside, size_text(fit.min_bytes), size_text(fit.max_bytes), options.tolerance * 100,
        outside_worst * 100, size_text(outside_worst_size)));
  }
  // Still accelerating at the top: the sweep stopped before the asymptotic bandwidth.
  if (sizes.size() >= 2) {
    auto per_byte = [&](double s) {
      double t = 0;
      int n = 0;
      for (const auto& p : points) {
        if (p.bytes == s) t += p.time_s, ++n;
      }
      return t / n / s;
    };
    const double last = per_byte(sizes.back()), before = per_byte(sizes[sizes.size() - 2]);
    if (last < before * 0.95) {
      fit.warnings.push_back(fmt::format(
          "bandwidth still rising at the largest size {} ({:.0f}% faster per byte than at {}): "
          "the sweep stops before the asymptote; measure larger messages (-e)",
          size_text(sizes.back()), (before / last - 1) * 100, size_text(sizes[sizes.size() - 2])));
    }
  }
  return fit;
}

}  // namespace spsim
