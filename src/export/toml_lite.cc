// The part of TOML that job files use (torchtitan's train_configs/*.toml): tables, dotted and
// quoted-free keys, strings, numbers, booleans, arrays (over several lines too) and comments.
#include <cctype>

#include <fmt/format.h>

#include "export/launch_internal.h"
#include "spsim/error.h"

namespace spsim::detail {

namespace {

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

// The line without its comment (a '#' outside strings).
std::string strip_comment(const std::string& line) {
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote != 0) {
      if (c == '\\' && quote == '"') ++i;
      else if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '#') {
      return line.substr(0, i);
    }
  }
  return line;
}

bool valid_key(const std::string& key) {
  if (key.empty()) return false;
  for (const char c : key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') return false;
  }
  return key.front() != '.' && key.back() != '.' && key.find("..") == std::string::npos;
}

int bracket_depth(const std::string& text) {
  int depth = 0;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote != 0) {
      if (c == '\\' && quote == '"') ++i;
      else if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '[') {
      ++depth;
    } else if (c == ']') {
      --depth;
    }
  }
  return depth;
}

void check_value(const std::string& value, const std::string& where, int line) {
  auto fail = [&](const std::string& what) {
    throw InputError(fmt::format("{}:{}", where, line), what);
  };
  if (value.empty()) fail("a key without a value; write key = value");
  if (value.front() == '{') fail("inline tables are not read; write a [table] instead");
  if (value.rfind("\"\"\"", 0) == 0 || value.rfind("'''", 0) == 0) fail("multi-line strings are not read");
  if (value.front() == '"' || value.front() == '\'' || value.front() == '[') {
    if (value.front() == '[' && bracket_depth(value) != 0) fail("unclosed array");
    return;
  }
  if (value == "true" || value == "false") return;
  // A number: digits, sign, '.', exponent, '_' separators.
  for (const char c : value) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && std::string_view("+-._eE").find(c) == std::string_view::npos) {
      fail(fmt::format("cannot read the value {} (strings need quotes: \"{}\")", value, value));
    }
  }
}

}  // namespace

std::map<std::string, TomlValue> read_toml(const std::string& text, const std::string& where) {
  std::map<std::string, TomlValue> out;
  std::string table;
  int line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t eol = text.find('\n', pos);
    std::string line = trim(strip_comment(text.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos)));
    pos = eol == std::string::npos ? text.size() + 1 : eol + 1;
    ++line_no;
    const int first = line_no;
    if (line.empty()) continue;
    if (line.front() == '[') {
      if (line.rfind("[[", 0) == 0) {
        throw InputError(fmt::format("{}:{}", where, line_no), "arrays of tables ([[...]]) are not read");
      }
      if (line.back() != ']') throw InputError(fmt::format("{}:{}", where, line_no), "a table header needs a closing ]");
      table = trim(line.substr(1, line.size() - 2));
      if (!valid_key(table)) {
        throw InputError(fmt::format("{}:{}", where, line_no), fmt::format("bad table name [{}]", table));
      }
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos) {
      throw InputError(fmt::format("{}:{}", where, line_no), fmt::format("expected key = value, got \"{}\"", line));
    }
    const std::string key = trim(line.substr(0, eq));
    std::string value = trim(line.substr(eq + 1));
    // An array may continue over the next lines.
    while (!value.empty() && value.front() == '[' && bracket_depth(value) > 0 && pos <= text.size()) {
      const size_t next = text.find('\n', pos);
      value += " " + trim(strip_comment(text.substr(pos, next == std::string::npos ? std::string::npos : next - pos)));
      pos = next == std::string::npos ? text.size() + 1 : next + 1;
      ++line_no;
    }
    if (!valid_key(key)) {
      throw InputError(fmt::format("{}:{}", where, first), fmt::format("bad key \"{}\" (bare keys only)", key));
    }
    check_value(value, where, first);
    const std::string full = table.empty() ? key : table + "." + key;
    if (out.count(full) > 0) {
      throw InputError(fmt::format("{}:{}", where, first),
                       fmt::format("{} is set twice (first on line {})", full, out[full].line));
    }
    out[full] = TomlValue{value, first};
  }
  return out;
}

}  // namespace spsim::detail
