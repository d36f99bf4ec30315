// The command line (run_cli) on arguments taken from the input, one per line. Exit 3 (a bug) or
// anything escaping run_cli is a finding. Commands that write files, fork (the des engine,
// sweeps), start Python (plot) or time themselves (bench) are left out, as are paths (any
// argument with a '/'), so runs are hermetic.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "fuzz_util.h"

namespace {

bool allowed(const std::vector<std::string>& args) {
  static const std::vector<std::string> commands = {"run", "explain", "list", "attention", "max-context"};
  static const std::vector<std::string> banned = {"-o", "--output", "--trace", "--config", "--engine", "--plot",
                                                  "-j", "--jobs", "--trace-all-gpus", "--simulate-all-gpus"};
  if (args.empty() || std::find(commands.begin(), commands.end(), args[0]) == commands.end()) return false;
  for (const std::string& arg : args) {
    if (arg.find('/') != std::string::npos) return false;
    for (const std::string& flag : banned) {
      if (arg == flag || arg.rfind(flag + "=", 0) == 0) return false;
    }
    // A short option with its value attached ("-oFILE", or -o at the end of a cluster) writes a
    // file in the working directory too.
    if (arg.size() > 1 && arg[0] == '-' && arg[1] != '-' && arg.find_first_of("oj") != std::string::npos) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 512) return 0;
  std::vector<std::string> args;
  std::string current;
  for (size_t i = 0; i < size; ++i) {
    const char c = static_cast<char>(data[i]);
    if (c == '\n') {
      args.push_back(current);
      current.clear();
    } else if (c != '\0') {
      current += c;
    }
  }
  if (!current.empty()) args.push_back(current);
  if (args.size() > 24 || !allowed(args)) return 0;
  std::vector<const char*> argv{"spsim"};
  for (const std::string& arg : args) argv.push_back(arg.c_str());
  const int code = spsim::cli::run_cli(static_cast<int>(argv.size()), argv.data(), "spsim fuzz");
  if (code != 0 && code != 2) __builtin_trap();  // exit 3: a bug, or an input error not reported as one
  return 0;
}
