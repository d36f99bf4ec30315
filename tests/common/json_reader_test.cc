// Hostile input files (robustness study D2, D9, D11, D13): deep nesting, duplicate keys, integers
// past int64, directories, FIFOs and devices. Each is one InputError naming the file and field.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "common/data_dir.h"
#include "common/json_reader.h"
#include "spsim/limits.h"
#include "spsim/model.h"
#include "spsim/topology.h"
#include "test_util.h"

namespace spsim {
namespace {

std::string shipped(const std::string& path) {
  return test::read_text(std::string(SPSIM_TEST_DATA_DIR) + "/../../" + path);
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return at == std::string::npos ? text : text.replace(at, from.size(), to);
}

std::string deep(int levels) { return std::string(levels, '[') + std::string(levels, ']'); }

using test::temp_dir;

TEST(JsonInput, DeepNestingIsAnErrorNotAStackOverflow) {
  // D2: describe() dumped the 200,000-deep value to quote it and overflowed the stack (SIGSEGV;
  // 20,000 levels were enough under AddressSanitizer).
  const std::string model = shipped("models/llama-3-8b.json");
  for (int levels : {20000, 200000}) {
    EXPECT_THROW_MSG(parse_model(replace(model, "\"hidden_size\": 4096", "\"hidden_size\": " + deep(levels)),
                                 "m.json"),
                     InputError, "/hidden_size/0/0/0");
  }
  EXPECT_THROW_MSG(parse_model(deep(100000), "m.json"), InputError, "nested deeper than 64 levels");
  const std::string topology = shipped("topologies/dgx-h100.json");
  EXPECT_THROW_MSG(parse_topology(replace(topology, "\"hbm_gib\": 79.65", "\"hbm_gib\": " + deep(200000)), "t.json"),
                   InputError, "nested deeper than 64 levels");
  // A shallow container is still quoted, a nested one described without dump().
  EXPECT_THROW_MSG(parse_model("[1, 2]", "a.json"), InputError, "got [1,2] (array)");
  EXPECT_THROW_MSG(parse_model(replace(model, "\"hidden_size\": 4096", "\"hidden_size\": [[1]]"), "m.json"),
                   InputError, "expected an integer, got an array of 1 items");
}

TEST(JsonInput, DuplicateKeysAreRefused) {
  // D9: nlohmann kept the last of two hidden_size keys: 18.7 B parameters and no warning; a
  // topology ran with the second hbm_gib.
  const std::string model = shipped("models/llama-3-8b.json");
  EXPECT_THROW_MSG(parse_model(replace(model, "\"hidden_size\": 4096,", "\"hidden_size\": 4096, \"hidden_size\": 8192,"),
                               "dup.json"),
                   InputError, "/hidden_size: duplicate key \"hidden_size\"");
  const std::string topology = shipped("topologies/dgx-h100.json");
  EXPECT_THROW_MSG(parse_topology(replace(topology, "\"hbm_gib\": 79.65,", "\"hbm_gib\": 80, \"hbm_gib\": 8,"), "t.json"),
                   InputError, "/gpu/hbm_gib: duplicate key");
  EXPECT_THROW_MSG(detail::parse_json(R"({"a": [{"b": 1}, {"b": 2, "b": 3}]})", "x.json"), InputError,
                   "/a/1/b: duplicate key");
  // The same key in two objects is fine.
  EXPECT_NO_THROW(detail::parse_json(R"({"a": {"b": 1}, "c": {"b": 2}})", "x.json"));
}

TEST(JsonInput, IntegersPastInt64SayWhatWasWrittenAndTheRealRange) {
  // D13: 2^64-1 was reported as "got -1"; 2^63-1 against the loader's internal widened range.
  const std::string model = shipped("models/llama-3-8b.json");
  EXPECT_THROW_MSG(parse_model(replace(model, "\"num_hidden_layers\": 32", "\"num_hidden_layers\": 18446744073709551615"),
                               "m.json"),
                   InputError, "must be between 1 and 16384 (got 18446744073709551615); use the model's");
  EXPECT_THROW_MSG(parse_model(replace(model, "\"num_hidden_layers\": 32", "\"num_hidden_layers\": 9223372036854775807"),
                               "m.json"),
                   InputError, "must be between 1 and 16384 (got 9223372036854775807); use the model's");
}

TEST(InputFiles, DirectoriesFifosAndDevicesAreNamedAsSuch) {
  // D13: a directory was "no file ... and no shipped model" or "empty file"; D11: calibrate
  // blocked forever opening a FIFO.
  const std::string dir = temp_dir();
  EXPECT_THROW_MSG(detail::read_file(dir), InputError, "is a directory; give a file");
  const std::string fifo = dir + "/f.log";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_THROW_MSG(detail::read_file(fifo), InputError, "is not a regular file");
  EXPECT_THROW_MSG(detail::read_file("/dev/zero"), InputError, "is not a regular file");
  EXPECT_THROW_MSG(load_model(dir), InputError, "is a directory, not a file");
  EXPECT_THROW_MSG(load_model(fifo), InputError, "is a FIFO, device or socket, not a file");
  EXPECT_THROW_MSG(load_topology("/dev/null"), InputError, "not a file");
}

TEST(InputFiles, FilesPastTheSizeLimitAreRefused) {
  const std::string path = temp_dir() + "/big.log";
  {
    std::ofstream out(path);
    out << std::string(100, 'x');
  }
  EXPECT_EQ(detail::read_file(path, 100).size(), 100u);
  EXPECT_THROW_MSG(detail::read_file(path, 99), InputError, "is 100 bytes, past the limit of 99");
}

TEST(InputFiles, DataDirThatIsNotAFolderIsNamed) {
  // D19: SPSIM_DATA_DIR=/nonexistent made `list models` print only its header, exit 0.
  const std::string missing = temp_dir() + "/nowhere";
  setenv("SPSIM_DATA_DIR", missing.c_str(), 1);
  EXPECT_THROW_MSG(detail::data_dir(), InputError, "is not a folder");
  const auto r = test::run_spsim("list models");
  unsetenv("SPSIM_DATA_DIR");
  test::expect_one_line_error(r, "SPSIM_DATA_DIR: \"" + missing + "\" is not a folder");
}

TEST(InputFiles, ListPrintsNothingWhenAShippedFileIsBroken) {
  // D19: rows before the broken model were already on stdout when the error came.
  const std::string dir = temp_dir();
  std::filesystem::create_directories(dir + "/models");
  std::filesystem::copy_file(std::string(SPSIM_TEST_DATA_DIR) + "/../../models/gpt-7b.json", dir + "/models/a.json");
  std::ofstream(dir + "/models/b.json") << "{\"name\": ";
  setenv("SPSIM_DATA_DIR", dir.c_str(), 1);
  const auto broken = test::run_spsim("list models");
  std::filesystem::create_directories(dir + "/empty");
  setenv("SPSIM_DATA_DIR", (dir + "/empty").c_str(), 1);
  const auto empty = test::run_spsim("list models");
  unsetenv("SPSIM_DATA_DIR");
  test::expect_one_line_error(broken, "b.json: parse error");
  test::expect_one_line_error(empty, "no shipped models in");
}

}  // namespace
}  // namespace spsim
