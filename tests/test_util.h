// Helpers shared by the tests.
#ifndef SPSIM_TESTS_TEST_UTIL_H_
#define SPSIM_TESTS_TEST_UTIL_H_

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "spsim/error.h"
#include "spsim/model.h"

/// Expects `statement` to throw `type` whose what() contains `substring`.
#define EXPECT_THROW_MSG(statement, type, substring)                                   \
  do {                                                                                 \
    try {                                                                              \
      statement;                                                                       \
      ADD_FAILURE() << "expected " #type " containing \"" << (substring) << "\"";      \
    } catch (const type& e) {                                                          \
      EXPECT_NE(std::string(e.what()).find(substring), std::string::npos)              \
          << "message was: " << e.what();                                              \
    }                                                                                  \
  } while (0)

namespace spsim::test {

inline std::string data_path(const std::string& name) {
  return std::string(SPSIM_TEST_DATA_DIR) + "/" + name;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

/// A new empty folder under /tmp, named after `what`.
inline std::string temp_dir(const std::string& what = "test") {
  std::string path = "/tmp/spsim_" + what + "_XXXXXX";
  return mkdtemp(path.data());
}

struct CommandResult {
  int exit_code = -1;
  std::string out;   // stdout
  std::string err;   // stderr
};

/// Runs the real spsim binary with `args` (a shell-quoted string) in `cwd` (default: a temp dir).
inline CommandResult run_spsim(const std::string& args, const std::string& cwd = "") {
  char dir_template[] = "/tmp/spsim_cli_XXXXXX";
  const std::string dir = cwd.empty() ? std::string(mkdtemp(dir_template)) : cwd;
  const std::string out_path = dir + "/stdout.txt";
  const std::string err_path = dir + "/stderr.txt";
  const std::string command = "cd '" + dir + "' && '" + std::string(SPSIM_BINARY) + "' " + args +
                              " >'" + out_path + "' 2>'" + err_path + "'";
  const int status = std::system(command.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_text(out_path);
  result.err = read_text(err_path);
  std::remove(out_path.c_str());
  std::remove(err_path.c_str());
  return result;
}

/// Every bad input: exit 2, exactly one line on stderr starting "spsim: error: " and containing
/// `needle`, nothing on stdout.
inline void expect_one_line_error(const CommandResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("spsim: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

/// A small Llama-like model whose numbers are easy to compute by hand.
inline ModelSpec tiny_model() {
  ModelSpec m;
  m.name = "tiny";
  m.hidden_size = 1024;
  m.num_layers = 4;
  m.num_attention_heads = 16;
  m.num_key_value_heads = 4;
  m.head_dim = 64;
  m.ffn_hidden_size = 4096;
  m.vocab_size = 32000;
  m.gated_mlp = true;
  return m;
}

/// Llama-3-8B's shape (hand-built, no file needed): h 4096, a 32, k 8, f 14336, V 128256, L 32.
inline ModelSpec llama3_8b() {
  ModelSpec m;
  m.name = "Llama-3-8B";
  m.hidden_size = 4096;
  m.num_layers = 32;
  m.num_attention_heads = 32;
  m.num_key_value_heads = 8;
  m.head_dim = 128;
  m.ffn_hidden_size = 14336;
  m.vocab_size = 128256;
  m.gated_mlp = true;
  return m;
}

}  // namespace spsim::test

#endif  // SPSIM_TESTS_TEST_UTIL_H_
