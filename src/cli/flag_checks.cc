#include "cli/flag_checks.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "spsim/error.h"

namespace spsim::cli {

CLI::Validator whole_number(int64_t min, int64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        const std::string range = fmt::format("must be a whole number from {} to {}", min, max);
        size_t digits = text.size() > 0 && (text[0] == '-' || text[0] == '+') ? 1 : 0;
        const size_t sign = digits;
        while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
        if (digits == sign || digits != text.size()) return fmt::format("{} (got \"{}\")", range, text);
        errno = 0;
        const long long value = std::strtoll(text.c_str(), nullptr, 10);
        if (errno == ERANGE || value > max) {
          return text[0] == '-' ? fmt::format("{} (got {})", range, text)
                                : fmt::format("{} is too large: past the limit of {} (README \"Limits and "
                                              "errors\")", text, max);
        }
        if (value < min) return fmt::format("{} (got {})", range, text);
        text = std::to_string(value);  // "+8" and "008" become 8, never octal
        return {};
      },
      fmt::format("INT in [{}, {}]", min, max));
}

CLI::Validator finite_number(double min, double max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        const std::string range = fmt::format("must be a number from {} to {}", min, max);
        const bool decimal = !text.empty() && text.find_first_not_of("0123456789.eE+-") == std::string::npos;
        char* end = nullptr;
        errno = 0;
        const double value = decimal ? std::strtod(text.c_str(), &end) : 0.0;
        if (!decimal || end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(value) ||
            value < min || value > max) {
          return fmt::format("{} (got \"{}\")", range, text);
        }
        return {};
      },
      fmt::format("NUMBER in [{}, {}]", min, max));
}

std::vector<std::string> split_list(const std::vector<std::string>& args, const std::string& flag) {
  std::vector<std::string> items;
  for (const std::string& arg : args) {
    if (arg.empty()) {  // the value's own parser says "empty value" and what to write
      items.push_back(arg);
      continue;
    }
    size_t start = 0;
    while (true) {
      const size_t comma = arg.find(',', start);
      const std::string item = arg.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (item.empty()) {
        throw InputError(flag, fmt::format("empty item in \"{}\" (two commas or a trailing comma); write "
                                           "e.g. 8,16,64", arg));
      }
      items.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
  }
  return items;
}

}  // namespace spsim::cli
