// Number formatting shared by the JSON writers.
#ifndef SPSIM_REPORT_TIDY_H_
#define SPSIM_REPORT_TIDY_H_

#include <cmath>

namespace spsim::detail {

/// Rounds to 9 significant digits so JSON output is stable across compilers and easy to diff.
inline double tidy(double value) {
  if (value == 0 || !std::isfinite(value)) return value;
  const double scale = std::pow(10.0, 8 - static_cast<int>(std::floor(std::log10(std::fabs(value)))));
  return std::round(value * scale) / scale;
}

}  // namespace spsim::detail

#endif  // SPSIM_REPORT_TIDY_H_
