// Reading the validation set: validation/sources/*.json, each {"source": {...}, "rows": [...]}.
// A row is the published configuration and measurement as the source states it plus an "spsim"
// block (model and topology files, framework, FLOP convention, assumed defaults, or why spsim
// cannot run it). This file turns a row into the plan spsim runs; every rule it applies is a
// framework convention written next to it, never a per-row constant.
#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/format.h>

#include "common/data_dir.h"
#include "common/json_reader.h"
#include "spsim/error.h"
#include "spsim/framework.h"
#include "spsim/long_context.h"
#include "spsim/validate.h"

namespace spsim {

namespace fs = std::filesystem;

namespace {

// Published row fields (validation/README.md). "spsim" is read separately.
const std::set<std::string> kRowFields = {
    "id", "source", "model", "model_dims", "gpu", "gpus", "gpus_per_node", "interconnect",
    "framework", "parallel", "seq", "mbs", "gbs", "precision", "recompute", "causal", "metric",
    "value", "flop_convention", "notes", "spsim"};
const std::set<std::string> kParallelFields = {"tp", "pp", "vpp", "cp", "cp_comm_type", "ulysses",
                                               "ep", "dp", "fsdp", "zero"};
// Configuration fields an "assume" block may fill where the source is silent.
const std::set<std::string> kAssumable = {"mbs", "gbs", "recompute", "precision", "zero", "dp",
                                          "cp_comm_type", "tp", "pp", "vpp", "cp", "ulysses",
                                          "causal", "seq", "gpus", "fp8_recipe", "attention_impl",
                                          "cross_entropy", "grad_reduce_dtype", "elementwise_impl",
                                          "backward_prefetch",
                                          "account_for_embedding_in_pipeline_split",
                                          "account_for_loss_in_pipeline_split"};
const std::set<std::string> kFrameworks = {"megatron", "nemo", "deepspeed", "fsdp"};
const std::set<std::string> kConventions = {"model", "nemo_noncausal", "mbridge_causal",
                                            "megatron_deepspeed", "torchtitan", "palm",
                                            "fa_kernel", "causal_halved", "hardware", "unstated"};

class RowReader {
 public:
  RowReader(const nlohmann::json& row, std::string file, std::string id)
      : row_(row), file_(std::move(file)), id_(std::move(id)) {
    if (row_.contains("spsim") && row_["spsim"].is_object() && row_["spsim"].contains("assume") &&
        row_["spsim"]["assume"].is_object()) {
      assume_ = &row_["spsim"]["assume"];
    }
  }

  [[noreturn]] void fail(const std::string& field, const std::string& message) const {
    throw InputError(file_, fmt::format("row \"{}\": {}: {}", id_, field, message));
  }

  // A configuration value: the row's assumed one (recorded, with its reason in assume_why: a
  // recipe default where the source is silent, or the value a contradictory row must have), else
  // the published one, else null.
  const nlohmann::json* value(const std::string& field, const nlohmann::json* parent = nullptr) {
    const nlohmann::json& in = parent != nullptr ? *parent : row_;
    if (assume_ != nullptr && assume_->contains(field) && !(*assume_)[field].is_null()) {
      assumed_.push_back(fmt::format("{}={}", field, (*assume_)[field].dump()));
      used_.insert(field);
      return &(*assume_)[field];
    }
    if (in.contains(field) && !in[field].is_null()) return &in[field];
    return nullptr;
  }

  std::optional<int64_t> integer(const std::string& field, const nlohmann::json* parent = nullptr) {
    const nlohmann::json* v = value(field, parent);
    if (v == nullptr) return std::nullopt;
    if (v->is_boolean()) fail(field, "expected an integer, got a boolean");
    if (!v->is_number()) fail(field, fmt::format("expected an integer, got {}", v->dump()));
    const double d = v->get<double>();
    if (!(d >= 1 && d <= 1e15) || d != static_cast<double>(static_cast<int64_t>(d))) {
      fail(field, fmt::format("expected a positive integer, got {}", v->dump()));
    }
    return static_cast<int64_t>(d);
  }

  // A ZeRO stage (0 allowed): the published one, else the assumed one.
  std::optional<int64_t> integer_or_zero(const std::string& field, const nlohmann::json* parent) {
    const nlohmann::json* v = value(field, parent);
    if (v == nullptr) return std::nullopt;
    if (!v->is_number_integer() || v->get<int64_t>() < 0 || v->get<int64_t>() > 3) {
      fail(field, fmt::format("expected a ZeRO stage 0-3, got {}", v->dump()));
    }
    return v->get<int64_t>();
  }

  std::optional<std::string> text(const std::string& field, const nlohmann::json* parent = nullptr) {
    const nlohmann::json* v = value(field, parent);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) fail(field, fmt::format("expected a string, got {}", v->dump()));
    return v->get<std::string>();
  }

  std::string assumed() const {
    std::string out;
    for (const auto& a : assumed_) out += (out.empty() ? "" : ", ") + a;
    return out;
  }
  const std::set<std::string>& used() const { return used_; }

 private:
  const nlohmann::json& row_;
  const nlohmann::json* assume_ = nullptr;
  std::string file_, id_;
  std::vector<std::string> assumed_;
  std::set<std::string> used_;
};

std::string string_field(const nlohmann::json& object, const std::string& key) {
  return object.contains(key) && object[key].is_string() ? object[key].get<std::string>() : "";
}

// Which spsim scheme runs a published plan. Megatron's context parallelism defaults to the TE
// p2p ring with its load-balanced (zigzag) split; "a2a" is Ulysses inside Megatron; "allgather"
// (TE all_gather, torchtitan's default rotate method, Llama 3) gathers K/V. DeepSpeed's
// sequence_parallel_size is Ulysses. Tensor parallelism alone is Megatron TP with sequence
// parallelism (NeMo/Megatron-Bridge recipes and torchtitan's TP plan both shard norms over TP).
// Nothing else: plain data parallelism.
void choose_scheme(ValidationRow& row, RowReader& in, const nlohmann::json& parallel) {
  JobConfig& job = row.job;
  const int64_t cp = in.integer("cp", &parallel).value_or(1);
  const int64_t u = in.integer("ulysses", &parallel).value_or(1);
  std::string comm = in.text("cp_comm_type", &parallel).value_or("p2p");
  std::transform(comm.begin(), comm.end(), comm.begin(), [](unsigned char c) { return std::tolower(c); });
  if (comm == "all_gather") comm = "allgather";
  if (cp > 1 && u > 1) {
    row.unsupported = "context parallelism and DeepSpeed Ulysses together";
    return;
  }
  if (cp > 1) {
    if (comm == "a2a") {
      job.strategy = "ulysses";
      job.ulysses_degree = cp;
    } else if (comm == "p2p" || comm == "allgather") {
      job.strategy = "ring";
      job.ring_degree = cp;
      job.ring_comm = comm;
      job.ring_variant = "zigzag";
    } else {
      row.unsupported = fmt::format("cp_comm_type \"{}\" (hierarchical a2a+p2p needs the a2a degree)", comm);
    }
    return;
  }
  if (u > 1) {
    job.strategy = "ulysses";
    job.ulysses_degree = u;
    return;
  }
  job.strategy = job.tensor_parallel > 1 ? "megatron-sp" : "dp";
}

// ZeRO stage of a published plan: FSDP (torchtitan FSDP2, Megatron FSDP) shards parameters,
// gradients and optimizer states (ZeRO-3); an explicit DeepSpeed stage is taken as is; Megatron
// runs the distributed optimizer (ZeRO-1 over DP x CP) in every NeMo / Megatron-Bridge recipe,
// so a Megatron row without one is assumed to use it and says so.
int zero_stage(const ValidationRow& row, RowReader& in, const nlohmann::json& parallel,
               std::string& assumed) {
  if (const auto z = in.integer_or_zero("zero", &parallel)) return static_cast<int>(*z);
  const nlohmann::json fsdp = parallel.contains("fsdp") ? parallel["fsdp"] : nlohmann::json();
  if ((fsdp.is_boolean() && fsdp.get<bool>()) || (fsdp.is_number() && fsdp.get<double>() > 1)) {
    return 3;
  }
  if (row.framework == "fsdp") return 3;
  if (row.framework == "megatron") {
    assumed += std::string(assumed.empty() ? "" : ", ") + "zero=1 (Megatron distributed optimizer)";
    return 1;
  }
  return 0;
}

void resolve_training_job(ValidationRow& row, RowReader& in, const nlohmann::json& published) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  const nlohmann::json& parallel =
      published.contains("parallel") && published["parallel"].is_object() ? published["parallel"] : kEmpty;
  for (const auto& item : parallel.items()) {
    if (kParallelFields.count(item.key()) == 0) in.fail("parallel/" + item.key(), "unknown field");
  }
  JobConfig& job = row.job;
  const auto gpus = in.integer("gpus");
  const auto seq = in.integer("seq");
  if (!gpus) { row.incomplete = "GPU count not stated"; return; }
  if (!seq) { row.incomplete = "sequence length not stated"; return; }
  job.num_gpus = *gpus;
  job.seq_length = *seq;
  job.tensor_parallel = in.integer("tp", &parallel).value_or(1);
  job.pipeline_parallel = in.integer("pp", &parallel).value_or(1);
  job.virtual_pipeline_stages = in.integer("vpp", &parallel).value_or(1);
  if (job.pipeline_parallel == 1) job.virtual_pipeline_stages = 1;  // "VP" printed for p = 1 rows
  choose_scheme(row, in, parallel);
  if (!row.expressible()) return;
  if (const auto ep = in.integer("ep", &parallel); ep && *ep > 1) {
    row.unsupported = "expert parallelism (MoE)";
    return;
  }
  const int64_t split = job.tensor_parallel * job.ulysses_degree * job.ring_degree *
                        job.pipeline_parallel;
  if (const auto dp = in.integer("dp", &parallel)) {
    job.data_parallel = *dp;
  } else if (job.num_gpus % split == 0) {
    job.data_parallel = job.num_gpus / split;  // what is left, as every framework derives it
  }
  if (job.data_parallel <= 0 || job.data_parallel * split != job.num_gpus) {
    row.incomplete = fmt::format("degrees tp x pp x cp x dp do not multiply to {} GPUs", job.num_gpus);
    return;
  }

  std::string assumed;
  const auto mbs = in.integer("mbs");
  if (!mbs) { row.incomplete = "micro-batch size not stated"; return; }
  job.micro_batch_size = *mbs;
  if (const auto gbs = in.integer("gbs")) {
    job.global_batch_size = *gbs;
  } else if (job.pipeline_parallel > 1) {
    row.incomplete = "global batch not stated (it sets the pipeline bubble)";
    return;
  } else {
    job.global_batch_size = job.micro_batch_size * job.data_parallel;
    assumed = "gbs=mbs x dp";
  }
  const auto recompute = in.text("recompute");
  if (!recompute) { row.incomplete = "recompute not stated"; return; }
  set_recompute(job, *recompute, row.file + ": " + row.id + ": recompute");
  const auto precision = in.text("precision");
  if (!precision) { row.incomplete = "precision not stated"; return; }
  if (*precision == "mxfp8") {
    row.unsupported = "MXFP8 (block-scaled FP8)";
    return;
  }
  job.precision = parse_precision(*precision, row.file + ": " + row.id + ": precision");
  if (const nlohmann::json* causal = in.value("causal"); causal != nullptr) {
    if (!causal->is_boolean()) in.fail("causal", "expected true or false");
    job.causal = causal->get<bool>();
  }
  job.zero_stage = zero_stage(row, in, parallel, assumed);
  job.framework = row.framework;
  // Container-specific settings the source documents (the FP8 recipe, the attention backend a
  // launcher forced); absent, the framework's own default applies.
  job.fp8_recipe = in.text("fp8_recipe").value_or("");
  job.attention_impl = in.text("attention_impl").value_or("");
  job.cross_entropy = in.text("cross_entropy").value_or("");
  job.grad_reduce_dtype = in.text("grad_reduce_dtype").value_or("");
  job.elementwise_impl = in.text("elementwise_impl").value_or("");
  job.backward_prefetch = in.text("backward_prefetch").value_or("");
  // Megatron's uneven pipeline layout, where a recipe sets it (src/pipeline/layout.cc).
  for (const auto& [field, target] :
       {std::pair{"account_for_embedding_in_pipeline_split", &job.embedding_in_pipeline_split},
        std::pair{"account_for_loss_in_pipeline_split", &job.loss_in_pipeline_split}}) {
    if (const nlohmann::json* flag = in.value(field); flag != nullptr) {
      if (!flag->is_boolean()) in.fail(field, "expected true or false");
      *target = flag->get<bool>();
    }
  }
  job.framework_reserve_bytes = kDefaultFrameworkReserveBytes;
  const std::string from_assume = in.assumed();
  row.assumed = from_assume.empty() ? assumed : assumed.empty() ? from_assume : from_assume + ", " + assumed;
}

void resolve_attention_row(ValidationRow& row, RowReader& in, const nlohmann::json& published) {
  const nlohmann::json& dims = published.contains("model_dims") ? published["model_dims"] : nlohmann::json();
  if (!dims.is_object() || !dims.contains("heads") || !dims["heads"].is_number_integer() ||
      !dims.contains("hidden") || !dims["hidden"].is_number_integer()) {
    row.incomplete = "attention shape (model_dims heads, hidden) not stated";
    return;
  }
  row.attn_heads = dims["heads"].get<int64_t>();
  const int64_t hidden = dims["hidden"].get<int64_t>();
  if (row.attn_heads <= 0 || hidden <= 0 || hidden % row.attn_heads != 0) {
    in.fail("model_dims", "hidden must be a positive multiple of heads");
  }
  row.attn_head_dim = hidden / row.attn_heads;
  row.attn_kv_heads = dims.contains("kv_heads") && dims["kv_heads"].is_number_integer()
                          ? dims["kv_heads"].get<int64_t>()
                          : row.attn_heads;
  const auto batch = in.integer("mbs");
  const auto seq = in.integer("seq");
  if (!batch || !seq) {
    row.incomplete = "attention batch or sequence length not stated";
    return;
  }
  row.attn_batch = *batch;
  row.job.seq_length = *seq;
  row.job.num_gpus = 1;
  if (const nlohmann::json* causal = in.value("causal"); causal != nullptr && causal->is_boolean()) {
    row.job.causal = causal->get<bool>();
  }
  const auto precision = in.text("precision").value_or("bf16");
  row.job.precision = parse_precision(precision, row.file + ": " + row.id + ": precision");
  row.assumed = in.assumed();
}

ValidationRow parse_row(const nlohmann::json& published, const std::string& file,
                        const std::string& source_key) {
  ValidationRow row;
  row.file = file;
  row.source = source_key;
  if (!published.is_object()) throw InputError(file, "rows: every row must be an object");
  row.id = string_field(published, "id");
  if (row.id.empty()) throw InputError(file, "rows: a row has no \"id\"");
  RowReader in(published, file, row.id);
  for (const auto& item : published.items()) {
    if (kRowFields.count(item.key()) == 0) {
      in.fail(item.key(), fmt::format("unknown field; row fields are listed in validation/README.md"));
    }
  }
  row.published = published;
  row.published.erase("spsim");
  row.metric = string_field(published, "metric");
  row.kind = metric_kind(row.metric, fmt::format("{}: row \"{}\": metric", file, row.id));
  if (!published.contains("value") || !published["value"].is_number()) in.fail("value", "expected a number");
  row.measured = published["value"].get<double>();
  if (!std::isfinite(row.measured) || row.measured < 0) in.fail("value", "expected a finite number >= 0");
  if (row.kind != MetricKind::kFits && row.measured <= 0) in.fail("value", "expected a positive number");

  if (!published.contains("spsim") || !published["spsim"].is_object()) in.fail("spsim", "missing block");
  detail::ObjectReader sp(published["spsim"], fmt::format("{}: row \"{}\"", file, row.id), "/spsim");
  // Optional strings of the block: absent and null both mean "none".
  auto optional_string = [&](const char* key) {
    sp.ignore(key);
    const nlohmann::json& block = published["spsim"];
    if (!block.contains(key) || block[key].is_null()) return std::string();
    return sp.string(key);
  };
  row.model_ref = optional_string("model");
  row.topology_ref = optional_string("topology");
  row.framework = optional_string("framework");
  row.flop_convention = optional_string("flop_convention");
  row.unsupported = optional_string("unsupported");
  row.incomplete = optional_string("incomplete");
  if (sp.has("mfu_peak")) row.mfu_peak = sp.string("mfu_peak");
  if (sp.has("kernel")) {
    row.attn_kernel = sp.string("kernel");
    if (row.kind != MetricKind::kAttention) {
      in.fail("spsim/kernel", "only attention-kernel rows name a kernel here; a training row uses assume.attention_impl");
    }
    if (row.attn_kernel.empty()) in.fail("spsim/kernel", "must be cudnn, flash2 or triton (got \"\")");
    check_attention_impl(row.attn_kernel, fmt::format("{}: row \"{}\": spsim/kernel", row.file, row.id));
  }
  sp.ignore("assume");
  if (published["spsim"].contains("assume")) {
    const auto& assume = published["spsim"]["assume"];
    if (!assume.is_null() && !assume.is_object()) in.fail("spsim/assume", "expected an object");
    if (assume.is_object()) {
      for (const auto& item : assume.items()) {
        if (kAssumable.count(item.key()) == 0) {
          in.fail("spsim/assume/" + item.key(), "not a configuration field spsim can assume");
        }
      }
    }
  }
  sp.ignore("assume_why");
  // The long-context techniques the source states it ran (validation/README.md "techniques").
  nlohmann::json techniques = nlohmann::json::object();
  if (sp.has("techniques")) {
    detail::ObjectReader t = sp.object("techniques");
    for (const char* key : {"offload", "loss", "elementwise_impl"}) {
      if (t.has(key)) techniques[key] = t.string(key);
    }
    // tiled_mlp: "auto", "off" or a tile count, as text or a number.
    if (t.has("tiled_mlp")) {
      const nlohmann::json& tiles = published["spsim"]["techniques"]["tiled_mlp"];
      techniques["tiled_mlp"] = tiles.is_number_integer() ? std::to_string(tiles.get<int64_t>()) : t.string("tiled_mlp");
      if (tiles.is_number_integer()) t.ignore("tiled_mlp");
    }
    t.finish();
  }
  sp.finish();
  if (!row.framework.empty() && kFrameworks.count(row.framework) == 0) {
    in.fail("spsim/framework", fmt::format("\"{}\" is not megatron, nemo, deepspeed or fsdp", row.framework));
  }
  if (!row.flop_convention.empty() && kConventions.count(row.flop_convention) == 0) {
    in.fail("spsim/flop_convention", fmt::format("unknown convention \"{}\"", row.flop_convention));
  }
  if (row.mfu_peak != "bf16" && row.mfu_peak != "fp8") in.fail("spsim/mfu_peak", "expected bf16 or fp8");
  const bool needs_convention = row.metric == "tflops_per_gpu" || row.metric == "mfu" ||
                                row.kind == MetricKind::kAttention;
  if (needs_convention && row.flop_convention.empty() && row.expressible()) {
    in.fail("spsim/flop_convention", "a TFLOP/s or MFU row needs the source's FLOP convention");
  }
  if (row.flop_convention == "unstated" && row.incomplete.empty()) {
    row.incomplete = "the source does not state its FLOP convention or peak";
  }
  // The kernel decides the answer (cuDNN runs ~1.9x flash-attn 2 on H100): never a default, on
  // every kernel row spsim could run (check_set.py holds the set to the same rule).
  if (row.kind == MetricKind::kAttention && row.unsupported.empty() && row.attn_kernel.empty()) {
    in.fail("spsim/kernel", "an attention-kernel row needs its kernel: cudnn, flash2 or triton");
  }
  if (!row.expressible()) return row;
  if (row.topology_ref.empty()) {
    row.unsupported = "no topology for this GPU";
    return row;
  }
  if (row.kind == MetricKind::kAttention) {
    resolve_attention_row(row, in, published);
    return row;
  }
  if (row.model_ref.empty()) {
    row.unsupported = "no model file";
    return row;
  }
  if (row.framework.empty()) in.fail("spsim/framework", "a training row needs its framework");
  resolve_training_job(row, in, published);
  if (row.expressible()) {
    const std::string where = row.file + ": " + row.id + ": spsim/techniques/";
    if (techniques.contains("offload")) set_offload(row.job, techniques["offload"], where + "offload");
    if (techniques.contains("loss")) row.job.loss = to_string(parse_loss(techniques["loss"], where + "loss"));
    if (techniques.contains("tiled_mlp")) row.job.tiled_mlp = parse_tiled_mlp(techniques["tiled_mlp"], where + "tiled_mlp");
    if (techniques.contains("elementwise_impl")) row.job.elementwise_impl = techniques["elementwise_impl"];
  }
  return row;
}

}  // namespace

MetricKind metric_kind(const std::string& metric, const std::string& where) {
  if (metric == "tokens_per_s_per_gpu" || metric == "tokens_per_s_total" ||
      metric == "tflops_per_gpu" || metric == "mfu" || metric == "step_time_s") {
    return MetricKind::kThroughput;
  }
  if (metric == "peak_mem_gib" || metric == "peak_mem_gb") return MetricKind::kMemory;
  if (metric == "peak_reserved_gib") return MetricKind::kReservedMemory;
  if (metric == "fits") return MetricKind::kFits;
  if (metric == "max_seq_length") return MetricKind::kMaxContext;
  if (metric == "attention_tflops_fwd" || metric == "attention_tflops_fwdbwd") return MetricKind::kAttention;
  throw InputError(where, fmt::format("unknown metric \"{}\"; see validation/README.md", metric));
}

const char* to_string(MetricKind kind) {
  switch (kind) {
    case MetricKind::kThroughput: return "throughput";
    case MetricKind::kMemory: return "memory";
    case MetricKind::kReservedMemory: return "reserved_memory";
    case MetricKind::kFits: return "fits";
    case MetricKind::kMaxContext: return "max_context";
    case MetricKind::kAttention: return "attention";
  }
  return "?";
}

std::string default_validation_dir() { return (fs::path(detail::data_dir()) / "validation").string(); }

ValidationSet load_validation_set(const std::string& dir) {
  ValidationSet set;
  set.dir = dir;
  std::error_code ec;
  const fs::path folder = fs::path(dir) / "sources";
  if (!fs::is_directory(folder, ec)) {
    throw InputError(dir, "no sources/ folder: give the validation set's folder (it holds sources/*.json)");
  }
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(folder, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw InputError(folder.string(), "no *.json files in the validation set");
  std::set<std::string> ids, keys;
  for (const auto& path : files) {
    const std::string file = path.string();
    const auto json = detail::parse_json(detail::read_file(file), file);
    detail::ObjectReader top(json, file);
    detail::ObjectReader src = top.object("source");
    ValidationSource source;
    source.file = file;
    source.key = src.string("key");
    source.title = src.string("title");
    source.where = src.string("where");
    source.url_or_repo = src.string("url_or_repo");
    source.checked = src.string("checked", "");
    for (const char* doc : {"read_via", "flop_convention", "notes", "version"}) src.ignore(doc);
    src.finish();
    if (!keys.insert(source.key).second) throw InputError(file, fmt::format("source key \"{}\" used twice", source.key));
    const auto& rows = top.raw("rows");
    top.finish();
    if (!rows.is_array()) throw InputError(file, "/rows: expected a list");
    for (const auto& published : rows) {
      ValidationRow row = parse_row(published, file, source.key);
      if (!ids.insert(row.id).second) throw InputError(file, fmt::format("row id \"{}\" used twice in the set", row.id));
      set.rows.push_back(std::move(row));
    }
    set.sources.push_back(std::move(source));
  }
  return set;
}

}  // namespace spsim
