// Shared by the launch writers (emit.cc) and readers (import_*.cc).
#ifndef SPSIM_EXPORT_LAUNCH_INTERNAL_H_
#define SPSIM_EXPORT_LAUNCH_INTERNAL_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "spsim/job.h"
#include "spsim/launch.h"
#include "spsim/model.h"
#include "spsim/topology.h"

namespace spsim::detail {

/// A resolved plan with the numbers every writer needs.
struct Plan {
  ModelSpec model;
  std::string topology_name;
  JobConfig job;
  int64_t gpus_per_node = 8;       // the topology's
  int64_t gpus_per_node_used = 8;  // torchrun --nproc-per-node: min(GPUs, node)
  int64_t nodes = 1;               // torchrun --nnodes
  int64_t global_batch = 1;        // sequences per step: mbs x dp x micro-batches
};
Plan make_plan(const ModelSpec& model, const Topology& topology, const JobConfig& job);

/// Megatron-Bridge recipes of the shipped models (run_recipe.py --recipe; the names are in
/// src/export/names/megatron-bridge.txt).
struct Recipe {
  const char* model;   // shipped model name
  const char* recipe;  // Megatron-Bridge recipe function
};
const std::vector<Recipe>& bridge_recipes();

/// torchtitan llama3 flavors of the shipped models (torchtitan/models/llama3/__init__.py).
struct Flavor {
  const char* model;   // shipped model name
  const char* flavor;  // llama3_args key
};
const std::vector<Flavor>& torchtitan_flavors();

/// Words of a shell script or argument string as bash would pass them to a command, after
/// expanding variables the script assigns (NAME=value, NAME=(...), NAME+=(...), ${NAME:-default},
/// ${NAME[@]}, $((a*b))): one vector per command line (continuations joined, comments dropped).
/// Control words (if, then, fi, ...) and unknown variables stay as they are; assignments are not
/// returned. Array definitions are returned as lines of their own, so the arguments they hold are
/// seen even when the command line uses them through a variable. InputError on an unclosed quote.
std::vector<std::vector<std::string>> shell_lines(const std::string& text, const std::string& where);

/// A tiny TOML reader for job files: [table] / [a.b] headers, key = value with strings, integers,
/// floats, booleans and one-line arrays of those, # comments. Values are kept as TOML text
/// (strings with their quotes) under "table.key". InputError with the line on anything else.
struct TomlValue {
  std::string text;  // as written (strings quoted, arrays bracketed)
  int line = 0;
};
std::map<std::string, TomlValue> read_toml(const std::string& text, const std::string& where);

}  // namespace spsim::detail

#endif  // SPSIM_EXPORT_LAUNCH_INTERNAL_H_
