// Range syntax for sweeps, as nccl-tests users know it (-b/-e/-f/-i with binary suffixes).
#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "spsim/error.h"
#include "spsim/sweep.h"
#include "spsim/units.h"

namespace spsim {

namespace {

constexpr const char* kGrammar = "write e.g. 8K:1M:x2, 8K:64K:+8K or 8,16,64";

std::string trim(const std::string& text) {
  size_t begin = 0, end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return text.substr(begin, end - begin);
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t at = text.find(separator, start);
    parts.push_back(trim(text.substr(start, at == std::string::npos ? std::string::npos : at - start)));
    if (at == std::string::npos) break;
    start = at + 1;
  }
  return parts;
}

int64_t value(const std::string& text, const std::string& where) {
  if (!text.empty() && text[0] == '-') {
    throw InputError(where, fmt::format("values must be positive (got {}); {}", text, kGrammar));
  }
  return parse_count(text, where);
}

void check_size(size_t count, size_t max_points, const std::string& text, const std::string& where) {
  if (count > max_points) {
    throw InputError(where, fmt::format("\"{}\" expands to more than {} points; use a larger step "
                                        "or split the sweep", text, max_points));
  }
}

// Appends START:END[:STEP] to `out`.
void expand_range(const std::vector<std::string>& parts, const std::string& item, const std::string& text,
                  const std::string& where, size_t max_points, std::vector<int64_t>& out) {
  const int64_t start = value(parts[0], where);
  const int64_t end = value(parts[1], where);
  if (start > end) {
    throw InputError(where, fmt::format("empty range \"{}\": start {} is past end {}; put the smaller "
                                        "value first", item, start, end));
  }
  const std::string step = parts.size() == 3 ? parts[2] : "x2";
  if (step.empty()) throw InputError(where, fmt::format("empty step in \"{}\"; {}", item, kGrammar));
  if (step[0] == 'x' || step[0] == 'X' || step[0] == '*') {
    const std::string factor_text = step.substr(1);
    const bool digits = !factor_text.empty() &&
                        std::all_of(factor_text.begin(), factor_text.end(),
                                    [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (!digits || factor_text.size() > 9) {
      throw InputError(where, fmt::format("factor \"{}\" in \"{}\" is not a whole number; use x2, x4, ...",
                                          factor_text, item));
    }
    const int64_t factor = std::stoll(factor_text);
    if (factor < 2) {
      throw InputError(where, fmt::format("factor must be at least 2 (got x{} in \"{}\"); use x2 or an "
                                          "additive step +N", factor, item));
    }
    for (int64_t v = start;; v *= factor) {
      out.push_back(v);
      check_size(out.size(), max_points, text, where);
      if (v > end / factor) break;  // the next value would pass the end (or overflow)
    }
  } else {
    const int64_t increment = value(step[0] == '+' ? step.substr(1) : step, where);
    if ((end - start) / increment + 1 > static_cast<int64_t>(max_points)) check_size(max_points + 1, max_points, text, where);
    for (int64_t v = start; v <= end; v += increment) out.push_back(v);
    check_size(out.size(), max_points, text, where);
  }
}

}  // namespace

std::vector<int64_t> parse_range(const std::string& text, const std::string& where, size_t max_points) {
  if (trim(text).empty()) throw InputError(where, fmt::format("empty value; {}", kGrammar));
  std::vector<int64_t> out;
  for (const std::string& item : split(text, ',')) {
    if (item.empty()) {
      throw InputError(where, fmt::format("empty item in \"{}\" (two commas or a trailing comma); {}",
                                          text, kGrammar));
    }
    const auto parts = split(item, ':');
    if (parts.size() == 1) {
      out.push_back(value(parts[0], where));
    } else if (parts.size() == 2 || parts.size() == 3) {
      expand_range(parts, item, text, where, max_points, out);
    } else {
      throw InputError(where, fmt::format("\"{}\" has {} colons; a range is START:END[:STEP]; {}", item,
                                          parts.size() - 1, kGrammar));
    }
    check_size(out.size(), max_points, text, where);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace spsim
