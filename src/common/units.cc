#include "spsim/units.h"

#include <cctype>
#include <cstdlib>

#include <fmt/format.h>

#include "spsim/error.h"

namespace spsim {

int64_t parse_count(const std::string& text, const std::string& where, int64_t max) {
  const std::string fix = "write a positive whole number, optionally with K, M or G (K = 1024), e.g. 128K";
  if (text.empty()) throw InputError(where, "empty value; " + fix);
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) throw InputError(where, fmt::format("\"{}\" is not a count; {}", text, fix));
  const std::string past_limit =
      fmt::format("\"{}\" is too large: past the limit of {} (README \"Limits and errors\")", text, max);
  if (digits > 13) throw InputError(where, past_limit);
  int64_t value = std::strtoll(text.substr(0, digits).c_str(), nullptr, 10);
  const std::string suffix = text.substr(digits);
  int64_t scale = 1;
  if (suffix.empty()) {
    scale = 1;
  } else if (suffix == "K" || suffix == "k") {
    scale = int64_t{1} << 10;
  } else if (suffix == "M" || suffix == "m") {
    scale = int64_t{1} << 20;
  } else if (suffix == "G" || suffix == "g") {
    scale = int64_t{1} << 30;
  } else {
    throw InputError(where, fmt::format("\"{}\" has an unknown suffix \"{}\"; {}", text, suffix, fix));
  }
  if (value == 0) throw InputError(where, fmt::format("must be positive (got {}); {}", text, fix));
  if (value > max / scale) throw InputError(where, past_limit);
  return value * scale;
}

std::string format_count(int64_t value) {
  if (value >= (int64_t{1} << 30) && value % (int64_t{1} << 30) == 0) {
    return fmt::format("{}G", value >> 30);
  }
  if (value >= (int64_t{1} << 20) && value % (int64_t{1} << 20) == 0) {
    return fmt::format("{}M", value >> 20);
  }
  if (value >= (int64_t{1} << 10) && value % (int64_t{1} << 10) == 0) {
    return fmt::format("{}K", value >> 10);
  }
  return fmt::format("{}", value);
}

}  // namespace spsim
