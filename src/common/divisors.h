// Whole-number helpers for the "valid degrees" lists of error messages.
#ifndef SPSIM_COMMON_DIVISORS_H_
#define SPSIM_COMMON_DIVISORS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace spsim {

/// Every d with n % d == 0, ascending (empty for n < 1).
std::vector<int64_t> divisors(int64_t n);

/// "1, 2, 4": the numbers as an error message lists them.
std::string join_numbers(const std::vector<int64_t>& values);

}  // namespace spsim

#endif  // SPSIM_COMMON_DIVISORS_H_
