// Launch settings: a plan in a training framework's own vocabulary (`--emit`), and a framework's
// launch script or config read back into a plan (`--from-args`, `--from-deepspeed`,
// `--from-torchtitan`). Every setting name written or read is one the framework accepts: the
// lists in src/export/names/*.txt were generated from each framework's source at a named commit.
//
//   const JobConfig job = make_strategy(plan.strategy)->check(model, plan);  // resolved
//   const LaunchSettings s = emit_launch(LaunchFormat::kMegatron, model, topology, job);
//   fmt::print("{}", s.text);   // torchrun ... pretrain_gpt.py --tensor-model-parallel-size ...
//   const ImportedLaunch back = import_launch(LaunchFormat::kMegatron, s.text, "args.sh");
#ifndef SPSIM_LAUNCH_H_
#define SPSIM_LAUNCH_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "spsim/job.h"
#include "spsim/model.h"
#include "spsim/topology.h"

namespace spsim {

/// The vocabularies spsim writes and reads.
enum class LaunchFormat : uint8_t {
  kMegatron,    // Megatron-LM pretrain_gpt.py arguments under torchrun
  kNemo,        // Megatron-Bridge (NeMo 2's successor) run_recipe.py ConfigContainer overrides
  kDeepSpeed,   // a DeepSpeed config JSON (ZeRO, batch, precision, Ulysses sequence_parallel_size)
  kTorchtitan,  // a torchtitan job TOML ([parallelism], [training], ...)
};

/// "megatron" | "nemo" | "deepspeed" | "torchtitan"; InputError naming `where` otherwise.
LaunchFormat parse_launch_format(std::string_view name, const std::string& where);
const char* to_string(LaunchFormat format);
/// The framework profile (spsim/framework.h) whose plan a format launches: megatron, nemo,
/// deepspeed, fsdp (torchtitan).
const char* launch_framework(LaunchFormat format);

/// One setting as written: the list its name belongs to (src/export/names/<list>.txt), the name
/// ("--tensor-model-parallel-size", "model.context_parallel_size", "parallelism.tensor_parallel_degree",
/// "zero_optimization.stage") and its value as written ("" for a flag; TOML strings quoted).
struct LaunchSetting {
  std::string list, name, value;
};

/// One plan's launch settings.
struct LaunchSettings {
  LaunchFormat format = LaunchFormat::kMegatron;
  std::string text;                     // ready to use: a command line, a JSON config or a TOML file
  std::vector<LaunchSetting> settings;  // every setting written, in order
  std::vector<std::string> notes;       // what the settings cannot say (model code), one line each
};

/// The launch settings of `job` in `format`'s vocabulary. `job` must be resolved by its
/// strategy's check() (framework, data_parallel and defaults filled in) for `model`; its framework
/// must be launch_framework(format). `comments` are prepended as comment lines where the format
/// has comments (all but DeepSpeed's JSON). Throws InputError naming "--emit" when the framework
/// cannot run or cannot express the plan, with the reason and what to change.
LaunchSettings emit_launch(LaunchFormat format, const ModelSpec& model, const Topology& topology,
                           const JobConfig& job, const std::vector<std::string>& comments = {});

/// {"format", "framework", "text", "settings": [{"list", "name", "value"}, ...], "notes": [...]}.
nlohmann::json to_json(const LaunchSettings& settings);

/// What a launch script or config says about the plan.
struct ImportedLaunch {
  LaunchFormat format = LaunchFormat::kMegatron;
  JobConfig job;                   // framework set; fields the input does not carry keep JobConfig's defaults
  std::optional<ModelSpec> model;  // when the input carries the model (dimensions, a recipe, a flavor)
  /// job_to_json keys the input set (a flag on the command line overrides each of them).
  std::set<std::string> given;
  /// Settings the framework accepts that do not change the plan (learning rate, data paths, ...),
  /// in order of appearance.
  std::vector<std::string> ignored;
  /// job_to_json keys this format never carries, so they come from flags or defaults.
  std::vector<std::string> not_carried;
  /// Keys (job_to_json's, or "model") the input leaves to a default spsim does not know (a
  /// recipe's, a launcher's), each with why: the command line must give them.
  std::vector<std::pair<std::string, std::string>> missing;
  /// How the input was read where that is not one to one, one line each.
  std::vector<std::string> notes;
};

/// Reads `text` (`where` names it in errors): for kMegatron an argument string or a shell script
/// of Megatron-LM arguments (torchrun's --nnodes / --nproc-per-node give the GPU count) or of
/// Megatron-Bridge run_recipe.py overrides (KEY=VALUE, --recipe), for kDeepSpeed a config JSON,
/// for kTorchtitan a job TOML. An unknown name is an error with a "did you mean"; a known one that
/// spsim cannot model (MoE, uneven pipeline stages, offloading, ...) is an error naming it.
ImportedLaunch import_launch(LaunchFormat format, const std::string& text, const std::string& where);

/// The shipped model (models/*.json) with the same shape as `model`, its max_position_embeddings
/// ignored unless positions are learned; nullopt when none matches.
std::optional<ModelSpec> find_shipped_model(const ModelSpec& model);

/// Whether `name` is in the framework's list (src/export/names/: megatron-lm, megatron-bridge,
/// torchrun, deepspeed, torchtitan), and the list's first header line (its source and commit).
bool framework_accepts(std::string_view list, std::string_view name);
std::string framework_list_source(std::string_view list);

/// The scheme a set of degrees runs, read from the registered strategies' traits: u and r > 1
/// USP, u > 1 Ulysses, r > 1 ring, t > 1 Megatron-SP (Megatron-TP without sequence parallelism),
/// else plain data parallelism. What a framework's settings describe; a plan of another scheme
/// with the same degrees (Ulysses with u = 1) is the same plan.
std::string scheme_for_degrees(int64_t t, int64_t u, int64_t r, bool sequence_parallel);

}  // namespace spsim

#endif  // SPSIM_LAUNCH_H_
