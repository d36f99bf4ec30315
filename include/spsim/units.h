// Units: SI base units inside spsim (bytes, seconds, FLOP, bytes/s). Datasheet units
// (GB/s, Gbit/s, TFLOP/s, GiB, us) are converted only at the edges: loaders and reports.
#ifndef SPSIM_UNITS_H_
#define SPSIM_UNITS_H_

#include <cstdint>
#include <string>

#include "spsim/limits.h"

namespace spsim {

inline constexpr double kKiB = 1024.0;
inline constexpr double kMiB = 1024.0 * kKiB;
inline constexpr double kGiB = 1024.0 * kMiB;
inline constexpr double kGB = 1e9;      // datasheets use decimal GB for bandwidth and HBM
inline constexpr double kGbit = 1e9 / 8.0;  // bytes per Gbit
inline constexpr double kTera = 1e12;
inline constexpr double kMicro = 1e-6;

/// Parses a token count or size with binary suffixes as nccl-tests does: "131072", "128K",
/// "1M", "2G" (K = 1024). Throws InputError naming `where` on a bad, zero or negative value, or
/// one past `max` (default 2^40, kMaxSeqLength), naming the limit.
int64_t parse_count(const std::string& text, const std::string& where,
                    int64_t max = kMaxSeqLength);

/// "128K" for 131072, "1M" for 1048576, plain digits otherwise: the inverse of parse_count
/// for display.
std::string format_count(int64_t value);

}  // namespace spsim

#endif  // SPSIM_UNITS_H_
