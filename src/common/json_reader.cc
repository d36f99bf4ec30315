#include "common/json_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "spsim/error.h"

namespace spsim::detail {

namespace {

// The value as the message quotes it. A container holding containers is described, never dumped:
// dump() recurses, and a 100,000-deep array overflowed the stack here.
std::string describe(const nlohmann::json& value) {
  if (value.is_structured()) {
    for (const auto& item : value) {
      if (item.is_structured()) {
        return fmt::format("{} of {} {}", value.is_array() ? "an array" : "an object", value.size(),
                           value.is_array() ? "items" : "keys");
      }
    }
  }
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return fmt::format("{} ({})", text, value.type_name());
}

// A first pass over the text that nlohmann's DOM parser does not make: the nesting depth and
// duplicate keys, each located by JSON pointer. Syntax errors are left to the DOM parse.
class StrictSax final : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::string error;  // set when the pass stopped on a rule of its own

  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t) override { return scalar(); }
  bool number_unsigned(number_unsigned_t) override { return scalar(); }
  bool number_float(number_float_t, const string_t&) override { return scalar(); }
  bool string(string_t&) override { return scalar(); }
  bool binary(binary_t&) override { return scalar(); }
  bool start_object(std::size_t) override { return open(true); }
  bool key(string_t& key) override {
    Frame& frame = stack_.back();
    frame.key = key;
    if (!frame.keys.insert(key).second) {
      error = fmt::format("{}: duplicate key \"{}\" (JSON readers disagree on which one wins); keep one",
                          child_pointer(frame), key);
      return false;
    }
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(false); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  struct Frame {
    bool object = false;
    std::string pointer;
    std::set<std::string> keys;
    std::string key;
    size_t next_index = 0;
  };

  static std::string child_pointer(const Frame& frame) {
    if (!frame.object) return fmt::format("{}/{}", frame.pointer, frame.next_index);
    std::string escaped;  // RFC 6901: ~ is ~0, / is ~1
    for (char c : frame.key) escaped += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
    return frame.pointer + "/" + escaped;
  }
  // The pointer of the value starting now; advances the array index.
  std::string next_pointer() {
    if (stack_.empty()) return "";
    Frame& frame = stack_.back();
    std::string pointer = child_pointer(frame);
    if (!frame.object) ++frame.next_index;
    return pointer;
  }
  bool scalar() {
    next_pointer();
    return true;
  }
  bool open(bool object) {
    std::string pointer = next_pointer();
    if (stack_.size() >= static_cast<size_t>(kMaxJsonDepth)) {
      error = fmt::format("{}: nested deeper than {} levels (README \"Limits and errors\"); spsim's "
                          "files are a few levels deep", pointer, kMaxJsonDepth);
      return false;
    }
    stack_.push_back(Frame{object, std::move(pointer), {}, {}, 0});
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  std::vector<Frame> stack_;
};

}  // namespace

// nlohmann's messages start with "[json.exception.parse_error.101] parse error at line 3, ...".
std::string strip_exception_prefix(const std::string& message) {
  if (!message.empty() && message.front() == '[') {
    const auto end = message.find("] ");
    if (end != std::string::npos) return message.substr(end + 2);
  }
  return message;
}

nlohmann::json parse_json(const std::string& text, const std::string& display_name) {
  try {
    StrictSax strict;
    if (!nlohmann::json::sax_parse(text, &strict) && !strict.error.empty()) {
      throw InputError(display_name, strict.error);
    }
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(display_name, strip_exception_prefix(e.what()) + "; fix the JSON syntax");
  } catch (const nlohmann::json::out_of_range& e) {
    // A number literal past a double's range (1e400): found by fuzz_model, was an internal error.
    throw InputError(display_name, strip_exception_prefix(e.what()) + "; numbers must fit a double (|x| < 1.8e308)");
  } catch (const nlohmann::json::exception& e) {
    throw InputError(display_name, strip_exception_prefix(e.what()) + "; fix the JSON");
  }
}

std::string read_file(const std::string& path, int64_t max_bytes) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    throw InputError(path, errno == ENOENT ? std::string("cannot open file; check the path")
                                           : fmt::format("cannot open file ({}); check the path and "
                                                         "its permissions", std::strerror(errno)));
  }
  struct stat info {};
  std::string text;
  std::string failure;
  if (::fstat(fd, &info) != 0) {
    failure = fmt::format("cannot read file ({})", std::strerror(errno));
  } else if (S_ISDIR(info.st_mode)) {
    failure = "is a directory; give a file";
  } else if (!S_ISREG(info.st_mode)) {
    failure = "is not a regular file (a FIFO, device or socket); give a file";
  } else if (info.st_size > max_bytes) {
    failure = fmt::format("is {} bytes, past the limit of {} for an input file (README \"Limits and "
                          "errors\")", static_cast<int64_t>(info.st_size), max_bytes);
  } else {
    char buffer[1 << 16];
    while (true) {
      const ssize_t n = ::read(fd, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        failure = fmt::format("cannot read file ({})", std::strerror(errno));
        break;
      }
      if (n == 0) break;
      text.append(buffer, static_cast<size_t>(n));
      if (static_cast<int64_t>(text.size()) > max_bytes) {  // a file that grows as it is read
        failure = fmt::format("is larger than the limit of {} bytes for an input file (README \"Limits "
                              "and errors\")", max_bytes);
        break;
      }
    }
  }
  ::close(fd);
  if (!failure.empty()) throw InputError(path, failure);
  return text;
}

ObjectReader::ObjectReader(const nlohmann::json& object, std::string file, std::string pointer)
    : object_(object), file_(std::move(file)), pointer_(std::move(pointer)) {
  if (!object_.is_object()) {
    throw InputError(file_, fmt::format("{}: expected a JSON object, got {}",
                                        pointer_.empty() ? "/" : pointer_, describe(object_)));
  }
}

void ObjectReader::fail(const std::string& key, const std::string& message) const {
  throw InputError(file_, fmt::format("{}: {}", pointer(key), message));
}

bool ObjectReader::has(const std::string& key) const {
  return object_.contains(key) && !object_.at(key).is_null();
}

const nlohmann::json& ObjectReader::get(const std::string& key) {
  known_.insert(key);
  if (!object_.contains(key)) fail(key, "missing required field; add it");
  return object_.at(key);
}

int64_t ObjectReader::integer(const std::string& key, std::optional<int64_t> fallback,
                              int64_t min, int64_t max, const std::string& fix) {
  known_.insert(key);
  if (!has(key)) {
    if (fallback) return *fallback;
    fail(key, "missing required field; add an integer");
  }
  const auto& value = object_.at(key);
  const std::string range = fmt::format("must be between {} and {}", min, max);
  const std::string then_fix = fix.empty() ? "" : "; " + fix;
  int64_t result = 0;
  if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    fail(key, fmt::format("{} (got {}){}", range, value.get<uint64_t>(), then_fix));
  } else if (value.is_number_integer()) {
    result = value.get<int64_t>();
  } else if (value.is_number_float() && std::isfinite(value.get<double>()) &&
             value.get<double>() == std::floor(value.get<double>()) &&
             std::fabs(value.get<double>()) < 9e15) {
    result = static_cast<int64_t>(value.get<double>());
  } else {
    fail(key, fmt::format("expected an integer, got {}; write a whole number without quotes",
                          describe(value)));
  }
  if (result < min || result > max) fail(key, fmt::format("{} (got {}){}", range, result, then_fix));
  return result;
}

double ObjectReader::number(const std::string& key, std::optional<double> fallback, double min,
                            double max) {
  known_.insert(key);
  if (!has(key)) {
    if (fallback) return *fallback;
    fail(key, "missing required field; add a number");
  }
  const auto& value = object_.at(key);
  if (!value.is_number()) {
    fail(key, fmt::format("expected a number, got {}; write it without quotes", describe(value)));
  }
  const double result = value.get<double>();
  if (!std::isfinite(result) || result < min || result > max) {
    fail(key, fmt::format("must be between {} and {} (got {})", min, max, result));
  }
  return result;
}

std::string ObjectReader::string(const std::string& key, std::optional<std::string> fallback) {
  known_.insert(key);
  if (!has(key)) {
    if (fallback) return *fallback;
    fail(key, "missing required field; add a string");
  }
  const auto& value = object_.at(key);
  if (!value.is_string()) fail(key, fmt::format("expected a string, got {}", describe(value)));
  return value.get<std::string>();
}

bool ObjectReader::boolean(const std::string& key, std::optional<bool> fallback) {
  known_.insert(key);
  if (!has(key)) {
    if (fallback) return *fallback;
    fail(key, "missing required field; add true or false");
  }
  const auto& value = object_.at(key);
  if (!value.is_boolean()) {
    fail(key, fmt::format("expected true or false, got {}", describe(value)));
  }
  return value.get<bool>();
}

ObjectReader ObjectReader::object(const std::string& key, bool optional) {
  known_.insert(key);
  static const nlohmann::json kEmpty = nlohmann::json::object();
  if (!has(key)) {
    if (optional) return ObjectReader(kEmpty, file_, pointer(key));
    fail(key, "missing required object; add it");
  }
  return ObjectReader(object_.at(key), file_, pointer(key));
}

const nlohmann::json& ObjectReader::raw(const std::string& key) { return get(key); }

void ObjectReader::ignore(const std::string& key) { known_.insert(key); }

std::vector<std::string> ObjectReader::keys() const {
  std::vector<std::string> result;
  for (const auto& item : object_.items()) result.push_back(item.key());
  return result;
}

void ObjectReader::finish() const {
  std::vector<std::string> known(known_.begin(), known_.end());
  for (const auto& item : object_.items()) {
    if (known_.count(item.key())) continue;
    const std::string suggestion = closest_match(item.key(), known);
    fail(item.key(), suggestion.empty()
                         ? fmt::format("unknown key \"{}\"; remove it", item.key())
                         : fmt::format("unknown key \"{}\"; did you mean \"{}\"?", item.key(),
                                       suggestion));
  }
}

}  // namespace spsim::detail
