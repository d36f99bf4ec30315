// The Python module `spsim` (issue 19): the command line's verbs as functions whose keyword
// arguments are its flags and whose results are what `--json` prints, parsed.
//
//   import spsim
//   r = spsim.run(model="llama-3-8b", strategy="ring", gpus=8, seq=131072)   # spsim run ... --json
//   r["step_time_s"]
//
// Each call runs spsim's own command line in this process (run_cli, the code the binary runs) with
// its stdout and stderr captured, so a result is the same bytes `spsim ... --json` prints. Bad input
// raises ValueError with spsim's one-line message; a bug in spsim raises RuntimeError.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "cli/commands.h"
#include "common/json_reader.h"

namespace py = pybind11;

namespace {

struct Captured {
  int exit_code = 0;
  std::string out, err;
};

std::string read_all(FILE* file) {
  std::string text;
  std::fflush(file);
  std::rewind(file);
  char buffer[1 << 16];
  for (size_t n; (n = std::fread(buffer, 1, sizeof buffer, file)) > 0;) text.append(buffer, n);
  return text;
}

// Runs `spsim args...` in this process with file descriptors 1 and 2 sent to temporary files (the
// commands print with stdio; the GIL is released, and nothing else of Python runs meanwhile).
Captured call_cli(const std::vector<std::string>& args) {
  std::vector<const char*> argv{"spsim"};
  for (const auto& a : args) argv.push_back(a.c_str());
  Captured c;
  FILE* out = std::tmpfile();
  FILE* err = std::tmpfile();
  if (out == nullptr || err == nullptr) throw std::runtime_error("spsim: cannot create a temporary file");
  std::fflush(stdout);
  std::fflush(stderr);
  const int saved_out = ::dup(1), saved_err = ::dup(2);
  ::dup2(::fileno(out), 1);
  ::dup2(::fileno(err), 2);
  {
    py::gil_scoped_release release;
    c.exit_code = spsim::cli::run_cli(static_cast<int>(argv.size()), argv.data(),
                                      fmt::format("spsim {} ({})", SPSIM_VERSION, SPSIM_GIT_COMMIT));
    std::fflush(stdout);
    std::fflush(stderr);
  }
  ::dup2(saved_out, 1);
  ::dup2(saved_err, 2);
  ::close(saved_out);
  ::close(saved_err);
  c.out = read_all(out);
  c.err = read_all(err);
  std::fclose(out);
  std::fclose(err);
  return c;
}

// Keyword arguments as flags: gpus=8 -> --gpus 8, zero=3 -> --zero 3, ring_variant="stripe" ->
// --ring-variant stripe, gpus=[8, 64] -> --gpus 8,64, fp8=True -> --fp8, False or None: left out.
std::vector<std::string> flags(const py::kwargs& kwargs) {
  std::vector<std::string> out;
  for (const auto& [key, value] : kwargs) {
    std::string name = py::str(key);
    if (name == "json" || name == "help" || name == "version") {
      throw py::value_error(fmt::format("spsim: {}= is not an argument here: results are always --json's", name));
    }
    for (char& ch : name) {
      if (ch == '_') ch = '-';
    }
    const std::string flag = (name.size() == 1 ? "-" : "--") + name;
    if (value.is_none()) continue;
    if (py::isinstance<py::bool_>(value)) {
      if (value.cast<bool>()) out.push_back(flag);
      continue;
    }
    out.push_back(flag);
    if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
      std::string joined;
      for (const auto& item : value) {
        if (!joined.empty()) joined.push_back(',');
        joined.append(py::str(item).cast<std::string>());
      }
      out.push_back(joined);
    } else {
      out.push_back(py::str(value));
    }
  }
  return out;
}

py::object checked(const Captured& c) {
  std::string message = c.err;
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  if (c.exit_code == 2) throw py::value_error(message);
  if (c.exit_code != 0) throw std::runtime_error(message.empty() ? "spsim failed" : message);
  return py::module_::import("json").attr("loads")(c.out);
}

py::object verb(const std::string& command, const py::kwargs& kwargs) {
  std::vector<std::string> args{command};
  for (auto& f : flags(kwargs)) args.push_back(std::move(f));
  args.push_back("--json");
  return checked(call_cli(args));
}

}  // namespace

PYBIND11_MODULE(spsim, m) {
  m.doc() = "spsim: simulator and cost model for sequence-parallel Transformer training. Each function is "
            "the command of the same name; keyword arguments are its flags (gpus=8 is --gpus 8, "
            "ring_variant='stripe' is --ring-variant stripe, a list is a comma list, True a switch) and the "
            "result is what --json prints, as dicts and lists. Bad input raises ValueError.";
  m.attr("__version__") = SPSIM_VERSION;
  m.def("run", [](const py::kwargs& kw) { return verb("run", kw); },
        "spsim run: one or more plans (a dict, or a list for several)");
  m.def("max_context", [](const py::kwargs& kw) { return verb("max-context", kw); },
        "spsim max-context: the longest sequence that fits, per plan or per GPU count");
  m.def("attention", [](const py::kwargs& kw) { return verb("attention", kw); },
        "spsim attention: the attention core alone");
  m.def("validate", [](const py::kwargs& kw) {
          if (kw.contains("check_baseline")) {
            throw py::value_error("spsim: check_baseline= is the command line's exit status; compare "
                                  "validate()['summary'] yourself");
          }
          return verb("validate", kw);
        },
        "spsim validate: every row of the validation set and the summary");
  m.def("sweep", [](const py::kwargs& kw) {
          // sweep writes PREFIX.csv and PREFIX.json; read the JSON (in a temporary folder unless
          // output= names the prefix).
          py::kwargs args = kw;
          std::string dir;
          if (!args.contains("output") && !args.contains("o")) {
            char name[] = "/tmp/spsim_sweep_XXXXXX";
            if (::mkdtemp(name) == nullptr) throw std::runtime_error("spsim: cannot create a temporary folder");
            dir = name;
            args["output"] = dir + "/sweep";
          }
          const std::string prefix = py::str(args.contains("output") ? args["output"] : args["o"]);
          std::vector<std::string> argv{"sweep"};
          for (auto& f : flags(args)) argv.push_back(std::move(f));
          const Captured c = call_cli(argv);
          py::object result;
          try {
            if (c.exit_code != 0) checked(c);
            Captured file;
            file.out = spsim::detail::read_file(prefix + ".json");
            result = checked(file);
          } catch (...) {
            if (!dir.empty()) std::filesystem::remove_all(dir);
            throw;
          }
          if (!dir.empty()) std::filesystem::remove_all(dir);
          return result;
        },
        "spsim sweep: the rows of PREFIX.json (best=True: the best plan per point)");
  m.def("cli", [](const py::args& args) {
          std::vector<std::string> argv;
          for (const auto& a : args) argv.push_back(py::str(a));
          const Captured c = call_cli(argv);
          return py::make_tuple(c.exit_code, c.out, c.err);
        },
        "spsim.cli('list', 'models'): any command line; returns (exit status, stdout, stderr)");
}
