// `spsim plot RESULT`: the figures of a sweep, drawn by plots/spsim_plot.py with Debian's
// python3-matplotlib. The binary never links a plotting library; it only starts the script.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "common/data_dir.h"
#include "common/process.h"
#include "spsim/error.h"

extern char** environ;

namespace spsim::cli {

void run_plot_script(const std::string& result_path, const std::string& out_dir) {
  run_plot_script("spsim_plot.py", result_path, out_dir);
}

void run_plot_script(const std::string& script_name, const std::string& result_path,
                     const std::string& out_dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_regular_file(result_path, ec)) {
    throw InputError(result_path, "no such result file; give the .csv or .json a sweep wrote");
  }
  // The script creates `out_dir` once it has read the result: a bad input leaves no folder.
  const std::string script = (fs::path(detail::data_dir()) / "plots" / script_name).string();
  if (!fs::is_regular_file(script, ec)) {
    throw InputError("plot", fmt::format("plot script {} not found; set SPSIM_DATA_DIR to the spsim "
                                         "source or share folder", script));
  }
  // The PATH python3 may be a pyenv build that cannot see Debian's matplotlib: use the system one
  // unless SPSIM_PYTHON says otherwise.
  const char* env_python = std::getenv("SPSIM_PYTHON");
  const std::string python = env_python != nullptr && env_python[0] != '\0' ? env_python : "/usr/bin/python3";
  std::vector<std::string> args{python, script, result_path, "-o", out_dir};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  // The script's stderr comes back through a pipe, so its error becomes spsim's one line (D15:
  // a Python traceback or two lines reached the user).
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw Error(fmt::format("pipe failed: {}", std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
  pid_t pid = 0;
  std::fflush(nullptr);
  const int rc = ::posix_spawn(&pid, python.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(err_pipe[1]);
  const std::string messages = rc == 0 ? detail::read_until_eof(err_pipe[0]) : "";
  ::close(err_pipe[0]);
  if (rc != 0) {
    throw InputError("plot", fmt::format("cannot start {} ({}); install python3-matplotlib (apt) or set "
                                         "SPSIM_PYTHON", python, std::strerror(rc)));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    std::fputs(messages.c_str(), stderr);  // warnings, if any
    return;
  }
  // The script's last line; "SCRIPT: error: FILE: what" becomes "FILE: what".
  std::string last;
  std::istringstream lines(messages);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) last = line;
  }
  const std::string prefix = script_name + ": error: ";
  if (last.rfind(prefix, 0) == 0) throw InputError("", last.substr(prefix.size()));
  throw InputError("plot", fmt::format("plots/{} failed (exit {}){}{}", script_name, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                                       last.empty() ? "" : ": ", last));
}

void add_plot_command(CLI::App& app) {
  auto result = std::make_shared<std::string>();
  auto out_dir = std::make_shared<std::string>("plots-out");
  CLI::App* cmd = app.add_subcommand(
      "plot", "draw a sweep result (CSV or JSON) as PNG + SVG with matplotlib (deterministic bytes)");
  cmd->add_option("result", *result, "PREFIX.csv or PREFIX.json written by spsim sweep")->required();
  cmd->add_option("-o,--output", *out_dir, "folder for the figures (created if missing)")->capture_default_str();
  cmd->footer(
      "Figures: throughput_vs_seq, tflops_vs_seq, memory_vs_seq, breakdown, best_heatmap, scaling\n"
      "Example:\n  spsim sweep --best -o out/sweep && spsim plot out/sweep.json -o out/plots");
  cmd->callback([=]() { run_plot_script(*result, *out_dir); });
}

}  // namespace spsim::cli
