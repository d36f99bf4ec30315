// `spsim plot RESULT`: the figures of a sweep, drawn by plots/spsim_plot.py with Debian's
// python3-matplotlib. The binary never links a plotting library; it only starts the script.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "cli/commands.h"
#include "common/data_dir.h"
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
  fs::create_directories(out_dir, ec);
  if (ec) throw InputError("-o", fmt::format("cannot create folder {} ({}); choose a writable path", out_dir, ec.message()));
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
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, python.c_str(), nullptr, nullptr, argv.data(), environ);
  if (rc != 0) {
    throw InputError("plot", fmt::format("cannot start {} ({}); install python3-matplotlib (apt) or set "
                                         "SPSIM_PYTHON", python, std::strerror(rc)));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw InputError("plot", fmt::format("plots/{} failed (exit {}); see its message above", script_name,
                                         WIFEXITED(status) ? WEXITSTATUS(status) : -1));
  }
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
