// Golden outputs: for every configuration of tests/golden/configs.json, the run report of each
// engine listed and the canonical dump of the lowered step, and for every command the real
// binary's output, compared byte for byte with tests/golden/expected/. A refactoring must leave
// them unchanged; a commit that changes the model regenerates them (tests/golden/README.md).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "spsim/engine.h"
#include "spsim/job.h"
#include "spsim/model.h"
#include "spsim/report.h"
#include "spsim/topology.h"
#include "test_util.h"

namespace spsim {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kGoldenDir = SPSIM_GOLDEN_DIR;

// SPSIM_GOLDEN_REGENERATE=1 (tests/golden/regenerate.sh): write the files instead of comparing.
bool regenerating() {
  const char* value = std::getenv("SPSIM_GOLDEN_REGENERATE");
  return value != nullptr && std::string(value) == "1";
}

const json& inputs() {
  static const json parsed = json::parse(test::read_text(kGoldenDir + "/configs.json"));
  return parsed;
}

// --- Canonical text: compact JSON, one line per top-level key, per segment and per task. ------

std::string object_lines(const json& object, const std::function<std::string(const json&)>& value) {
  std::string out = "{";
  bool first = true;
  for (const auto& [key, item] : object.items()) {
    out += first ? "" : ",\n";
    first = false;
    out += json(key).dump() + ":" + value(item);
  }
  return out + "}";
}

// A task graph: its header fields on one line, then one line per segment header and per task.
std::string graph_text(const json& graph) {
  json header = graph;
  header.erase("segments");
  std::string out = header.dump();
  out.pop_back();
  out += ",\"segments\":[\n";
  bool first_segment = true;
  for (const auto& segment : graph.at("segments")) {
    json head = segment;
    head.erase("tasks");
    std::string line = head.dump();
    line.pop_back();
    out += (first_segment ? "" : ",\n") + line + ",\"tasks\":[";
    first_segment = false;
    bool first_task = true;
    for (const auto& task : segment.at("tasks")) {
      out += (first_task ? "\n" : ",\n") + task.dump();
      first_task = false;
    }
    out += "]}";
  }
  return out + "]}";
}

std::string report_text(const json& report) {
  return object_lines(report, [](const json& item) { return item.dump(); }) + "\n";
}

std::string lowered_text(const json& lowered) {
  return object_lines(lowered, [](const json& item) {
           return item.is_object() && item.contains("segments") ? graph_text(item) : item.dump();
         }) + "\n";
}

// --- Comparison with a useful message. -------------------------------------------------------

// JSON pointer of the first place where `want` and `got` differ (keys in order, then indices).
std::optional<std::string> first_difference(const json& want, const json& got, const std::string& at) {
  if (want.type() != got.type()) return at.empty() ? "/" : at;
  if (want.is_object()) {
    std::set<std::string> keys;
    for (const auto& [key, item] : want.items()) keys.insert(key);
    for (const auto& [key, item] : got.items()) keys.insert(key);
    for (const auto& key : keys) {
      if (!want.contains(key) || !got.contains(key)) return at + "/" + key;
      if (auto where = first_difference(want.at(key), got.at(key), at + "/" + key)) return where;
    }
    return std::nullopt;
  }
  if (want.is_array()) {
    const size_t n = std::min(want.size(), got.size());
    for (size_t i = 0; i < n; ++i) {
      if (auto where = first_difference(want[i], got[i], at + "/" + std::to_string(i))) return where;
    }
    if (want.size() != got.size()) return at + "/" + std::to_string(n) + " (array length)";
    return std::nullopt;
  }
  if (want != got) return at.empty() ? "/" : at;
  return std::nullopt;
}

std::string shorten(const std::string& text) {
  return text.size() <= 300 ? text : text.substr(0, 300) + "...";
}

json value_at(const json& root, const std::string& pointer) {
  const std::string clean = pointer.substr(0, pointer.find(' '));
  try {
    return clean == "/" ? root : root.at(json::json_pointer(clean));
  } catch (const json::exception&) {
    return "(absent)";
  }
}

std::string describe_difference(const std::string& want, const std::string& got) {
  const json a = json::parse(want, nullptr, false);
  const json b = json::parse(got, nullptr, false);
  if (!a.is_discarded() && !b.is_discarded()) {
    if (const auto where = first_difference(a, b, "")) {
      return "first differing key " + *where + ": expected " + shorten(value_at(a, *where).dump()) +
             ", got " + shorten(value_at(b, *where).dump());
    }
    return "same JSON values, different text (formatting)";
  }
  size_t line = 1, start = 0;
  const size_t n = std::min(want.size(), got.size());
  size_t i = 0;
  while (i < n && want[i] == got[i]) {
    if (want[i] == '\n') {
      ++line;
      start = i + 1;
    }
    ++i;
  }
  auto line_of = [&](const std::string& text) {
    const size_t end = text.find('\n', start);
    return shorten(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
  };
  return "first differing line " + std::to_string(line) + ":\n  expected: " + line_of(want) +
         "\n  got:      " + line_of(got);
}

// Compares `actual` with expected/<name>, or writes it when regenerating.
void check_golden(const std::string& name, const std::string& actual) {
  const std::string path = kGoldenDir + "/expected/" + name;
  const bool exists = fs::exists(path);
  const std::string expected = exists ? test::read_text(path) : std::string();
  if (regenerating()) {
    if (!exists || expected != actual) {
      std::ofstream(path, std::ios::binary | std::ios::trunc) << actual;
      std::printf("golden: %s %s\n", exists ? "updated" : "created", path.c_str());
    }
    return;
  }
  if (!exists) {
    ADD_FAILURE() << path << " is missing; run tests/golden/regenerate.sh (see tests/golden/README.md)";
    return;
  }
  if (expected != actual) {
    ADD_FAILURE() << path << " differs: " << describe_difference(expected, actual)
                  << "\n(a deliberate model change regenerates it: tests/golden/README.md)";
  }
}

// --- The configurations. ---------------------------------------------------------------------

struct Config {
  std::string name, model, topology;
  std::vector<std::string> engines;
  JobConfig job;
};

std::vector<Config> configs() {
  std::vector<Config> out;
  for (const auto& item : inputs().at("configs")) {
    Config c;
    c.name = item.at("name").get<std::string>();
    c.model = item.at("model").get<std::string>();
    c.topology = item.at("topology").get<std::string>();
    c.engines = item.at("engines").get<std::vector<std::string>>();
    c.job = job_from_json(item.at("job"), "tests/golden/configs.json: " + c.name);
    out.push_back(std::move(c));
  }
  return out;
}

std::set<std::string> expected_names() {
  std::set<std::string> names;
  for (const Config& c : configs()) {
    names.insert(c.name + ".lowered.json");
    for (const auto& engine : c.engines) names.insert(c.name + "." + engine + ".json");
  }
  for (const auto& command : inputs().at("commands")) {
    names.insert("cmd_" + command.at("name").get<std::string>() + ".txt");
  }
  return names;
}

void check_reports(const std::string& engine_name) {
  int checked = 0;
  for (const Config& c : configs()) {
    if (std::find(c.engines.begin(), c.engines.end(), engine_name) == c.engines.end()) continue;
    SCOPED_TRACE(c.name);
    try {
      const RunReport report = evaluate(load_model(c.model), load_topology(c.topology), c.job,
                                        *make_engine(engine_name));
      check_golden(c.name + "." + engine_name + ".json", report_text(to_json(report)));
      // The lowering is the same for every engine: dumped once, from the analytic run.
      if (engine_name == "analytic") check_golden(c.name + ".lowered.json", lowered_text(to_json(report.lowered)));
    } catch (const std::exception& e) {
      ADD_FAILURE() << c.name << ": " << e.what();
    }
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(Golden, AnalyticReportsAndLoweredSteps) { check_reports("analytic"); }

TEST(Golden, DesReports) { check_reports("des"); }

// The real binary: default degrees, "all", side-by-side degree filtering, sweeps, max-context and
// attention, whose choices of degrees a refactoring must keep.
TEST(Golden, Commands) {
  for (const auto& command : inputs().at("commands")) {
    const std::string name = command.at("name").get<std::string>();
    SCOPED_TRACE(name);
    char dir_template[] = "/tmp/spsim_golden_XXXXXX";
    const std::string dir = mkdtemp(dir_template);
    std::string text;
    for (const auto& run : command.at("runs")) {
      std::string args = run.get<std::string>();
      const std::string shown = args;
      for (size_t at; (at = args.find("{source}")) != std::string::npos;) {
        args.replace(at, 8, SPSIM_SOURCE_DATA_DIR);
      }
      const test::CommandResult result = test::run_spsim(args, dir);
      EXPECT_EQ(result.exit_code, 0) << "spsim " << shown << "\n" << result.err;
      text += "$ spsim " + shown + "\n" + result.out;
    }
    for (const auto& file : command.value("files", json::array())) {
      const std::string file_name = file.get<std::string>();
      text += "--- " + file_name + "\n" + test::read_text(dir + "/" + file_name);
    }
    fs::remove_all(dir);
    check_golden("cmd_" + name + ".txt", text);
  }
}

// Every file in expected/ belongs to a configuration or command (regenerating removes the rest).
TEST(Golden, NoStaleFiles) {
  const std::set<std::string> names = expected_names();
  for (const auto& entry : fs::directory_iterator(kGoldenDir + "/expected")) {
    const std::string file = entry.path().filename().string();
    if (names.count(file) > 0) continue;
    if (regenerating()) {
      fs::remove(entry.path());
      std::printf("golden: removed %s\n", entry.path().c_str());
    } else {
      ADD_FAILURE() << entry.path() << " belongs to no configuration or command of configs.json; "
                    << "run tests/golden/regenerate.sh";
    }
  }
}

}  // namespace
}  // namespace spsim
