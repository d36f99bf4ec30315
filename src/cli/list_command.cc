#include <algorithm>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "cli/commands.h"
#include "common/data_dir.h"
#include "spsim/error.h"
#include "spsim/strategy.h"
#include "spsim/topology.h"
#include "spsim/units.h"

namespace spsim::cli {

namespace {

// The first clause of a source line: the full citation is in the model file.
std::string short_source(const std::string& source) {
  const size_t cut = source.find_first_of(";(:");
  std::string text = source.substr(0, cut);
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text.size() > 60 ? text.substr(0, 57) + "..." : text;
}

// The shipped files of `folder`; none at all means the data folder is wrong, not empty.
std::vector<std::string> shipped(const std::vector<std::string>& names, const std::string& folder) {
  if (names.empty()) {
    throw InputError("list", fmt::format("no shipped {} in {}/{}; set SPSIM_DATA_DIR to the folder holding "
                                         "models/ and topologies/, or unset it", folder, detail::data_dir(),
                                         folder));
  }
  return names;
}

}  // namespace

void add_list_command(CLI::App& app) {
  auto what = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("list", "list shipped models, topologies or strategies");
  cmd->add_option("what", *what, "models | topologies | strategies")->required();
  cmd->footer("Example:\n  spsim list topologies");
  cmd->callback([=]() {
    // The whole table first: a broken file fails before any row reaches stdout.
    std::string text;
    if (*what == "models") {
      text += fmt::format("{:<18} {:>7} {:>7} {:>6} {:>5} {:>7} {:>8}  {}\n", "name", "params", "hidden", "heads",
                 "kv", "layers", "ffn", "source");
      for (const auto& name : shipped(list_models(), "models")) {
        const ModelSpec m = load_model(name);
        text += fmt::format("{:<18} {:>6.1f}B {:>7} {:>6} {:>5} {:>7} {:>8}  {}\n", name, m.total_params() / 1e9,
                   m.hidden_size, m.num_attention_heads, m.num_key_value_heads, m.num_layers,
                   m.ffn_hidden_size, short_source(m.source));
      }
    } else if (*what == "topologies") {
      // Datasheet files, then the calibrated ones (loadable as -T calibrated/NAME), whose last
      // column says how many collective fits and replaced constants they carry.
      std::vector<std::string> names = shipped(list_topologies(), "topologies");
      for (const auto& name : detail::list_data_files("topologies/calibrated")) {
        names.push_back("calibrated/" + name);
      }
      size_t width = 16;
      for (const auto& name : names) width = std::max(width, name.size());
      text += fmt::format("{:<{}} {:<24} {:>9} {:>8} {:>13} {:>12}  {}\n", "name", width, "gpu", "gpus/node", "HBM_GiB",
                 "scaleup_GBps", "nic/gpu_GBps", "interconnect");
      for (const auto& name : names) {
        const Topology t = load_topology(name);
        std::string kind = t.intra_node_kind;
        if (!t.fits.empty() || !t.replaced.empty()) {
          kind += fmt::format(", calibrated: {} fits, {} replaced", t.fits.size(), t.replaced.size());
        }
        text += fmt::format("{:<{}} {:<24} {:>9} {:>8.0f} {:>13.0f} {:>12.1f}  {}\n", name, width, t.gpu.name,
                   t.gpus_per_node, t.gpu.hbm_bytes / kGiB, t.intra_node_bandwidth / 1e9,
                   t.nic_bandwidth_per_gpu() / 1e9, kind);
      }
    } else if (*what == "strategies") {
      for (const auto& name : list_strategies()) {
        text += fmt::format("{:<12} {}\n", name, make_strategy(name)->description());
      }
    } else {
      throw InputError("list", fmt::format("unknown list \"{}\"; use models, topologies or strategies", *what));
    }
    std::fputs(text.c_str(), stdout);
  });
}

}  // namespace spsim::cli
