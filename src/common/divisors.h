// Divisors of a positive integer, for the degree searches (up to 2^20 GPUs, nested 4 deep).
#ifndef SPSIM_COMMON_DIVISORS_H_
#define SPSIM_COMMON_DIVISORS_H_

#include <cstdint>
#include <vector>

namespace spsim::detail {

/// Every divisor of `n` (n >= 1), ascending, in O(sqrt(n)); empty for n < 1.
inline std::vector<int64_t> divisors(int64_t n) {
  std::vector<int64_t> low, high;
  for (int64_t d = 1; d <= n / d; ++d) {
    if (n % d != 0) continue;
    low.push_back(d);
    if (d != n / d) high.push_back(n / d);
  }
  low.insert(low.end(), high.rbegin(), high.rend());
  return low;
}

}  // namespace spsim::detail

#endif  // SPSIM_COMMON_DIVISORS_H_
