// Words of a launch script as bash would pass them, for --from-args. Not a shell: it expands
// the variables the script itself assigns and reads every branch of every conditional (docs/launch.md).
#include <cctype>
#include <map>

#include <fmt/format.h>

#include "export/launch_internal.h"
#include "spsim/error.h"

namespace spsim::detail {

namespace {

using Value = std::vector<std::string>;  // a scalar is one element

struct Expander {
  std::map<std::string, Value> vars;
  std::string where;
  int line = 1;

  [[noreturn]] void fail(const std::string& message) const {
    throw InputError(fmt::format("{}:{}", where, line), message);
  }

  // Integer arithmetic of $((...)): + - * / % and parentheses over integers (variables expanded).
  int64_t arith(const std::string& text, size_t& i) {
    int64_t value = term(text, i);
    while (true) {
      skip(text, i);
      if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
        const char op = text[i++];
        const int64_t rhs = term(text, i);
        value = op == '+' ? value + rhs : value - rhs;
      } else {
        return value;
      }
    }
  }
  int64_t term(const std::string& text, size_t& i) {
    int64_t value = factor(text, i);
    while (true) {
      skip(text, i);
      if (i < text.size() && (text[i] == '*' || text[i] == '/' || text[i] == '%')) {
        const char op = text[i++];
        const int64_t rhs = factor(text, i);
        if (op != '*' && rhs == 0) fail("division by zero in $((...))");
        value = op == '*' ? value * rhs : op == '/' ? value / rhs : value % rhs;
      } else {
        return value;
      }
    }
  }
  int64_t factor(const std::string& text, size_t& i) {
    skip(text, i);
    if (i < text.size() && text[i] == '(') {
      ++i;
      const int64_t value = arith(text, i);
      skip(text, i);
      if (i >= text.size() || text[i] != ')') fail("unbalanced parentheses in $((...))");
      ++i;
      return value;
    }
    if (i < text.size() && text[i] == '-') {
      ++i;
      return -factor(text, i);
    }
    size_t start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (start == i) {
      // A variable name without $, as bash allows inside $((...)).
      while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_')) ++i;
      const std::string name = text.substr(start, i - start);
      const auto it = vars.find(name);
      if (name.empty() || it == vars.end() || it->second.empty()) fail(fmt::format("cannot evaluate $(({}))", text));
      size_t j = 0;
      return arith(it->second.front(), j);
    }
    return std::stoll(text.substr(start, i - start));
  }
  static void skip(const std::string& text, size_t& i) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
  }

  // Expands the $-expression at text[i] ('$' included); returns its words and whether it was an
  // array expansion ([@]/[*]). Unknown variables and $(command) stay as written.
  Value dollar(const std::string& text, size_t& i, bool& is_array) {
    is_array = false;
    const size_t start = i;
    ++i;  // '$'
    if (i < text.size() && text.compare(i, 2, "((") == 0) {
      const size_t close = text.find("))", i);
      if (close == std::string::npos) fail("unclosed $((");
      std::string inner = expand_plain(text.substr(i + 2, close - i - 2));
      i = close + 2;
      size_t j = 0;
      return {std::to_string(arith(inner, j))};
    }
    if (i < text.size() && text[i] == '(') {  // $(command): not run
      int depth = 0;
      for (; i < text.size(); ++i) {
        if (text[i] == '(') ++depth;
        if (text[i] == ')' && --depth == 0) break;
      }
      ++i;
      return {text.substr(start, i - start)};
    }
    std::string name, fallback;
    bool has_fallback = false;
    if (i < text.size() && text[i] == '{') {
      const size_t close = text.find('}', i);
      if (close == std::string::npos) fail("unclosed ${");
      std::string body = text.substr(i + 1, close - i - 1);
      i = close + 1;
      const size_t op = body.find(":-");
      if (op != std::string::npos) {
        fallback = body.substr(op + 2);
        has_fallback = true;
        body = body.substr(0, op);
      }
      if (body.size() > 3 && (body.compare(body.size() - 3, 3, "[@]") == 0 || body.compare(body.size() - 3, 3, "[*]") == 0)) {
        body = body.substr(0, body.size() - 3);
        is_array = true;
      }
      name = body;
    } else {
      while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_')) ++i;
      name = text.substr(start + 1, i - start - 1);
      if (name.empty()) return {"$"};
    }
    const auto it = vars.find(name);
    if (it != vars.end() && !(it->second.empty() || (it->second.size() == 1 && it->second[0].empty()))) {
      return is_array ? it->second : Value{it->second.front()};
    }
    if (has_fallback) {
      // The fallback is a word of its own: quotes and $ inside it count.
      const Value words = split_words(fallback, false);
      std::string joined;
      for (const auto& w : words) joined += (joined.empty() ? "" : " ") + w;
      return {joined};
    }
    if (it != vars.end()) return is_array ? Value{} : Value{""};
    return {text.substr(start, i - start)};  // unknown: as written
  }

  // $-expansion inside a string with no word splitting ("..." contents, arithmetic).
  std::string expand_plain(const std::string& text) {
    std::string out;
    for (size_t i = 0; i < text.size();) {
      if (text[i] == '\\' && i + 1 < text.size()) {
        out += text[i + 1];
        i += 2;
      } else if (text[i] == '$') {
        bool is_array = false;
        const Value v = dollar(text, i, is_array);
        for (size_t k = 0; k < v.size(); ++k) out += (k ? " " : "") + v[k];
      } else {
        out += text[i++];
      }
    }
    return out;
  }

  // Splits one logical word sequence into expanded words. With `stop_at_paren`, an unquoted ')'
  // ends the sequence (array literal); `consumed` then says where.
  Value split_words(const std::string& text, bool stop_at_paren, size_t* consumed = nullptr) {
    Value words;
    std::string current;
    bool in_word = false;
    auto flush = [&] {
      if (in_word) words.push_back(current);
      current.clear();
      in_word = false;
    };
    size_t i = 0;
    for (; i < text.size();) {
      const char c = text[i];
      if (std::isspace(static_cast<unsigned char>(c))) {
        flush();
        ++i;
      } else if (c == '#' && !in_word) {
        while (i < text.size() && text[i] != '\n') ++i;
      } else if (c == ')' && stop_at_paren) {
        break;
      } else if (c == '\'') {
        const size_t close = text.find('\'', i + 1);
        if (close == std::string::npos) fail("unclosed single quote");
        current += text.substr(i + 1, close - i - 1);
        in_word = true;
        i = close + 1;
      } else if (c == '"') {
        size_t close = i + 1;
        while (close < text.size() && text[close] != '"') close += text[close] == '\\' ? 2 : 1;
        if (close >= text.size()) fail("unclosed double quote");
        const std::string inner = text.substr(i + 1, close - i - 1);
        // "${A[@]}" alone: one word per element.
        if (!in_word && close + 1 <= text.size() &&
            (close + 1 == text.size() || std::isspace(static_cast<unsigned char>(text[close + 1]))) &&
            inner.size() > 5 && inner.rfind("${", 0) == 0 && inner.back() == '}' &&
            inner.find("[@]") == inner.size() - 4) {
          size_t j = 0;
          bool is_array = false;
          const Value v = dollar(inner, j, is_array);
          for (const auto& w : v) words.push_back(w);
        } else {
          current += expand_plain(inner);
          in_word = true;
        }
        i = close + 1;
      } else if (c == '\\' && i + 1 < text.size()) {
        if (text[i + 1] != '\n') {
          current += text[i + 1];
          in_word = true;
        }
        i += 2;
      } else if (c == '$') {
        bool is_array = false;
        const Value v = dollar(text, i, is_array);
        // Unquoted: the value is split on blanks, as bash splits words.
        std::string joined;
        for (size_t k = 0; k < v.size(); ++k) joined += (k ? " " : "") + v[k];
        size_t start = 0;
        bool first = true;
        while (start <= joined.size()) {
          const size_t space = joined.find_first_of(" \t\n", start);
          const std::string part = joined.substr(start, space == std::string::npos ? std::string::npos : space - start);
          if (!first) flush();
          if (!part.empty()) {
            current += part;
            in_word = true;
          }
          first = false;
          if (space == std::string::npos) break;
          start = space + 1;
        }
      } else {
        current += c;
        in_word = true;
        ++i;
      }
    }
    flush();
    if (consumed != nullptr) *consumed = i;
    return words;
  }
};

bool is_assignment(const std::string& word, std::string& name, bool& append, std::string& value) {
  size_t i = 0;
  while (i < word.size() && (std::isalnum(static_cast<unsigned char>(word[i])) || word[i] == '_')) ++i;
  if (i == 0 || std::isdigit(static_cast<unsigned char>(word[0])) || i >= word.size()) return false;
  append = word[i] == '+';
  if (append) ++i;
  if (i >= word.size() || word[i] != '=') return false;
  name = word.substr(0, append ? i - 1 : i);
  value = word.substr(i + 1);
  return true;
}

// Where the unquoted ')' closing an array literal starting at text[i] is; npos if none.
size_t array_end(const std::string& text, size_t i) {
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\'') {
      i = text.find('\'', i + 1);
      if (i == std::string::npos) return i;
    } else if (c == '"') {
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\') ++i;
      }
    } else if (c == '\\') {
      ++i;
    } else if (c == '#' && (i == 0 || std::isspace(static_cast<unsigned char>(text[i - 1])))) {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (c == ')') {
      return i;
    }
  }
  return std::string::npos;
}

}  // namespace

std::vector<std::vector<std::string>> shell_lines(const std::string& text, const std::string& where) {
  Expander ex;
  ex.where = where;
  std::vector<std::vector<std::string>> out;
  size_t pos = 0;
  while (pos < text.size()) {
    // One logical line: up to an unquoted newline not escaped by a backslash; an array literal
    // NAME=( ... ) spans lines up to its ')'.
    size_t end = pos;
    bool single = false, dbl = false;
    for (; end < text.size(); ++end) {
      const char c = text[end];
      if (c == '\\' && !single && end + 1 < text.size()) {
        ++end;
        continue;
      }
      if (c == '\'' && !dbl) single = !single;
      if (c == '"' && !single) dbl = !dbl;
      if (c == '#' && !single && !dbl && (end == pos || std::isspace(static_cast<unsigned char>(text[end - 1])))) {
        while (end < text.size() && text[end] != '\n') ++end;
        break;
      }
      if (c == '(' && !single && !dbl && end > pos && text[end - 1] == '=') {
        const size_t close = array_end(text, end + 1);
        if (close == std::string::npos) {
          throw InputError(fmt::format("{}:{}", where, ex.line), "unclosed array ( ... )");
        }
        end = close;
        continue;
      }
      if (c == '\n' && !single && !dbl) break;
    }
    if (single || dbl) throw InputError(fmt::format("{}:{}", where, ex.line), "unclosed quote");
    const std::string logical = text.substr(pos, end - pos);
    const int first_line = ex.line;
    int next_line = first_line;
    for (size_t k = pos; k <= end && k < text.size(); ++k) next_line += text[k] == '\n' ? 1 : 0;
    pos = end + 1;
    // Array assignments: NAME=( words ) or NAME+=( words ), possibly after export/declare.
    size_t start = logical.find_first_not_of(" \t");
    if (start == std::string::npos) {
      ex.line = next_line;
      continue;
    }
    for (const std::string keyword : {"export ", "declare ", "local ", "readonly "}) {
      if (logical.compare(start, keyword.size(), keyword) == 0) {
        start = logical.find_first_not_of(" \t", start + keyword.size());
        if (start == std::string::npos) start = logical.size();
      }
    }
    const size_t paren = logical.find("=(", start);
    std::string name, value;
    bool append = false;
    if (paren != std::string::npos && is_assignment(logical.substr(start, paren + 1 - start), name, append, value) &&
        value.empty()) {
      Value words = ex.split_words(logical.substr(paren + 2), true);
      Value& var = ex.vars[name];
      if (!append) var.clear();
      var.insert(var.end(), words.begin(), words.end());
      out.push_back(words);
      ex.line = next_line;
      continue;
    }
    Value words = ex.split_words(logical, false);
    ex.line = next_line;
    // Leading assignments (NAME=value words) set variables; the rest is a command.
    size_t first = 0;
    while (first < words.size() && (words[first] == "export" || words[first] == "declare" ||
                                    words[first] == "local" || words[first] == "readonly")) {
      ++first;
    }
    bool assigned = false;
    while (first < words.size()) {
      std::string var_name, var_value;
      bool var_append = false;
      if (!is_assignment(words[first], var_name, var_append, var_value)) break;
      Value& var = ex.vars[var_name];
      if (var_append && !var.empty()) {
        var.back() += var_value;
      } else {
        var = {var_value};
      }
      assigned = true;
      ++first;
    }
    if (first < words.size()) {
      out.emplace_back(words.begin() + static_cast<std::ptrdiff_t>(first), words.end());
    } else if (!assigned && !words.empty()) {
      out.push_back(words);
    }
  }
  return out;
}

}  // namespace spsim::detail
