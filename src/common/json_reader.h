// Strict, located reading of spsim's own JSON files (models, topologies, jobs, calibration).
// Every error names the file, the JSON pointer of the field, the value found and the fix.
#ifndef SPSIM_COMMON_JSON_READER_H_
#define SPSIM_COMMON_JSON_READER_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "spsim/limits.h"

namespace spsim::detail {

/// Parses JSON text; on a syntax error throws InputError(display_name, "syntax error at line L,
/// column C: ...") with nlohmann's text minus its "[json.exception...]" prefix. A key twice in one
/// object (nlohmann would keep the last silently) and nesting deeper than kMaxJsonDepth are
/// InputErrors naming the JSON pointer.
nlohmann::json parse_json(const std::string& text, const std::string& display_name);

/// nlohmann's exception text without its "[json.exception.type_error.302] " prefix.
std::string strip_exception_prefix(const std::string& message);

/// Reads a whole regular file of at most `max_bytes`; InputError naming the path if it cannot be
/// read, is a directory, FIFO or device (never blocks on one), or is larger.
std::string read_file(const std::string& path, int64_t max_bytes = kMaxInputFileBytes);

/// Reader over one JSON object. Each accessor marks its key as known; finish() then rejects any
/// key nobody asked for, with a "did you mean" hint (strict files), or ignores them (lenient).
class ObjectReader {
 public:
  /// `file` names the file in messages; `pointer` is this object's JSON pointer ("" = root).
  ObjectReader(const nlohmann::json& object, std::string file, std::string pointer = "");

  bool has(const std::string& key) const;
  /// Integer in [min, max]; missing -> `fallback`, or an error if there is none. Out of range, the
  /// message shows the value as written and ends with `fix` when given.
  int64_t integer(const std::string& key, std::optional<int64_t> fallback = std::nullopt,
                  int64_t min = 1, int64_t max = int64_t{1} << 40, const std::string& fix = "");
  /// Finite number in [min, max] (NaN and infinities are rejected).
  double number(const std::string& key, std::optional<double> fallback = std::nullopt,
                double min = 0, double max = std::numeric_limits<double>::max());
  std::string string(const std::string& key,
                     std::optional<std::string> fallback = std::nullopt);
  bool boolean(const std::string& key, std::optional<bool> fallback = std::nullopt);
  /// Nested object (required unless `optional`; an absent optional gives an empty object).
  ObjectReader object(const std::string& key, bool optional = false);
  /// The raw value (required), marked as known.
  const nlohmann::json& raw(const std::string& key);
  /// Accepts the key without reading it (documentation fields such as "source").
  void ignore(const std::string& key);
  /// Keys of this object, in file order as nlohmann keeps them (sorted).
  std::vector<std::string> keys() const;

  /// Strict: throws InputError for the first key not read, with a suggestion.
  void finish() const;

  const std::string& file() const { return file_; }
  std::string pointer(const std::string& key) const { return pointer_ + "/" + key; }
  /// Throws InputError(file, "<pointer>: <message>").
  [[noreturn]] void fail(const std::string& key, const std::string& message) const;

 private:
  const nlohmann::json& get(const std::string& key);
  const nlohmann::json& object_;
  std::string file_;
  std::string pointer_;
  std::set<std::string> known_;
};

}  // namespace spsim::detail

#endif  // SPSIM_COMMON_JSON_READER_H_
