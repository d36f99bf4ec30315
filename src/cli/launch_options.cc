#include "cli/launch_options.h"

#include <cmath>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "common/json_reader.h"
#include "spsim/error.h"
#include "spsim/memory.h"
#include "spsim/units.h"

namespace spsim::cli {

namespace {

// The command-line flags that stand in for a job_to_json key the input leaves to a default
// spsim does not know (ImportedLaunch::missing): any one of them given is enough.
struct KeyFlags {
  const char* key;
  std::vector<const char*> flags;
  const char* shown;  // how the message names them
};
const std::vector<KeyFlags>& key_flags() {
  static const std::vector<KeyFlags> table{
      {"model", {"--model"}, "-m"},
      {"num_gpus", {"--gpus"}, "--gpus"},
      {"seq_length", {"--seq"}, "--seq"},
      {"micro_batch_size", {"--mbs"}, "--mbs"},
      {"global_batch_size", {"--gbs"}, "--gbs"},
      {"tensor_model_parallel_size", {"--tp"}, "-t"},
      {"pipeline_model_parallel_size", {"--pp"}, "--pp"},
      {"virtual_pipeline_model_parallel_size", {"--vpp"}, "--vpp"},
      {"ulysses_degree", {"--ulysses-degree", "--ring-degree", "--cp"}, "-u or -r"},
      {"ring_degree", {"--ulysses-degree", "--ring-degree", "--cp"}, "-u or -r"},
      {"ring_comm", {"--cp-comm-type"}, "--cp-comm-type"},
      {"sequence_parallel", {"--no-sequence-parallel", "--strategy"}, "-s or --no-sequence-parallel"},
      {"recompute_granularity", {"--recompute"}, "--recompute"},
      {"zero_stage", {"--zero"}, "--zero"},
      {"precision", {"--precision"}, "--precision"},
      {"fp8_recipe", {"--fp8-recipe"}, "--fp8-recipe"},
  };
  return table;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ", ") + item;
  return out;
}

}  // namespace

void add_launch_import_options(CLI::App* cmd, LaunchImportOptions& o) {
  cmd->add_option("--from-args", o.args,
                  "the job of a Megatron-LM (pretrain_gpt.py) or Megatron-Bridge (run_recipe.py) launch: its "
                  "argument string, or a script file; flags given here override it")
      ->group("Input");
  cmd->add_option("--from-deepspeed", o.deepspeed, "the job of a DeepSpeed config JSON file (ds_config.json)")
      ->group("Input");
  cmd->add_option("--from-torchtitan", o.torchtitan, "the job of a torchtitan job TOML file")->group("Input");
}

std::optional<ImportedJob> read_launch_import(const LaunchImportOptions& o,
                                              const std::function<bool(const char*)>& given) {
  struct Source {
    const char* flag;
    const std::string& value;
    LaunchFormat format;
  };
  const Source sources[] = {{"--from-args", o.args, LaunchFormat::kMegatron},
                            {"--from-deepspeed", o.deepspeed, LaunchFormat::kDeepSpeed},
                            {"--from-torchtitan", o.torchtitan, LaunchFormat::kTorchtitan}};
  const Source* source = nullptr;
  for (const auto& s : sources) {
    if (s.value.empty()) continue;
    if (source != nullptr) {
      throw InputError(s.flag, fmt::format("give one launch input; {} is given too", source->flag));
    }
    source = &s;
  }
  if (source == nullptr) return std::nullopt;
  if (given("--config")) throw InputError(source->flag, "give --config or a launch input, not both");
  // --from-args takes the arguments themselves or a script; the others always a file.
  // is_regular_file's non-throwing form: an argument string longer than a file name may be is no
  // path (the throwing one fails with "File name too long").
  std::error_code no_file;
  const bool is_file =
      source->format != LaunchFormat::kMegatron || std::filesystem::is_regular_file(source->value, no_file);
  // One word that is not an argument ("--...") and names no file is a mistyped path, not an
  // argument string whose stray word would be dropped.
  if (!is_file && source->value.find_first_of(" \t\n") == std::string::npos && source->value.rfind("-", 0) != 0) {
    throw InputError(source->flag, fmt::format("no file \"{}\"; give a Megatron-LM script or the arguments "
                                               "themselves (\"--tensor-model-parallel-size 8 ...\")",
                                               source->value));
  }
  const std::string where = is_file ? source->value : std::string(source->flag);
  const std::string text = is_file ? detail::read_file(source->value) : source->value;
  const ImportedLaunch in = import_launch(source->format, text, where);

  ImportedJob out;
  out.job = in.job;
  out.job.framework_reserve_bytes = kDefaultFrameworkReserveBytes;  // not a launch setting
  out.model = in.model;
  for (const auto& [key, why] : in.missing) {
    const KeyFlags* entry = nullptr;
    for (const auto& k : key_flags()) {
      if (key == k.key) entry = &k;
    }
    if (entry == nullptr) throw Error("no flag gives " + key);
    bool covered = false;
    for (const char* flag : entry->flags) covered = covered || given(flag);
    if (!covered) throw InputError(where, fmt::format("{}; give {}", why, entry->shown));
  }
  const char* format = to_string(in.format);
  if (!in.ignored.empty()) {
    out.notes.push_back(fmt::format("{}: ignored (no effect on the step spsim models): {}", where, join(in.ignored)));
  }
  if (!in.not_carried.empty()) {
    out.notes.push_back(fmt::format("{}: a {} config does not say {}: taken from the command line or spsim's "
                                    "defaults",
                                    where, format, join(in.not_carried)));
  }
  for (const auto& note : in.notes) out.notes.push_back(fmt::format("{}: {}", where, note));
  return out;
}

void add_plan_output_options(CLI::App* cmd, PlanOutputOptions& o, bool with_emit) {
  o.command = cmd;
  if (with_emit) {
    cmd->add_option("--emit", o.emit,
                    "print the plan's launch settings instead of the table: megatron (torchrun pretrain_gpt.py "
                    "arguments), nemo (Megatron-Bridge run_recipe.py overrides), deepspeed (ds_config.json), "
                    "torchtitan (job TOML); with --json, a \"launch\" object")
        ->group("Output");
  }
  cmd->add_option("--train-tokens", o.train_tokens,
                  "tokens to train on (1T, 300B, 2e12: decimal): wall-clock days and GPU-hours of the run")
      ->group("Output");
  cmd->add_option("--gpu-hour-cost", o.gpu_hour_cost, "price of one GPU-hour (with --train-tokens): the run's cost")
      ->group("Output");
}

double train_tokens(const PlanOutputOptions& o) {
  const double tokens = o.train_tokens.empty() ? 0 : parse_train_tokens(o.train_tokens, "--train-tokens");
  if (o.gpu_hour_cost >= 0 && tokens <= 0) {
    throw InputError("--gpu-hour-cost", "prices a training run: give --train-tokens too");
  }
  return tokens;
}

std::string emit_framework(const PlanOutputOptions& o) {
  if (o.emit.empty()) return "";
  return launch_framework(parse_launch_format(o.emit, "--emit"));
}

LaunchSettings emit_report(const PlanOutputOptions& o, const RunReport& report) {
  const LaunchFormat format = parse_launch_format(o.emit, "--emit");
  const JobConfig& job = report.lowered.job;
  const double peak_gib = report.lowered.memory.peak() / kGiB;
  const double hbm_gib = report.topology.gpu.hbm_bytes / kGiB;
  // A plan that does not fit is still written (to compare, to edit), but never silently: the
  // comment says which memory it overflows, and a note says so for formats without comments.
  std::string overflow, suffix;
  if (!report.fits_in_memory) {
    // Either memory, or both: say each that overflows.
    const std::string host = host_overflow_text(report.lowered.memory, report.topology);
    const bool gpu = peak_gib > hbm_gib;
    const std::string gpu_text = fmt::format("peak memory {:.1f} GiB of {:.1f} GiB", peak_gib, hbm_gib);
    overflow = "does NOT fit: " + (host.empty() ? gpu_text : gpu ? gpu_text + "; and it " + host : host);
    suffix = host.empty() ? " (does NOT fit)" : " (does NOT fit: " + (gpu ? "GPU and host memory)" : host + ")");
  }
  const std::vector<std::string> comments{
      fmt::format("spsim {}: {} on {} x {} ({}), seq {}", SPSIM_VERSION, report.model.name, job.num_gpus,
                  report.topology.gpu.name, report.topology.name, format_count(job.seq_length)),
      fmt::format("plan: {} t{} u{} r{} dp{} pp{} zero{} mbs{} gbs{} recompute {} {}", job.strategy,
                  job.tensor_parallel, job.ulysses_degree, job.ring_degree, job.data_parallel, job.pipeline_parallel,
                  job.zero_stage, job.micro_batch_size, job.micro_batch_size * job.data_parallel * job.micro_batches(),
                  recompute_name(job), to_string(job.precision)),
      fmt::format("predicted: step {:.1f} ms, {:.0f} tokens/s, peak memory {:.1f} GiB of {:.1f} GiB{}",
                  report.result.step_time_s * 1e3, report.tokens_per_s, peak_gib, hbm_gib,
                  suffix)};
  LaunchSettings launch = emit_launch(format, report.model, report.topology, job, comments);
  if (!overflow.empty()) {
    launch.notes.insert(launch.notes.begin(),
                        fmt::format("the plan {}: it would run out of memory as written", overflow));
  }
  return launch;
}

double parse_train_tokens(const std::string& text, const std::string& where) {
  double scale = 1;
  std::string number = text;
  if (!number.empty()) {
    switch (number.back()) {
      case 'K': case 'k': scale = 1e3; break;
      case 'M': scale = 1e6; break;
      case 'B': case 'G': scale = 1e9; break;
      case 'T': scale = 1e12; break;
      default: break;
    }
    if (scale != 1) number.pop_back();
  }
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(number, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != number.size() || !std::isfinite(value) || value <= 0) {
    throw InputError(where, fmt::format("expected a positive token count such as 1T, 300B or 2e12 (got \"{}\")", text));
  }
  return value * scale;
}

}  // namespace spsim::cli
