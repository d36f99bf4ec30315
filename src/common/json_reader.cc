#include "common/json_reader.h"

#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "spsim/error.h"

namespace spsim::detail {

namespace {

// nlohmann's messages start with "[json.exception.parse_error.101] parse error at line 3, ...".
std::string strip_exception_prefix(const std::string& message) {
  if (!message.empty() && message.front() == '[') {
    const auto end = message.find("] ");
    if (end != std::string::npos) return message.substr(end + 2);
  }
  return message;
}

std::string describe(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 40) text = text.substr(0, 37) + "...";
  return fmt::format("{} ({})", text, value.type_name());
}

}  // namespace

nlohmann::json parse_json(const std::string& text, const std::string& display_name) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(display_name, strip_exception_prefix(e.what()) + "; fix the JSON syntax");
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot open file; check the path");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw InputError(path, "cannot read file");
  return buffer.str();
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
                              int64_t min, int64_t max) {
  known_.insert(key);
  if (!has(key)) {
    if (fallback) return *fallback;
    fail(key, "missing required field; add an integer");
  }
  const auto& value = object_.at(key);
  int64_t result = 0;
  if (value.is_number_integer()) {
    result = value.get<int64_t>();
  } else if (value.is_number_float() && std::isfinite(value.get<double>()) &&
             value.get<double>() == std::floor(value.get<double>()) &&
             std::fabs(value.get<double>()) < 9e15) {
    result = static_cast<int64_t>(value.get<double>());
  } else {
    fail(key, fmt::format("expected an integer, got {}; write a whole number without quotes",
                          describe(value)));
  }
  if (result < min || result > max) {
    fail(key, fmt::format("must be between {} and {} (got {})", min, max, result));
  }
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
