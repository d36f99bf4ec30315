// Errors: library code throws, src/cli/main.cc prints one line and exits 2.
#ifndef SPSIM_ERROR_H_
#define SPSIM_ERROR_H_

#include <stdexcept>
#include <string>
#include <vector>

namespace spsim {

/// A broken invariant inside spsim (a bug). Its message starts with "internal error:".
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error("internal error: " + message) {}
};

/// Bad input from the user: a file, a field, a flag or an impossible combination.
/// `where()` is the location ("models/x.json:/hidden_size", "--ulysses-degree", "config");
/// `what()` is the rule, the value found and the fix, lowercase, no full stop.
class InputError : public std::runtime_error {
 public:
  InputError(std::string where, const std::string& message)
      : std::runtime_error(message), where_(std::move(where)) {}
  const std::string& where() const { return where_; }
  /// "where: what", the one line the CLI prints after "spsim: error: ".
  std::string full() const { return where_.empty() ? what() : where_ + ": " + what(); }

 private:
  std::string where_;
};

/// Closest candidate by edit distance, for "did you mean" hints; empty if none is close.
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace spsim

#endif  // SPSIM_ERROR_H_
