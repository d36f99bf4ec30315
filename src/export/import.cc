// --from-args / --from-deepspeed / --from-torchtitan: a framework's launch settings read back
// into a plan. Names are checked against the framework's list (src/export/names/); those spsim
// cannot model are errors, those that do not change the plan are reported as ignored.
#include <algorithm>
#include <cctype>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/json_reader.h"
#include "export/framework_lists.h"
#include "export/launch_internal.h"
#include "spsim/error.h"
#include "spsim/launch.h"
#include "spsim/limits.h"

namespace spsim {

namespace {

using detail::find_listed;
using detail::ListedName;
using detail::NameKind;

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : sep) + item;
  return out;
}

std::vector<std::string> names_of(std::string_view list) {
  std::vector<std::string> out;
  for (const auto& entry : detail::listed_names(list)) out.push_back(entry.name);
  return out;
}

std::string did_you_mean(const std::string& name, std::initializer_list<std::string_view> lists) {
  std::vector<std::string> all;
  for (auto list : lists) {
    for (auto& n : names_of(list)) all.push_back(std::move(n));
  }
  const std::string guess = closest_match(name, all);
  return guess.empty() ? "" : fmt::format("; did you mean {}?", guess);
}

int64_t to_int(const std::string& text, const std::string& where, const std::string& name) {
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) {
    const bool variable = text.find('$') != std::string::npos;
    throw InputError(where, variable ? fmt::format("{} {}: the script does not set {}; set it there or give the "
                                                   "matching spsim flag",
                                                   name, text, text)
                                     : fmt::format("{} needs an integer (got \"{}\")", name, text));
  }
  return value;
}

// One setting as read: its value words (none for a flag) and where it was first seen.
struct Read {
  std::string value;  // words joined by ' '
  bool seen = false;
};

// Settings read in order, with conflicting repeats rejected for the names spsim uses.
class Settings {
 public:
  explicit Settings(std::string where) : where_(std::move(where)) {}
  void add(const std::string& name, const std::string& value) {
    auto& r = map_[name];
    if (r.seen && r.value != value) conflicts_[name] = r.value + " | " + value;
    if (!r.seen) order_.push_back(name);
    r.seen = true;
    r.value = value;
  }
  bool has(const std::string& name) const { return map_.count(name) > 0; }
  const std::string& value(const std::string& name) {
    used(name);
    return map_.at(name).value;
  }
  // Marks `name` as interpreted (not ignored), checking it was not set to two values.
  void used(const std::string& name) {
    used_.insert(name);
    const auto it = conflicts_.find(name);
    if (it != conflicts_.end()) {
      throw InputError(where_, fmt::format("{} is set to two values ({}), e.g. in two branches of an if; keep "
                                           "one",
                                           name, it->second));
    }
  }
  std::vector<std::string> unused() const {
    std::vector<std::string> out;
    for (const auto& name : order_) {
      if (!used_.count(name)) out.push_back(name);
    }
    return out;
  }
  const std::vector<std::string>& order() const { return order_; }
  const std::string& where() const { return where_; }

 private:
  std::string where_;
  std::map<std::string, Read> map_;
  std::map<std::string, std::string> conflicts_;
  std::vector<std::string> order_;
  std::set<std::string> used_;
};

// ----------------------------------------------------------------------------------------------
// Megatron-LM arguments.

// Arguments Megatron-LM accepts that change the plan in ways spsim does not model; each is an
// error unless it has the harmless value given here ("" = any presence is an error).
struct Unsupported {
  const char* name;
  const char* harmless;
  const char* why;
};
constexpr Unsupported kMegatronUnsupported[] = {
    {"--num-experts", "", "mixture-of-experts launches are not read (spsim costs MoE models given with -m: "
                          "docs/model.md)"},
    {"--expert-model-parallel-size", "1", "expert parallelism (MoE) is not modelled"},
    {"--expert-tensor-parallel-size", "1", "expert parallelism (MoE) is not modelled"},
    {"--multi-latent-attention", "", "multi-latent attention is not modelled"},
    // MLA's dimensions say the model is an MLA one even where the flag is missing.
    {"--q-lora-rank", "", "multi-latent attention is not modelled"},
    {"--kv-lora-rank", "", "multi-latent attention is not modelled"},
    {"--qk-head-dim", "", "multi-latent attention is not modelled"},
    {"--qk-pos-emb-head-dim", "", "multi-latent attention is not modelled"},
    {"--v-head-dim", "", "multi-latent attention is not modelled"},
    {"--qk-l2-norm", "", "L2 normalisation of Q and K (Llama-4) is not modelled"},
    {"--heterogeneous-layers-config-path", "", "per-layer (heterogeneous) model configurations are not modelled"},
    {"--heterogeneous-layers-config-encoded-json", "",
     "per-layer (heterogeneous) model configurations are not modelled"},
    {"--pipeline-model-parallel-layout", "", "custom pipeline layouts are not modelled (L / p layers each)"},
    {"--hybrid-context-parallel", "", "hybrid (per-document) context parallelism is not modelled"},
    {"--num-distributed-optimizer-instances", "1", "partial distributed-optimizer instances are not modelled"},
    {"--outer-dp-sharding-strategy", "no_shard", "hybrid FSDP is not modelled"},
    {"--optimizer-cpu-offload", "", "optimizer offloading is not modelled"},
    {"--cpu-offloading-num-layers", "0", "activation offloading is not modelled"},
    {"--distribute-saved-activations", "", "distributed saved activations are not modelled"},
    {"--recompute-modules", "core_attn", "only core-attention selective recompute is modelled"},
    {"--rampup-batch-size", "", "batch-size ramp-up changes the step; model one batch size"},
    {"--step-batch-size-schedule", "", "batch-size schedules change the step; model one batch size"},
    {"--encoder-num-layers", "", "encoder-decoder models are not modelled"},
    {"--decoder-num-layers", "", "encoder-decoder models are not modelled"},
    {"--checkpoint-activations", "", "deprecated; write --recompute-granularity full --recompute-method uniform"},
    {"--no-position-embedding", "", "models without position embeddings are not modelled"},
    {"--mtp-num-layers", "", "multi-token prediction layers are not modelled"},
};

// Megatron's full recompute: every layer (--recompute-method uniform --recompute-num-layers 1) or
// the first N layers of every model chunk (block, N: spsim's full:N). Uniform groups of N > 1
// layers checkpointed together are not modelled.
void read_full_recompute(JobConfig& job, const std::string& method, const std::string& layers,
                         const std::string& what, const std::string& where) {
  const bool count = !layers.empty() && layers.size() <= 6 &&
                     layers.find_first_not_of("0123456789") == std::string::npos && layers != "0" &&
                     layers[0] != '0';
  if (method == "uniform" && layers == "1") {
    job.recompute = Recompute::kFull;
    job.recompute_layers = 0;
  } else if (method == "block" && count) {
    job.recompute = Recompute::kFull;
    job.recompute_layers = std::stoll(layers);
  } else {
    throw InputError(where, fmt::format("{}: every layer recomputed (uniform, 1) or the first N layers of every "
                                        "model chunk (block, N) are modelled",
                                        what));
  }
}

const std::set<std::string>& megatron_read() {
  static const std::set<std::string> names{
      "--num-layers", "--hidden-size", "--ffn-hidden-size", "--num-attention-heads", "--group-query-attention",
      "--num-query-groups", "--kv-channels", "--swiglu", "--normalization", "--disable-bias-linear",
      "--add-qkv-bias", "--untie-embeddings-and-output-weights", "--position-embedding-type",
      "--use-rotary-position-embeddings", "--max-position-embeddings", "--vocab-size",
      "--make-vocab-size-divisible-by", "--hidden-dropout", "--attention-dropout", "--window-size", "--qk-layernorm",
      "--window-attn-skip-freq",
      "--tensor-model-parallel-size", "--sequence-parallel", "--pipeline-model-parallel-size",
      "--num-layers-per-virtual-pipeline-stage", "--num-virtual-stages-per-pipeline-rank",
      "--decoder-first-pipeline-num-layers", "--decoder-last-pipeline-num-layers",
      "--account-for-embedding-in-pipeline-split", "--account-for-loss-in-pipeline-split",
      "--context-parallel-size", "--cp-comm-type", "--hierarchical-context-parallel-sizes",
      "--use-distributed-optimizer", "--use-megatron-fsdp", "--data-parallel-sharding-strategy",
      "--use-torch-fsdp2", "--torch-fsdp2-no-reshard-after-forward", "--micro-batch-size", "--global-batch-size",
      "--seq-length", "--recompute-granularity", "--recompute-method", "--recompute-num-layers",
      "--recompute-activations", "--bf16", "--fp16", "--fp8-format", "--fp8-recipe", "--attention-backend",
      "--use-flash-attn", "--grad-reduce-in-bf16", "--cross-entropy-loss-fusion",
      "--cross-entropy-fusion-impl"};
  return names;
}

// Words of `text` grouped as settings: Megatron-LM and torchrun flags (names checked), the
// values their kind takes; other words are positional (the launcher, the script) and skipped.
void read_megatron_words(const std::string& text, const std::string& where, Settings& settings) {
  for (const auto& line : detail::shell_lines(text, where)) {
    // "--fp8-format hybrid" quoted in an array is split when the array is expanded unquoted.
    std::vector<std::string> words;
    for (const auto& w : line) {
      if (w.rfind("--", 0) == 0 && w.find(' ') != std::string::npos) {
        size_t start = 0;
        while (start < w.size()) {
          const size_t space = w.find(' ', start);
          const std::string part = w.substr(start, space == std::string::npos ? std::string::npos : space - start);
          if (!part.empty()) words.push_back(part);
          if (space == std::string::npos) break;
          start = space + 1;
        }
      } else {
        words.push_back(w);
      }
    }
    for (size_t i = 0; i < words.size(); ++i) {
      const std::string& word = words[i];
      if (word.rfind("--", 0) != 0 || word.size() < 3) continue;
      const size_t eq = word.find('=');
      const std::string name = word.substr(0, eq);
      const ListedName* entry = find_listed("torchrun", name);
      if (entry == nullptr) entry = find_listed("megatron-lm", name);
      if (entry == nullptr) {
        throw InputError(where, fmt::format("{} is not a Megatron-LM argument ({}){}", name,
                                            framework_list_source("megatron-lm"),
                                            did_you_mean(name, {"megatron-lm", "torchrun"})));
      }
      std::string value;
      if (eq != std::string::npos) {
        value = word.substr(eq + 1);
      } else if (entry->kind == NameKind::kValue) {
        if (i + 1 >= words.size()) throw InputError(where, fmt::format("{} needs a value", name));
        value = words[++i];
      } else if (entry->kind == NameKind::kList || entry->kind == NameKind::kOptional) {
        while (i + 1 < words.size() && words[i + 1].rfind("--", 0) != 0 && words[i + 1] != "\\") {
          value += (value.empty() ? "" : " ") + words[++i];
          if (entry->kind == NameKind::kOptional) break;
        }
      }
      if (!entry->choices.empty() && entry->kind != NameKind::kFlag && !value.empty() &&
          std::find(entry->choices.begin(), entry->choices.end(), value) == entry->choices.end() &&
          value.find('$') == std::string::npos) {
        throw InputError(where, fmt::format("{} {}: Megatron-LM accepts {}", name, value, join(entry->choices)));
      }
      settings.add(name, value);
    }
  }
}

int64_t world_size(Settings& s, const std::string& where, ImportedLaunch& out) {
  const char* nproc = s.has("--nproc-per-node") ? "--nproc-per-node" : s.has("--nproc_per_node") ? "--nproc_per_node" : nullptr;
  if (nproc == nullptr && !s.has("--nnodes")) {
    out.missing.push_back({"num_gpus", "the settings give no GPU count (torchrun --nnodes and --nproc-per-node)"});
    return 0;
  }
  int64_t nodes = 1;
  if (s.has("--nnodes")) {
    std::string text = s.value("--nnodes");
    const size_t colon = text.find(':');
    if (colon != std::string::npos) {
      if (text.substr(0, colon) != text.substr(colon + 1)) {
        throw InputError(where, fmt::format("--nnodes {}: an elastic node range has no one GPU count; give one "
                                            "number",
                                            text));
      }
      text = text.substr(0, colon);
    }
    nodes = to_int(text, where, "--nnodes");
  }
  if (nproc == nullptr) {
    out.missing.push_back({"num_gpus", "the settings give no --nproc-per-node"});
    return 0;
  }
  const std::string per = s.value(nproc);
  if (per == "gpu" || per == "auto") {
    out.missing.push_back({"num_gpus", fmt::format("{} {} counts the GPUs at launch", nproc, per)});
    return 0;
  }
  out.given.insert("num_gpus");
  return nodes * to_int(per, where, nproc);
}

// Sliding windows (TransformerConfig.window_size, window_attn_skip_freq): --window-size LEFT,RIGHT
// (causal: RIGHT 0; LEFT -1 is no window) and which layers: all, every layer l (1-based) with
// l % N != 0 for an integer N, or a list of 1 (window) / 0 (full) per layer
// (megatron/core/transformer/utils.py is_layer_window_attention).
void read_megatron_window(Settings& s, const std::string& where, ModelSpec& m) {
  if (!s.has("--window-size")) {
    if (s.has("--window-attn-skip-freq")) {
      throw InputError(where, "--window-attn-skip-freq without --window-size does nothing; drop it or add the window");
    }
    return;
  }
  // "4096,0", "(4096, 0)": parentheses at the ends, spaces only beside the comma ("40 96,0" is
  // an error, as Megatron's int() makes it).
  std::string size = s.value("--window-size");
  if (size.size() >= 2 && size.front() == '(' && size.back() == ')') size = size.substr(1, size.size() - 2);
  const size_t comma = size.find(',');
  if (comma == std::string::npos) {
    throw InputError(where, fmt::format("--window-size {}: give LEFT,RIGHT (e.g. 4096,0)", s.value("--window-size")));
  }
  auto trimmed = [](std::string text) {
    const size_t begin = text.find_first_not_of(' '), end = text.find_last_not_of(' ');
    return begin == std::string::npos ? std::string() : text.substr(begin, end - begin + 1);
  };
  const int64_t left = to_int(trimmed(size.substr(0, comma)), where, "--window-size");
  const int64_t right = to_int(trimmed(size.substr(comma + 1)), where, "--window-size");
  if (right != 0) {
    throw InputError(where, fmt::format("--window-size {}: a window reaching {} keys ahead is not causal; spsim "
                                        "models causal windows (RIGHT 0)",
                                        s.value("--window-size"), right));
  }
  if (left == -1) return;  // an infinite window: full attention
  if (left < 1) throw InputError(where, fmt::format("--window-size {}: LEFT must be at least 1 (or -1)", left));
  m.sliding_window = left;
  m.sliding_window_layers = m.num_layers;
  if (!s.has("--window-attn-skip-freq")) return;
  // A list may have spaces after its commas ("[1, 1, 0]"); an integer has none.
  std::string freq = s.value("--window-attn-skip-freq");
  if (!freq.empty() && freq.front() == '[') freq.erase(std::remove(freq.begin(), freq.end(), ' '), freq.end());
  if (!freq.empty() && freq.front() == '[') {
    // "[1,1,0,...]": entries one character each, comma-separated, closed.
    const bool closed = freq.size() >= 3 && freq.back() == ']' && freq.size() % 2 == 1;
    int64_t windowed = 0, count = 0;
    for (size_t i = 1; closed && i + 1 < freq.size(); i += 2) {
      if ((freq[i] != '0' && freq[i] != '1') || freq[i + 1] != (i + 2 == freq.size() ? ']' : ',')) {
        count = -1;
        break;
      }
      windowed += freq[i] == '1';
      ++count;
    }
    if (!closed || count < 0) {
      throw InputError(where, fmt::format("--window-attn-skip-freq {}: spsim reads an integer or a plain list of "
                                          "0 and 1 such as [1,1,0] (no list arithmetic)",
                                          s.value("--window-attn-skip-freq")));
    }
    if (count != m.num_layers) {
      throw InputError(where, fmt::format("--window-attn-skip-freq has {} entries for {} layers", count, m.num_layers));
    }
    m.sliding_window_layers = windowed;
  } else {
    const int64_t every = to_int(freq, where, "--window-attn-skip-freq");
    if (every < 1) throw InputError(where, "--window-attn-skip-freq must be at least 1");
    m.sliding_window_layers = m.num_layers - m.num_layers / every;
  }
  if (m.sliding_window_layers == 0) m.sliding_window = 0;
}

// The model, when the arguments carry its dimensions; with Megatron-LM's defaults for the rest.
std::optional<ModelSpec> megatron_model(Settings& s, const std::string& where) {
  static const char* const kDims[] = {"--num-layers", "--hidden-size", "--num-attention-heads", "--ffn-hidden-size",
                                      "--num-query-groups", "--kv-channels", "--vocab-size",
                                      "--max-position-embeddings"};
  bool any = false;
  for (const char* name : kDims) any = any || s.has(name);
  if (!any) return std::nullopt;
  for (const char* name : {"--num-layers", "--hidden-size", "--num-attention-heads", "--max-position-embeddings",
                           "--vocab-size"}) {
    if (!s.has(name)) {
      throw InputError(where, fmt::format("the arguments describe a model but give no {}{}; add it (or give -m "
                                          "and drop the model arguments)",
                                          name,
                                          std::string(name) == "--vocab-size"
                                              ? " (Megatron-LM reads it from the tokenizer)"
                                              : ""));
    }
  }
  // Every dimension is a count within the model loader's bounds (spsim/limits.h): 0 or less is
  // refused here, before the head size divides by it, and no product of them overflows.
  auto num = [&](const char* name, int64_t max) {
    const int64_t value = to_int(s.value(name), where, name);
    if (value < 1 || value > max) {
      throw InputError(where, fmt::format("{} must be a whole number in [1, {}] (got {})", name, max, value));
    }
    return value;
  };
  auto flag = [&](const char* name) {
    if (!s.has(name)) return false;
    s.used(name);
    return true;
  };
  ModelSpec m;
  m.name = "megatron-args";
  m.source = "Megatron-LM arguments (" + where + ")";
  m.num_layers = num("--num-layers", kMaxLayers);
  m.hidden_size = num("--hidden-size", kMaxHidden);
  m.num_attention_heads = num("--num-attention-heads", kMaxHeads);
  m.num_key_value_heads = m.num_attention_heads;
  if (flag("--group-query-attention")) m.num_key_value_heads = s.has("--num-query-groups") ? num("--num-query-groups", kMaxHeads) : 1;
  else if (s.has("--num-query-groups")) s.used("--num-query-groups");  // without the flag it does nothing
  if (!s.has("--kv-channels") && m.hidden_size % m.num_attention_heads != 0) {
    throw InputError(where, fmt::format("--hidden-size {} is not a multiple of --num-attention-heads {} (Megatron-LM "
                                        "asserts it unless --kv-channels gives the head size)",
                                        m.hidden_size, m.num_attention_heads));
  }
  m.head_dim = s.has("--kv-channels") ? num("--kv-channels", kMaxHeadDim) : m.hidden_size / m.num_attention_heads;
  m.gated_mlp = flag("--swiglu");
  // arguments.py: ffn_hidden_size = int(4 h 2/3 / 64) 64 with SwiGLU, else 4 h.
  m.ffn_hidden_size = s.has("--ffn-hidden-size") ? num("--ffn-hidden-size", kMaxFfn)
                      : m.gated_mlp ? (4 * m.hidden_size * 2 / 3) / 64 * 64
                                    : 4 * m.hidden_size;
  m.vocab_size = num("--vocab-size", kMaxVocab);
  m.make_vocab_size_divisible_by = s.has("--make-vocab-size-divisible-by") ? num("--make-vocab-size-divisible-by", kMaxVocabMultiple) : 128;
  m.max_position_embeddings = num("--max-position-embeddings", kMaxPositions);
  m.norm = s.has("--normalization") && s.value("--normalization") == "RMSNorm" ? NormKind::kRMSNorm : NormKind::kLayerNorm;
  // add_bias_linear defaults to True and covers QKV; --add-qkv-bias adds QKV biases alone.
  const bool no_bias = flag("--disable-bias-linear");
  m.linear_bias = !no_bias;
  m.qkv_bias = !no_bias || flag("--add-qkv-bias");
  m.tied_embeddings = !flag("--untie-embeddings-and-output-weights");
  m.qk_norm = flag("--qk-layernorm");
  std::string positions = s.has("--position-embedding-type") ? s.value("--position-embedding-type") : "learned_absolute";
  if (flag("--use-rotary-position-embeddings")) positions = "rope";
  if (positions != "learned_absolute" && positions != "rope") {
    throw InputError(where, fmt::format("--position-embedding-type {} is not modelled (learned_absolute or rope)",
                                        positions));
  }
  m.learned_position_embeddings = positions == "learned_absolute";
  auto dropout = [&](const char* name) {
    if (!s.has(name)) return 0.1;  // TransformerConfig's default
    try {
      return std::stod(s.value(name));
    } catch (const std::exception&) {
      throw InputError(where, fmt::format("{} needs a number (got \"{}\")", name, s.value(name)));
    }
  };
  m.hidden_dropout = dropout("--hidden-dropout");
  m.attention_dropout = dropout("--attention-dropout");
  read_megatron_window(s, where, m);
  if (const auto shipped = find_shipped_model(m)) return shipped;
  return m;
}

void megatron_job(Settings& s, const std::string& where, ImportedLaunch& out) {
  JobConfig& job = out.job;
  // Parallel sizes are at least 1 (first/last stage layer counts at least 0) and at most the
  // CLI's bounds; anything else is a typo, refused before it divides or multiplies.
  auto num = [&](const char* name, const char* key, int64_t& field, int64_t min = 1, int64_t max = kMaxDegree) {
    if (!s.has(name)) return;
    field = to_int(s.value(name), where, name);
    if (field < min || field > max) {
      throw InputError(where, fmt::format("{} must be a whole number in [{}, {}] (got {})", name, min, max, field));
    }
    out.given.insert(key);
  };
  job.framework = "megatron";
  job.num_gpus = world_size(s, where, out);
  num("--tensor-model-parallel-size", "tensor_model_parallel_size", job.tensor_parallel);
  num("--pipeline-model-parallel-size", "pipeline_model_parallel_size", job.pipeline_parallel);
  if (s.has("--num-virtual-stages-per-pipeline-rank")) {
    num("--num-virtual-stages-per-pipeline-rank", "virtual_pipeline_model_parallel_size", job.virtual_pipeline_stages);
  } else if (s.has("--num-layers-per-virtual-pipeline-stage")) {
    const int64_t per = to_int(s.value("--num-layers-per-virtual-pipeline-stage"), where,
                               "--num-layers-per-virtual-pipeline-stage");
    if (!out.model) {
      throw InputError(where, "--num-layers-per-virtual-pipeline-stage needs --num-layers in the arguments; or "
                              "write --num-virtual-stages-per-pipeline-rank");
    }
    if (per < 1 || per > out.model->num_layers || out.model->num_layers % (job.pipeline_parallel * per) != 0) {
      throw InputError(where, fmt::format("--num-layers-per-virtual-pipeline-stage {} does not divide {} layers "
                                          "over {} stages",
                                          per, out.model->num_layers, job.pipeline_parallel));
    }
    job.virtual_pipeline_stages = out.model->num_layers / (job.pipeline_parallel * per);
    out.given.insert("virtual_pipeline_model_parallel_size");
  }
  // Uneven pipeline layouts (spsim places them as Megatron-Core does: src/pipeline/layout.cc).
  num("--decoder-first-pipeline-num-layers", "decoder_first_pipeline_num_layers", job.first_stage_layers, 0, kMaxLayers);
  num("--decoder-last-pipeline-num-layers", "decoder_last_pipeline_num_layers", job.last_stage_layers, 0, kMaxLayers);
  if (s.has("--account-for-embedding-in-pipeline-split")) {
    s.used("--account-for-embedding-in-pipeline-split");
    job.embedding_in_pipeline_split = true;
    out.given.insert("account_for_embedding_in_pipeline_split");
  }
  if (s.has("--account-for-loss-in-pipeline-split")) {
    s.used("--account-for-loss-in-pipeline-split");
    job.loss_in_pipeline_split = true;
    out.given.insert("account_for_loss_in_pipeline_split");
  }
  int64_t cp = 1;
  if (s.has("--context-parallel-size")) {
    cp = to_int(s.value("--context-parallel-size"), where, "--context-parallel-size");
    if (cp < 1 || cp > kMaxDegree) {
      throw InputError(where, fmt::format("--context-parallel-size must be a whole number in [1, {}] (got {})",
                                          kMaxDegree, cp));
    }
  }
  std::string comm = "p2p";
  if (s.has("--cp-comm-type")) {
    const std::string all = s.value("--cp-comm-type");
    comm = all.substr(0, all.find(' '));
    for (size_t start = 0; start < all.size();) {
      const size_t space = all.find(' ', start);
      if (all.substr(start, space == std::string::npos ? std::string::npos : space - start) != comm) {
        throw InputError(where, fmt::format("--cp-comm-type {}: one type per layer is not modelled; give one type",
                                            all));
      }
      if (space == std::string::npos) break;
      start = space + 1;
    }
  }
  if (cp > 1) {
    if (comm == "a2a") {
      job.ulysses_degree = cp;
    } else if (comm == "p2p" || comm == "allgather") {
      job.ring_degree = cp;
      job.ring_comm = comm == "allgather" ? "allgather" : "p2p";
    } else if (comm == "a2a+p2p") {
      if (!s.has("--hierarchical-context-parallel-sizes")) {
        throw InputError(where, "--cp-comm-type a2a+p2p needs --hierarchical-context-parallel-sizes A2A P2P "
                                "(arguments.py asserts it)");
      }
      const std::string sizes = s.value("--hierarchical-context-parallel-sizes");
      const size_t space = sizes.find(' ');
      if (space == std::string::npos || sizes.find(' ', space + 1) != std::string::npos) {
        throw InputError(where, fmt::format("--hierarchical-context-parallel-sizes {}: give two sizes, the "
                                            "all-to-all and the ring degree",
                                            sizes));
      }
      job.ulysses_degree = to_int(sizes.substr(0, space), where, "--hierarchical-context-parallel-sizes");
      job.ring_degree = to_int(sizes.substr(space + 1), where, "--hierarchical-context-parallel-sizes");
      if (job.ulysses_degree * job.ring_degree != cp) {
        throw InputError(where, fmt::format("--hierarchical-context-parallel-sizes {} x {} is not "
                                            "--context-parallel-size {}",
                                            job.ulysses_degree, job.ring_degree, cp));
      }
    } else {
      throw InputError(where, fmt::format("--cp-comm-type {}: Megatron-LM takes p2p, a2a, allgather or a2a+p2p",
                                          comm));
    }
    out.given.insert("ulysses_degree");
    out.given.insert("ring_degree");
    out.given.insert("ring_comm");
  } else if (s.has("--context-parallel-size")) {
    out.given.insert("ulysses_degree");
    out.given.insert("ring_degree");
  }
  if (s.has("--hierarchical-context-parallel-sizes")) s.used("--hierarchical-context-parallel-sizes");
  const bool sp = s.has("--sequence-parallel");
  if (sp) s.used("--sequence-parallel");
  if (job.tensor_parallel > 1) {
    job.sequence_parallel = sp;
    out.given.insert("sequence_parallel");
  }
  // ZeRO: distributed optimizer (1); Megatron-FSDP by sharding strategy; torch FSDP2 (3, or 2
  // without resharding after forward).
  int zero = 0;
  if (s.has("--use-distributed-optimizer")) {
    s.used("--use-distributed-optimizer");
    zero = 1;
  }
  if (s.has("--use-megatron-fsdp")) {
    s.used("--use-megatron-fsdp");
    const std::string strategy =
        s.has("--data-parallel-sharding-strategy") ? s.value("--data-parallel-sharding-strategy") : "optim_grads_params";
    zero = strategy == "optim_grads_params" ? 3 : strategy == "optim_grads" ? 2 : strategy == "optim" ? 1 : zero;
  } else if (s.has("--data-parallel-sharding-strategy")) {
    s.used("--data-parallel-sharding-strategy");  // only read with --use-megatron-fsdp
  }
  if (s.has("--use-torch-fsdp2")) {
    s.used("--use-torch-fsdp2");
    zero = 3;
    if (s.has("--torch-fsdp2-no-reshard-after-forward")) {
      s.used("--torch-fsdp2-no-reshard-after-forward");
      zero = 2;
    }
  }
  job.zero_stage = zero;
  out.given.insert("zero_stage");
  num("--micro-batch-size", "micro_batch_size", job.micro_batch_size, 1, kMaxMicroBatchSize);
  num("--global-batch-size", "global_batch_size", job.global_batch_size, 1, kMaxGlobalBatchSize);
  if (s.has("--seq-length")) {
    num("--seq-length", "seq_length", job.seq_length, 1, kMaxSeqLength);
  } else {
    out.missing.push_back({"seq_length", "Megatron-LM needs --seq-length"});
  }
  // Recompute.
  job.recompute = Recompute::kNone;
  if (s.has("--recompute-activations")) {
    s.used("--recompute-activations");
    job.recompute = Recompute::kSelective;
  }
  if (s.has("--recompute-granularity")) {
    const std::string g = s.value("--recompute-granularity");
    if (g == "selective") {
      // Megatron asserts no recompute method with selective granularity (arguments.py).
      if (s.has("--recompute-method") || s.has("--recompute-num-layers")) {
        throw InputError(where, "--recompute-method / --recompute-num-layers go with --recompute-granularity full "
                                "(Megatron refuses them with selective); drop them or use full");
      }
      job.recompute = Recompute::kSelective;
    } else {
      const std::string method = s.has("--recompute-method") ? s.value("--recompute-method") : "(none)";
      const std::string layers = s.has("--recompute-num-layers") ? s.value("--recompute-num-layers") : "(none)";
      read_full_recompute(job, method, layers,
                          fmt::format("--recompute-granularity full with --recompute-method {} "
                                      "--recompute-num-layers {}", method, layers), where);
    }
  }
  out.given.insert("recompute_granularity");
  // Precision: Megatron-LM trains in fp32 unless --bf16 / --fp16; fp8 is TE's on top of them.
  job.precision = Precision::kFp32;
  if (s.has("--bf16")) {
    s.used("--bf16");
    job.precision = Precision::kBf16;
  }
  if (s.has("--fp16")) {
    s.used("--fp16");
    job.precision = Precision::kFp16;
  }
  if (s.has("--fp8-format")) {
    s.value("--fp8-format");
    if (job.precision != Precision::kBf16) {
      throw InputError(where, "--fp8-format: spsim models FP8 over bf16 (add --bf16)");
    }
    job.precision = Precision::kFp8;
    const std::string recipe = s.has("--fp8-recipe") ? s.value("--fp8-recipe") : "delayed";
    if (recipe != "delayed" && recipe != "tensorwise") {
      throw InputError(where, fmt::format("--fp8-recipe {}: spsim models delayed and tensorwise (current) scaling",
                                          recipe));
    }
    job.fp8_recipe = recipe == "tensorwise" ? "current" : "delayed";
    out.given.insert("fp8_recipe");
  } else if (s.has("--fp8-recipe")) {
    s.used("--fp8-recipe");  // without --fp8-format it does nothing
  }
  out.given.insert("precision");
  if (s.has("--attention-backend")) {
    const std::string backend = s.value("--attention-backend");
    if (backend == "fused") job.attention_impl = "cudnn";
    if (backend == "flash") job.attention_impl = "flash2";
    if (backend == "unfused" || backend == "local") job.attention_kernel = AttentionKernel::kStandard;
    out.given.insert("attention_impl");
    out.given.insert("attention_kernel");
  }
  if (s.has("--use-flash-attn")) {
    s.used("--use-flash-attn");
    job.attention_impl = "flash2";
    out.given.insert("attention_impl");
  }
  // The two job-level settings of a Megatron-LM script that its framework profile would otherwise
  // decide: the job stays a megatron plan with them (the nemo profile differs in more than these).
  if (s.has("--grad-reduce-in-bf16")) {
    s.used("--grad-reduce-in-bf16");
    job.grad_reduce_dtype = "bf16";
    out.given.insert("grad_reduce_dtype");
  }
  if (s.has("--cross-entropy-loss-fusion")) {
    s.used("--cross-entropy-loss-fusion");
    // Megatron-Core's default --cross-entropy-fusion-impl is "native" (model_parallel_config.py:
    // cross_entropy_fusion_impl = 'native'): its own fused loss, fp32 inside; "te" is TE's kernel.
    std::string impl = "native";
    if (s.has("--cross-entropy-fusion-impl")) {
      s.used("--cross-entropy-fusion-impl");
      impl = s.value("--cross-entropy-fusion-impl");
      if (impl != "native" && impl != "te") {
        throw InputError(where, fmt::format("--cross-entropy-fusion-impl {}: Megatron-LM takes native or te", impl));
      }
    }
    job.cross_entropy = impl == "te" ? "fused" : "native";
    out.given.insert("cross_entropy");
  }
  out.given.insert("framework");
}

void check_megatron_unsupported(Settings& s, const std::string& where) {
  for (const auto& u : kMegatronUnsupported) {
    if (!s.has(u.name)) continue;
    const std::string value = s.value(u.name);
    if (u.harmless[0] != '\0' && value == u.harmless) continue;
    throw InputError(where, fmt::format("{}{}: {}", u.name, value.empty() ? "" : " " + value, u.why));
  }
  for (const auto& name : s.order()) {
    if (name.rfind("--moe-", 0) == 0) {
      throw InputError(where, fmt::format("{}: mixture-of-experts launches are not read (spsim costs MoE models "
                                          "given with -m: docs/model.md)",
                                          name));
    }
  }
}

ImportedLaunch import_megatron(const std::string& text, const std::string& where) {
  ImportedLaunch out;
  out.format = LaunchFormat::kMegatron;
  Settings s(where);
  read_megatron_words(text, where, s);
  check_megatron_unsupported(s, where);
  out.model = megatron_model(s, where);
  if (!out.model && s.has("--window-size")) {
    // The window is the model's: -m's model would be costed without it, or with its own.
    throw InputError(where, "--window-size belongs to the model: give its dimensions in the arguments too "
                            "(--num-layers, --hidden-size, ...), or drop it and use -m with a windowed model");
  }
  if (!out.model) out.missing.push_back({"model", "the arguments give no model dimensions (--num-layers, ...)"});
  megatron_job(s, where, out);
  // Every megatron_read() name that is present was interpreted above (or is a model dimension
  // read with the model).
  for (const auto& name : megatron_read()) {
    if (s.has(name)) s.used(name);
  }
  for (const auto& name : s.unused()) {
    if (!find_listed("torchrun", name) || (name != "--nnodes" && name.rfind("--nproc", 0) != 0)) {
      out.ignored.push_back(name);
    }
  }
  out.job.strategy = scheme_for_degrees(out.job.tensor_parallel, out.job.ulysses_degree, out.job.ring_degree,
                                        out.job.sequence_parallel);
  out.given.insert("strategy");
  return out;
}

// ----------------------------------------------------------------------------------------------
// Megatron-Bridge run_recipe.py: --recipe and KEY=VALUE overrides.

bool is_override(const std::string& word) {
  const size_t eq = word.find('=');
  if (eq == std::string::npos || word.rfind("-", 0) == 0) return false;
  std::string key = word.substr(0, eq);
  if (!key.empty() && (key[0] == '+' || key[0] == '~')) key = key.substr(1);
  if (key.empty() || !std::islower(static_cast<unsigned char>(key[0]))) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_' ||
           c == '.';
  });
}

bool looks_like_bridge(const std::string& text, const std::string& where) {
  for (const auto& line : detail::shell_lines(text, where)) {
    for (const auto& w : line) {
      if (w == "--recipe" || w.rfind("--recipe=", 0) == 0 || w.find("run_recipe.py") != std::string::npos) return true;
      if (is_override(w) && w.find('.') < w.find('=')) return true;
    }
  }
  return false;
}

// run_recipe.py's convenience flags and the override each sets (its module docstring).
const std::map<std::string, std::string>& bridge_flag_keys() {
  static const std::map<std::string, std::string> keys{
      {"-tp", "model.tensor_model_parallel_size"},    {"--tensor_model_parallel_size", "model.tensor_model_parallel_size"},
      {"-pp", "model.pipeline_model_parallel_size"},  {"--pipeline_model_parallel_size", "model.pipeline_model_parallel_size"},
      {"-cp", "model.context_parallel_size"},         {"--context_parallel_size", "model.context_parallel_size"},
      {"-vp", "model.virtual_pipeline_model_parallel_size"},
      {"--virtual_pipeline_model_parallel_size", "model.virtual_pipeline_model_parallel_size"},
      {"-ep", "model.expert_model_parallel_size"},    {"--expert_model_parallel_size", "model.expert_model_parallel_size"},
      {"-etp", "model.expert_tensor_parallel_size"},  {"--expert_tensor_parallel_size", "model.expert_tensor_parallel_size"},
      {"-mb", "train.micro_batch_size"},              {"--micro_batch_size", "train.micro_batch_size"},
      {"-gb", "train.global_batch_size"},             {"--global_batch_size", "train.global_batch_size"},
      {"-sl", "dataset.seq_length"},                  {"--seq_length", "dataset.seq_length"},
  };
  return keys;
}

std::string strip_value(std::string v) {
  if (v.size() >= 2 && ((v.front() == '"' && v.back() == '"') || (v.front() == '\'' && v.back() == '\''))) {
    v = v.substr(1, v.size() - 2);
  }
  return v;
}

bool bridge_bool(const std::string& value, const std::string& key, const std::string& where) {
  if (value == "true" || value == "True") return true;
  if (value == "false" || value == "False") return false;
  throw InputError(where, fmt::format("{}={}: expected true or false", key, value));
}

ImportedLaunch import_bridge(const std::string& text, const std::string& where) {
  ImportedLaunch out;
  out.format = LaunchFormat::kNemo;
  Settings s(where);
  std::string model_stem, mode;
  for (const auto& line : detail::shell_lines(text, where)) {
    for (size_t i = 0; i < line.size(); ++i) {
      const std::string& word = line[i];
      if (is_override(word)) {
        std::string key = word.substr(0, word.find('='));
        if (key[0] == '+') key = key.substr(1);
        if (key[0] == '~') throw InputError(where, fmt::format("{}: deleting a field is not read", word));
        if (!find_listed("megatron-bridge", key)) {
          throw InputError(where, fmt::format("{} is not a Megatron-Bridge ConfigContainer field spsim knows ({}){}",
                                              key, framework_list_source("megatron-bridge"),
                                              did_you_mean(key, {"megatron-bridge"})));
        }
        s.add(key, strip_value(word.substr(word.find('=') + 1)));
        continue;
      }
      if (word.rfind("-", 0) != 0 || word == "-" || word == "--") continue;
      const size_t eq = word.find('=');
      const std::string name = word.substr(0, eq);
      const ListedName* entry = find_listed("torchrun", name);
      const bool torchrun = entry != nullptr;
      if (entry == nullptr) entry = find_listed("megatron-bridge", name);
      if (entry == nullptr) {
        if (name.rfind("--", 0) == 0) {
          throw InputError(where, fmt::format("{} is not a flag of Megatron-Bridge's run_recipe.py ({}){}", name,
                                              framework_list_source("megatron-bridge"),
                                              did_you_mean(name, {"megatron-bridge", "torchrun"})));
        }
        continue;  // another command's short option (mkdir -p)
      }
      std::string value;
      if (eq != std::string::npos) {
        value = word.substr(eq + 1);
      } else if (entry->kind != NameKind::kFlag) {
        if (i + 1 >= line.size()) throw InputError(where, fmt::format("{} needs a value", name));
        value = line[++i];
      }
      if (torchrun) {
        s.add(name, value);
      } else if (name == "--recipe") {
        if (std::find(entry->choices.begin(), entry->choices.end(), value) == entry->choices.end()) {
          throw InputError(where, fmt::format("--recipe {} is not a Megatron-Bridge pretraining recipe of the llama "
                                              "or qwen families ({})",
                                              value, framework_list_source("megatron-bridge")));
        }
        s.add("--recipe", value);
      } else if (name == "--model") {
        model_stem = value;
      } else if (name == "--mode") {
        mode = value;
      } else if (bridge_flag_keys().count(name)) {
        s.add(bridge_flag_keys().at(name), value);
      } else {
        s.add(name, value);  // runner controls: ignored below
      }
    }
  }
  if (!model_stem.empty()) {
    if (!mode.empty() && mode != "pretrain") {
      throw InputError(where, fmt::format("--mode {}: spsim models pretraining steps", mode));
    }
    s.add("--recipe", model_stem + "_pretrain_config");
  }
  // The model: the recipe's (its 16k/64k/128k and low-precision variants build the same model).
  if (s.has("--recipe")) {
    std::string recipe = s.value("--recipe");
    for (const char* variant : {"_16k", "_64k", "_128k", "_low_precision"}) {
      const size_t at = recipe.find(variant);
      if (at != std::string::npos) recipe.erase(at, std::string(variant).size());
    }
    for (const auto& r : detail::bridge_recipes()) {
      if (recipe == r.recipe) out.model = load_model(r.model);
    }
    if (!out.model) {
      out.missing.push_back({"model", fmt::format("spsim has no model file for recipe {}", s.value("--recipe"))});
    }
  } else {
    out.missing.push_back({"model", "no --recipe names the model"});
  }
  for (const auto& name : s.order()) {
    if (name.rfind("model.", 0) == 0) {
      // Every Megatron-Core TransformerConfig field that changes what spsim costs: the recipe's
      // model with one of these changed is another model, never the shipped one silently.
      static const std::set<std::string> kShape{
          "model.num_layers", "model.hidden_size", "model.ffn_hidden_size", "model.num_attention_heads",
          "model.num_query_groups", "model.kv_channels", "model.vocab_size", "model.gated_linear_unit",
          "model.normalization", "model.add_bias_linear", "model.add_qkv_bias", "model.qk_layernorm",
          "model.share_embeddings_and_output_weights", "model.position_embedding_type", "model.window_size",
          "model.window_attn_skip_freq", "model.hidden_dropout", "model.attention_dropout",
          "model.num_moe_experts", "model.moe_router_topk", "model.moe_ffn_hidden_size",
          "model.moe_shared_expert_intermediate_size", "model.moe_layer_freq", "model.multi_latent_attention",
          "model.q_lora_rank", "model.kv_lora_rank", "model.qk_head_dim", "model.qk_pos_emb_head_dim",
          "model.v_head_dim", "model.heterogeneous_layers_config_path", "model.make_vocab_size_divisible_by"};
      if (kShape.count(name)) {
        throw InputError(where, fmt::format("{}: spsim reads the model from --recipe; a changed shape is another "
                                            "model: give -m with a model file",
                                            name));
      }
    }
  }
  JobConfig& job = out.job;
  job.framework = "nemo";
  out.given.insert("framework");
  // What the recipe would set unless overridden: spsim does not read recipes, so these must be given.
  auto need = [&](const std::string& key, const char* job_key) {
    if (s.has(key)) return true;
    out.missing.push_back({job_key, fmt::format("{} is not set: the recipe's default applies, which spsim does not "
                                                "read",
                                                key)});
    return false;
  };
  auto num = [&](const std::string& key, const char* job_key, int64_t& field) {
    if (!need(key, job_key)) return;
    field = to_int(s.value(key), where, key);
    out.given.insert(job_key);
  };
  job.num_gpus = world_size(s, where, out);
  num("model.tensor_model_parallel_size", "tensor_model_parallel_size", job.tensor_parallel);
  num("model.pipeline_model_parallel_size", "pipeline_model_parallel_size", job.pipeline_parallel);
  if (s.has("model.virtual_pipeline_model_parallel_size")) {
    const std::string v = s.value("model.virtual_pipeline_model_parallel_size");
    job.virtual_pipeline_stages = v == "null" || v == "None" ? 1 : to_int(v, where, "model.virtual_pipeline_model_parallel_size");
    out.given.insert("virtual_pipeline_model_parallel_size");
  }
  if (s.has("model.num_layers_in_first_pipeline_stage") && s.value("model.num_layers_in_first_pipeline_stage") != "null") {
    job.first_stage_layers = to_int(s.value("model.num_layers_in_first_pipeline_stage"), where,
                                    "model.num_layers_in_first_pipeline_stage");
  }
  if (s.has("model.num_layers_in_last_pipeline_stage") && s.value("model.num_layers_in_last_pipeline_stage") != "null") {
    job.last_stage_layers = to_int(s.value("model.num_layers_in_last_pipeline_stage"), where,
                                   "model.num_layers_in_last_pipeline_stage");
  }
  for (const auto& [key, field] : {std::pair{"model.account_for_embedding_in_pipeline_split",
                                             &job.embedding_in_pipeline_split},
                                   std::pair{"model.account_for_loss_in_pipeline_split", &job.loss_in_pipeline_split}}) {
    if (s.has(key)) *field = bridge_bool(s.value(key), key, where);
  }
  int64_t cp = 1;
  if (need("model.context_parallel_size", "ring_degree")) {
    cp = to_int(s.value("model.context_parallel_size"), where, "model.context_parallel_size");
    if (cp < 1 || cp > kMaxDegree) {
      throw InputError(where, fmt::format("model.context_parallel_size must be a whole number in [1, {}] (got {})",
                                          kMaxDegree, cp));
    }
  }
  for (const char* key : {"model.expert_model_parallel_size", "model.expert_tensor_parallel_size"}) {
    if (s.has(key) && s.value(key) != "1") throw InputError(where, fmt::format("{}: expert parallelism (MoE) is not modelled", key));
  }
  if (cp > 1) {
    if (!need("model.cp_comm_type", "ring_comm")) return out;
    const std::string comm = s.value("model.cp_comm_type");
    if (comm == "a2a") {
      job.ulysses_degree = cp;
    } else if (comm == "p2p" || comm == "allgather") {
      job.ring_degree = cp;
      job.ring_comm = comm;
    } else if (comm == "a2a+p2p") {
      std::string sizes = s.has("model.hierarchical_context_parallel_sizes") ? s.value("model.hierarchical_context_parallel_sizes") : "";
      const size_t comma = sizes.find(',');
      if (sizes.size() < 5 || sizes.front() != '[' || sizes.back() != ']' || comma == std::string::npos) {
        throw InputError(where, "model.cp_comm_type=a2a+p2p needs model.hierarchical_context_parallel_sizes=[A2A,P2P]");
      }
      job.ulysses_degree = to_int(sizes.substr(1, comma - 1), where, "model.hierarchical_context_parallel_sizes");
      job.ring_degree = to_int(sizes.substr(comma + 1, sizes.size() - comma - 2), where,
                               "model.hierarchical_context_parallel_sizes");
      if (job.ulysses_degree * job.ring_degree != cp) {
        throw InputError(where, fmt::format("model.hierarchical_context_parallel_sizes {} is not "
                                            "model.context_parallel_size {}",
                                            sizes, cp));
      }
    } else {
      throw InputError(where, fmt::format("model.cp_comm_type={}: p2p, a2a, allgather or a2a+p2p", comm));
    }
  } else if (s.has("model.cp_comm_type")) {
    s.used("model.cp_comm_type");
  }
  if (s.has("model.hierarchical_context_parallel_sizes")) s.used("model.hierarchical_context_parallel_sizes");
  out.given.insert("ulysses_degree");
  out.given.insert("ring_degree");
  out.given.insert("ring_comm");
  if (job.tensor_parallel > 1 && need("model.sequence_parallel", "sequence_parallel")) {
    job.sequence_parallel = bridge_bool(s.value("model.sequence_parallel"), "model.sequence_parallel", where);
    out.given.insert("sequence_parallel");
  } else if (s.has("model.sequence_parallel")) {
    s.used("model.sequence_parallel");
  }
  num("train.micro_batch_size", "micro_batch_size", job.micro_batch_size);
  num("train.global_batch_size", "global_batch_size", job.global_batch_size);
  const char* seq_key = s.has("dataset.seq_length") ? "dataset.seq_length" : "model.seq_length";
  num(seq_key, "seq_length", job.seq_length);
  if (s.has("dataset.seq_length") && s.has("model.seq_length") &&
      s.value("dataset.seq_length") != s.value("model.seq_length")) {
    throw InputError(where, fmt::format("dataset.seq_length {} and model.seq_length {} differ; run_recipe.py "
                                        "takes the dataset's",
                                        s.value("dataset.seq_length"), s.value("model.seq_length")));
  }
  if (need("model.recompute_granularity", "recompute_granularity")) {
    const std::string g = s.value("model.recompute_granularity");
    if (g == "null" || g == "None") {
      job.recompute = Recompute::kNone;
    } else if (g == "selective") {
      for (const char* key : {"model.recompute_method", "model.recompute_num_layers"}) {
        if (s.has(key) && s.value(key) != "null" && s.value(key) != "None") {
          throw InputError(where, fmt::format("{}={} goes with model.recompute_granularity=full (Megatron refuses "
                                              "a recompute method with selective); drop it or use full",
                                              key, s.value(key)));
        }
      }
      job.recompute = Recompute::kSelective;
    } else if (g == "full") {
      const std::string method = s.has("model.recompute_method") ? s.value("model.recompute_method") : "null";
      const std::string layers = s.has("model.recompute_num_layers") ? s.value("model.recompute_num_layers") : "null";
      read_full_recompute(job, method, layers,
                          fmt::format("model.recompute_granularity=full with recompute_method {} and "
                                      "recompute_num_layers {}", method, layers), where);
    } else {
      throw InputError(where, fmt::format("model.recompute_granularity={}: null, selective or full", g));
    }
    out.given.insert("recompute_granularity");
  }
  for (const char* key : {"model.recompute_method", "model.recompute_num_layers"}) {
    if (s.has(key)) s.used(key);
  }
  // ZeRO from the distributed optimizer and Megatron-FSDP.
  bool dist = false;
  const bool has_dist = s.has("ddp.use_distributed_optimizer") || s.has("optimizer.use_distributed_optimizer");
  for (const char* key : {"ddp.use_distributed_optimizer", "optimizer.use_distributed_optimizer"}) {
    if (s.has(key) && bridge_bool(s.value(key), key, where)) dist = true;  // both read (and marked used)
  }
  if (!has_dist) need("ddp.use_distributed_optimizer", "zero_stage");
  int zero = dist ? 1 : 0;
  if (s.has("ddp.use_megatron_fsdp") && bridge_bool(s.value("ddp.use_megatron_fsdp"), "ddp.use_megatron_fsdp", where)) {
    const std::string strategy =
        s.has("ddp.data_parallel_sharding_strategy") ? s.value("ddp.data_parallel_sharding_strategy") : "optim_grads_params";
    zero = strategy == "optim_grads_params" ? 3 : strategy == "optim_grads" ? 2 : strategy == "optim" ? 1 : zero;
  } else if (s.has("ddp.data_parallel_sharding_strategy")) {
    s.used("ddp.data_parallel_sharding_strategy");
  }
  job.zero_stage = zero;
  if (has_dist) out.given.insert("zero_stage");
  if (need("mixed_precision", "precision")) {
    const std::string p = s.value("mixed_precision");
    const std::string canonical = [&] {
      std::string c = p;
      std::replace(c.begin(), c.end(), '-', '_');
      return c;
    }();
    if (canonical == "bf16_mixed") {
      job.precision = Precision::kBf16;
    } else if (canonical == "fp16_mixed") {
      job.precision = Precision::kFp16;
    } else if (canonical == "bf16_with_fp8_delayed_scaling_mixed") {
      job.precision = Precision::kFp8;
      job.fp8_recipe = "delayed";
    } else if (canonical == "bf16_with_fp8_current_scaling_mixed") {
      job.precision = Precision::kFp8;
      job.fp8_recipe = "current";
    } else {
      throw InputError(where, fmt::format("mixed_precision={}: spsim models bf16_mixed, fp16_mixed and "
                                          "bf16_with_fp8_{{delayed,current}}_scaling_mixed",
                                          p));
    }
    out.given.insert("precision");
    if (job.precision == Precision::kFp8) out.given.insert("fp8_recipe");
  }
  // The recipe's gradient dtype and cross entropy are the job's: it stays a nemo plan with them.
  if (s.has("ddp.grad_reduce_in_fp32") && bridge_bool(s.value("ddp.grad_reduce_in_fp32"), "ddp.grad_reduce_in_fp32", where)) {
    job.grad_reduce_dtype = "fp32";
    out.given.insert("grad_reduce_dtype");
  }
  if (s.has("model.cross_entropy_loss_fusion") &&
      !bridge_bool(s.value("model.cross_entropy_loss_fusion"), "model.cross_entropy_loss_fusion", where)) {
    job.cross_entropy = "unfused";
    out.given.insert("cross_entropy");
  } else if (s.has("model.cross_entropy_fusion_impl") && s.value("model.cross_entropy_fusion_impl") == "native") {
    // Megatron-Core's own fused loss: fp32 inside, slower than TE's kernel (framework.h LossImpl).
    job.cross_entropy = "native";
    out.given.insert("cross_entropy");
  }
  if (s.has("model.attention_backend")) {
    const std::string backend = s.value("model.attention_backend");
    if (backend != "fused" && backend != "auto" && backend != "AttnBackend.fused" && backend != "AttnBackend.auto") {
      throw InputError(where, fmt::format("model.attention_backend={}: spsim's nemo plans run the fused (cuDNN) "
                                          "backend",
                                          backend));
    }
  }
  for (const auto& name : s.unused()) {
    if (name != "--nnodes" && name.rfind("--nproc", 0) != 0) out.ignored.push_back(name);
  }
  job.strategy = scheme_for_degrees(job.tensor_parallel, job.ulysses_degree, job.ring_degree, job.sequence_parallel);
  out.given.insert("strategy");
  return out;
}

// ----------------------------------------------------------------------------------------------
// DeepSpeed config JSON.

ImportedLaunch import_deepspeed(const std::string& text, const std::string& where) {
  ImportedLaunch out;
  out.format = LaunchFormat::kDeepSpeed;
  const nlohmann::json config = detail::parse_json(text, where);
  if (!config.is_object()) throw InputError(where, "a DeepSpeed config is a JSON object");
  JobConfig& job = out.job;
  job.framework = "deepspeed";
  out.given.insert("framework");
  auto integer = [&](const nlohmann::json& parent, const std::string& key, const std::string& path) -> std::optional<int64_t> {
    if (!parent.contains(key)) return std::nullopt;
    const auto& v = parent.at(key);
    if (v.is_string() && v.get<std::string>() == "auto") return std::nullopt;  // the HF Trainer fills it in
    if (!v.is_number_integer()) throw InputError(where + ": /" + path, fmt::format("expected an integer, got {}", v.dump()));
    return v.get<int64_t>();
  };
  std::set<std::string> read;
  for (const char* key : {"train_batch_size", "train_micro_batch_size_per_gpu", "gradient_accumulation_steps",
                          "sequence_parallel_size", "data_parallel_size", "zero_optimization", "bf16", "bfloat16",
                          "fp16", "tensor_parallel"}) {
    read.insert(key);
  }
  const auto tbs = integer(config, "train_batch_size", "train_batch_size");
  const auto mbs = integer(config, "train_micro_batch_size_per_gpu", "train_micro_batch_size_per_gpu");
  const auto gas = integer(config, "gradient_accumulation_steps", "gradient_accumulation_steps");
  const auto sp = integer(config, "sequence_parallel_size", "sequence_parallel_size");
  const auto dp_given = integer(config, "data_parallel_size", "data_parallel_size");
  job.ulysses_degree = sp.value_or(1);
  out.given.insert("ulysses_degree");
  out.given.insert("ring_degree");
  // train_batch_size = micro x accumulation x dp (runtime/config.py _batch_assertion).
  std::optional<int64_t> dp = dp_given;
  if (mbs) {
    job.micro_batch_size = *mbs;
    out.given.insert("micro_batch_size");
  }
  // Batch sizes and degrees are counts: below 1 they are typos, and none may make the product
  // below overflow.
  for (const auto& [value, key] : {std::pair{tbs, "train_batch_size"}, std::pair{mbs, "train_micro_batch_size_per_gpu"},
                                   std::pair{gas, "gradient_accumulation_steps"}, std::pair{sp, "sequence_parallel_size"},
                                   std::pair{dp_given, "data_parallel_size"}}) {
    if (value && (*value < 1 || *value > kMaxGlobalBatchSize)) {
      throw InputError(where, fmt::format("{} must be a whole number in [1, {}] (got {})", key, kMaxGlobalBatchSize, *value));
    }
  }
  const int64_t steps = gas.value_or(1);
  if (!dp && tbs && mbs) {
    if (*mbs > *tbs / steps || *tbs % (*mbs * steps) != 0) {
      throw InputError(where, fmt::format("train_batch_size {} is not train_micro_batch_size_per_gpu {} x "
                                          "gradient_accumulation_steps {} x a data-parallel degree",
                                          *tbs, *mbs, steps));
    }
    dp = *tbs / (*mbs * steps);
  }
  if (dp) {
    job.num_gpus = *dp * job.ulysses_degree;
    job.data_parallel = *dp;
    out.given.insert("num_gpus");
    out.given.insert("data_parallel_size");
    if (tbs) {
      job.global_batch_size = *tbs;
    } else if (mbs) {
      job.global_batch_size = *mbs * steps * *dp;
    }
    if (job.global_batch_size > 0) out.given.insert("global_batch_size");
  } else {
    out.missing.push_back({"num_gpus", "the config gives neither data_parallel_size nor train_batch_size with "
                                       "train_micro_batch_size_per_gpu"});
  }
  if (!mbs) out.missing.push_back({"micro_batch_size", "train_micro_batch_size_per_gpu is not set (or \"auto\")"});
  if (config.contains("zero_optimization")) {
    const auto& zero = config.at("zero_optimization");
    if (!zero.is_object()) throw InputError(where + ": /zero_optimization", "expected an object");
    job.zero_stage = static_cast<int>(integer(zero, "stage", "zero_optimization/stage").value_or(0));
    // The deprecated zero_optimization.cpu_offload: true is offload_optimizer to the CPU
    // (DeepSpeed runtime/zero/config.py maps it so).
    if (zero.contains("cpu_offload") && zero.at("cpu_offload").is_boolean() && zero.at("cpu_offload").get<bool>()) {
      job.offload_optimizer = true;
      out.given.insert("offload");
    }
    // Settings spsim does not read but which change memory or timing: it models their defaults.
    std::vector<std::string> defaulted;
    for (const auto& [key, value] : zero.items()) {
      if (key != "stage" && key != "cpu_offload" && key != "offload_optimizer" && key != "offload_param") {
        defaulted.push_back("zero_optimization." + key);
      }
    }
    if (!defaulted.empty()) {
      out.notes.push_back(fmt::format(
          "{}: not read; spsim models DeepSpeed's defaults (contiguous gradients in a reduce bucket of 5e8 "
          "elements, overlap_comm at ZeRO-3 only, ZeRO-3's prefetch of 5e7 elements a fetch up to 1e9 live "
          "parameters), so a different value changes memory and time it does not show",
          join(defaulted)));
    }
    for (const char* offload : {"offload_optimizer", "offload_param"}) {
      if (!zero.contains(offload) || zero.at(offload).is_null()) continue;
      const auto& o = zero.at(offload);
      if (!o.is_object()) {
        throw InputError(where + ": /zero_optimization/" + offload,
                         "expected an object such as {\"device\": \"cpu\"} (DeepSpeed's schema)");
      }
      // DeepSpeed's default device is "none" (runtime/zero/offload_config.py): no offload.
      const std::string device = o.contains("device") && o.at("device").is_string()
                                     ? o.at("device").get<std::string>()
                                     : "none";
      if (device == "none") continue;
      // The optimizer or the parameters on the CPUs are --offload optimizer / params; NVMe
      // (ZeRO-Infinity) is not modelled.
      if (device == "cpu") {
        if (std::string(offload) == "offload_param" && job.zero_stage != 3) {
          // Only stage 3 reads offload_param (zero/offload_config.py "Valid only with stage 3");
          // stages 1 and 2 run with the parameters on the GPU.
          out.notes.push_back("zero_optimization.offload_param is ignored below ZeRO stage 3, as DeepSpeed "
                              "ignores it");
          continue;
        }
        (std::string(offload) == "offload_optimizer" ? job.offload_optimizer : job.offload_params) = true;
        out.given.insert("offload");
        continue;
      }
      throw InputError(where + ": /zero_optimization/" + offload,
                       fmt::format("ZeRO offloading of {} to {} is not modelled (spsim offloads the optimizer "
                                   "and the parameters to the CPU only)",
                                   std::string(offload) == "offload_param" ? "parameters" : "the optimizer",
                                   device));
    }
  }
  out.given.insert("zero_stage");
  auto enabled = [&](const char* key) {
    if (!config.contains(key)) return false;
    const auto& section = config.at(key);
    if (!section.is_object() || !section.contains("enabled")) return false;
    const auto& e = section.at("enabled");
    if (e.is_string() && e.get<std::string>() == "auto") {
      out.missing.push_back({"precision", fmt::format("{}.enabled is \"auto\"", key)});
      return false;
    }
    if (!e.is_boolean()) throw InputError(where + ": /" + key + "/enabled", "expected true or false");
    return e.get<bool>();
  };
  job.precision = Precision::kFp32;
  if (enabled("bf16") || enabled("bfloat16")) job.precision = Precision::kBf16;
  if (enabled("fp16")) job.precision = Precision::kFp16;
  out.given.insert("precision");
  if (config.contains("tensor_parallel")) {
    const auto autotp = integer(config.at("tensor_parallel"), "autotp_size", "tensor_parallel/autotp_size");
    if (autotp && *autotp > 1) {
      throw InputError(where + ": /tensor_parallel/autotp_size", "AutoTP with Ulysses is not modelled; use 0 or 1");
    }
  }
  for (const auto& [key, value] : config.items()) {
    // Keys with a note of their own below are not "without effect".
    if (!read.count(key) && key != "data_types" && key != "communication_data_type" &&
        key != "seq_parallel_communication_data_type") {
      out.ignored.push_back(key);
    }
  }
  if (config.contains("data_types")) {
    // grad_accum_dtype picks BF16_Optimizer at ZeRO-1 (engine.py:1994) and sizes the gradients,
    // so it is not without effect; spsim takes DeepSpeed's default, the model's dtype.
    out.notes.push_back("data_types (grad_accum_dtype) is not read: spsim accumulates gradients in the model's "
                        "dtype, DeepSpeed's default; an fp32 accumulation holds 2 more bytes a parameter");
  }
  for (const char* key : {"communication_data_type", "seq_parallel_communication_data_type"}) {
    if (!config.contains(key)) continue;
    // The DP gradient traffic's dtype (framework/profiles.cc: DeepSpeed's defaults).
    out.notes.push_back(fmt::format("{} is not read: spsim sends DeepSpeed's default, the model's dtype, or fp32 "
                                    "when the job splits the sequence (seq_parallel_communication_data_type)",
                                    key));
  }
  if (config.contains("pipeline")) {
    out.notes.push_back("pipeline: DeepSpeed takes the stage count from PipelineModule in the model code; give "
                        "--pp if it is > 1");
  }
  if (config.contains("activation_checkpointing")) {
    out.notes.push_back("activation_checkpointing configures checkpointing the model code turns on; give "
                        "--recompute full if it does");
    const auto& ac = config.at("activation_checkpointing");
    if (ac.is_object() && ac.contains("cpu_checkpointing") && ac.at("cpu_checkpointing").is_boolean() &&
        ac.at("cpu_checkpointing").get<bool>()) {
      out.notes.push_back("activation_checkpointing.cpu_checkpointing (deepspeed.checkpointing's side-stream copies) "
                          "is not modelled: the checkpoints stay on the GPU; --offload activations is ALST's "
                          "blocking offload of torch.utils.checkpoint's");
    }
  }
  out.not_carried = {"model", "seq_length", "recompute_granularity", "pipeline_model_parallel_size"};
  job.strategy = scheme_for_degrees(1, job.ulysses_degree, 1, true);
  out.given.insert("strategy");
  return out;
}

// ----------------------------------------------------------------------------------------------
// torchtitan job TOML.

std::string toml_string(const detail::TomlValue& v, const std::string& key, const std::string& where) {
  const std::string& t = v.text;
  if (t.size() < 2 || (t.front() != '"' && t.front() != '\'') || t.back() != t.front()) {
    throw InputError(fmt::format("{}:{}", where, v.line), fmt::format("{} needs a string (\"...\"), got {}", key, t));
  }
  return t.substr(1, t.size() - 2);
}

ImportedLaunch import_torchtitan(const std::string& text, const std::string& where) {
  ImportedLaunch out;
  out.format = LaunchFormat::kTorchtitan;
  const auto toml = detail::read_toml(text, where);
  for (const auto& [key, value] : toml) {
    const ListedName* entry = find_listed("torchtitan", key);
    if (entry == nullptr) {
      throw InputError(fmt::format("{}:{}", where, value.line),
                       fmt::format("{} is not a torchtitan setting ({}){}", key, framework_list_source("torchtitan"),
                                   did_you_mean(key, {"torchtitan"})));
    }
    if (!entry->choices.empty() && !value.text.empty() && (value.text.front() == '"' || value.text.front() == '\'')) {
      const std::string v = toml_string(value, key, where);
      if (std::find(entry->choices.begin(), entry->choices.end(), v) == entry->choices.end()) {
        throw InputError(fmt::format("{}:{}", where, value.line),
                         fmt::format("{} = \"{}\": torchtitan accepts {}", key, v, join(entry->choices)));
      }
    }
  }
  std::set<std::string> used;
  auto has = [&](const std::string& key) { return toml.count(key) > 0; };
  auto str = [&](const std::string& key, const std::string& fallback) {
    used.insert(key);
    return has(key) ? toml_string(toml.at(key), key, where) : fallback;
  };
  auto num = [&](const std::string& key, int64_t fallback) {
    used.insert(key);
    if (!has(key)) return fallback;
    return to_int(toml.at(key).text, fmt::format("{}:{}", where, toml.at(key).line), key);
  };
  JobConfig& job = out.job;
  job.framework = "fsdp";
  out.given.insert("framework");
  // The model: a llama3 flavor.
  const std::string name = str("model.name", "llama3");
  const std::string flavor = str("model.flavor", "debugmodel");
  if (name == "llama3") {
    for (const auto& f : detail::torchtitan_flavors()) {
      if (flavor == f.flavor && !out.model) out.model = load_model(f.model);
    }
  }
  if (!out.model) out.missing.push_back({"model", fmt::format("spsim has no model for torchtitan {} {}", name, flavor)});
  const int64_t replicate = num("parallelism.data_parallel_replicate_degree", 1);
  int64_t shard = num("parallelism.data_parallel_shard_degree", -1);
  const int64_t tp = num("parallelism.tensor_parallel_degree", 1);
  const int64_t pp = num("parallelism.pipeline_parallel_degree", 1);
  const int64_t cp = num("parallelism.context_parallel_degree", 1);
  for (const char* key : {"parallelism.expert_parallel_degree", "parallelism.expert_tensor_parallel_degree"}) {
    if (num(key, 1) != 1) throw InputError(where, fmt::format("{}: expert parallelism (MoE) is not modelled", key));
  }
  // -1: FSDP over the GPUs the other degrees leave, so the world size comes from the launch.
  const bool shard_rest = shard == -1;
  if (shard_rest) {
    out.missing.push_back({"num_gpus", "parallelism.data_parallel_shard_degree = -1 takes the GPUs left over: "
                                       "the world size is set at launch"});
    shard = 1;
  } else {
    job.num_gpus = replicate * shard * tp * pp * cp;
    out.given.insert("num_gpus");
  }
  if (replicate > 1 && (shard_rest || shard > 1 || cp > 1)) {
    throw InputError(where, "HSDP (data_parallel_replicate_degree and data_parallel_shard_degree both > 1) is not "
                            "modelled: spsim's ZeRO group is every data-parallel rank");
  }
  job.tensor_parallel = tp;
  job.pipeline_parallel = pp;
  job.ring_degree = cp;
  job.data_parallel = shard_rest ? 0 : replicate * shard;  // 0: derived from --gpus
  for (const char* key : {"tensor_model_parallel_size", "pipeline_model_parallel_size", "ring_degree", "ulysses_degree",
                          "data_parallel_size", "sequence_parallel"}) {
    out.given.insert(key);
  }
  const std::string reshard = str("parallelism.fsdp_reshard_after_forward", "default");
  if (shard_rest || shard > 1 || cp > 1) {
    // "default" reshards except under pipeline parallelism (fully_shard's policy); under PP the
    // gradients wait for the last micro-batch, so kept parameters are ZeRO-1, not ZeRO-2.
    const bool kept = reshard == "never" || (reshard == "default" && pp > 1);
    job.zero_stage = kept ? (pp > 1 ? 1 : 2) : 3;
  } else {
    job.zero_stage = 0;
  }
  out.given.insert("zero_stage");
  if (cp > 1) {
    const std::string balancer = str("parallelism.context_parallel_load_balancer", "headtail");
    if (balancer != "headtail") {
      throw InputError(where, fmt::format("parallelism.context_parallel_load_balancer = \"{}\": spsim models "
                                          "headtail (zigzag)",
                                          balancer));
    }
    job.ring_variant = "zigzag";
    job.ring_comm = str("parallelism.context_parallel_rotate_method", "allgather") == "alltoall" ? "p2p" : "allgather";
    out.given.insert("ring_comm");
    out.given.insert("ring_variant");
  }
  // Batch: without pipeline stages a rank runs local_batch_size sequences per micro-step and
  // accumulates to global_batch_size; with stages local_batch_size is split into micro-batches.
  const int64_t local = num("training.local_batch_size", 8);
  if (pp > 1) {
    job.micro_batch_size = num("parallelism.pipeline_parallel_microbatch_size", 1);
    const std::string schedule = str("parallelism.pipeline_parallel_schedule", "1F1B");
    if (schedule != "1F1B" && schedule != "Interleaved1F1B") {
      throw InputError(where, fmt::format("parallelism.pipeline_parallel_schedule = \"{}\": spsim models 1F1B and "
                                          "Interleaved1F1B",
                                          schedule));
    }
    // torchtitan/distributed/pipeline_parallel.py: L + first/last weights effective layers over
    // ceil(effective / layers_per_stage) stages, or 1 (1F1B) / 2 (interleaved) per rank; spsim
    // models the default weights (the embedding and the output one layer each).
    const int64_t first_weight = num("parallelism.pipeline_parallel_first_stage_less_layers", 1);
    const int64_t last_weight = num("parallelism.pipeline_parallel_last_stage_less_layers", 1);
    if (first_weight != 1 || last_weight != 1) {
      throw InputError(where, "parallelism.pipeline_parallel_first/last_stage_less_layers: spsim models torchtitan's "
                              "default of 1 each (the embedding and the output count one layer); drop them");
    }
    const bool interleaved = schedule == "Interleaved1F1B";
    int64_t stages_per_rank = interleaved ? 2 : 1;
    if (has("parallelism.pipeline_parallel_layers_per_stage")) {
      const int64_t per_stage = num("parallelism.pipeline_parallel_layers_per_stage", 1);
      if (per_stage < 1 || !out.model || per_stage > out.model->num_layers + 2) {
        throw InputError(where, "parallelism.pipeline_parallel_layers_per_stage needs a positive value no larger than "
                                "the model's layers + 2, and a known model");
      }
      const int64_t stages = (out.model->num_layers + 2 + per_stage - 1) / per_stage;
      if (stages % pp != 0 || (stages / pp > 1) != interleaved) {
        throw InputError(where, fmt::format("parallelism.pipeline_parallel_layers_per_stage = {} makes {} stages over "
                                            "{} ranks, which the {} schedule does not run",
                                            per_stage, stages, pp, schedule));
      }
      stages_per_rank = stages / pp;
    }
    job.virtual_pipeline_stages = stages_per_rank;
    out.given.insert("virtual_pipeline_model_parallel_size");
  } else {
    job.micro_batch_size = local;
  }
  out.given.insert("micro_batch_size");
  const int64_t global = num("training.global_batch_size", -1);
  job.global_batch_size = global > 0 ? global : local * job.data_parallel;  // 0 with shard_rest: one step per rank
  out.given.insert("global_batch_size");
  job.seq_length = num("training.seq_len", 2048);
  out.given.insert("seq_length");
  const std::string mode = str("activation_checkpoint.mode", "selective");
  if (mode == "none") {
    job.recompute = Recompute::kNone;
  } else if (mode == "full") {
    job.recompute = Recompute::kFull;
  }
  // selective_ac_option "op" (what the shipped train configs set) is spsim's --recompute op; a
  // layer frequency k (the default "2", config_manager.py:522-524 @9dec370) checkpoints every
  // k-th block (a module-wide counter in apply_ac, parallelize_llama.py): floor(L / k) whole
  // blocks, spsim's full:N with that count (N per model chunk: known without pipeline stages,
  // each of which counts its own blocks). The memory_budget mode is not modelled.
  const std::string option = str("activation_checkpoint.selective_ac_option", "2");
  const bool op_level = mode == "selective" && option == "op";
  // int(option) as torchtitan reads it: 0 (or 1) checkpoints every block.
  const bool every_kth = mode == "selective" && !option.empty() && option.size() <= 6 &&
                         option.find_first_not_of("0123456789") == std::string::npos && out.model &&
                         job.pipeline_parallel == 1;
  if (op_level) {
    job.recompute = Recompute::kOp;
  } else if (every_kth) {
    const int64_t k = std::stoll(option), layers = out.model->num_layers;
    job.recompute = k <= 1 || layers / k > 0 ? Recompute::kFull : Recompute::kNone;
    job.recompute_layers = k <= 1 || layers / k == 0 ? 0 : layers / k;
  } else if (mode != "none" && mode != "full") {
    out.missing.push_back({"recompute_granularity",
                           mode == "selective"
                               ? fmt::format("activation_checkpoint.selective_ac_option = \"{}\" is read as full "
                                             "recompute of every n-th block (full:N) only with a known model and "
                                             "no pipeline stages; \"op\" is spsim's --recompute op",
                                             option)
                               : fmt::format("activation_checkpoint.mode = \"{}\" is not one of spsim's recompute "
                                             "modes (torchtitan's none, full and selective with \"op\" are)",
                                             mode)});
  }
  if (mode == "none" || mode == "full" || op_level || every_kth) out.given.insert("recompute_granularity");
  const std::string param = str("training.mixed_precision_param", "bfloat16");
  const std::string dtype = str("training.dtype", "float32");
  // training.dtype is the storage dtype (float32: fp32 master weights, the default); mixed
  // precision computes in mixed_precision_param.
  job.precision = param == "float32" ? Precision::kFp32 : Precision::kBf16;
  if (dtype == "bfloat16") {
    throw InputError(where, "training.dtype = \"bfloat16\" (pure bf16, no fp32 master weights) is not modelled");
  }
  used.insert("model.converters");
  if (has("model.converters")) {
    const std::string& converters = toml.at("model.converters").text;
    if (converters.find("float8") != std::string::npos) {
      const std::string recipe = str("quantize.linear.float8.recipe_name", "tensorwise");
      if (recipe != "tensorwise") {
        throw InputError(where, fmt::format("quantize.linear.float8.recipe_name = \"{}\": spsim models tensorwise "
                                            "(current) scaling",
                                            recipe));
      }
      job.precision = Precision::kFp8;
      job.fp8_recipe = "current";
      out.given.insert("fp8_recipe");
    }
    if (converters.find("mx") != std::string::npos) throw InputError(where, "MX formats are not modelled");
  }
  out.given.insert("precision");
  // torch.compile of the model (compile.components defaults to ["model", "loss"]): Inductor fuses
  // each block's norms, SwiGLU and residual adds, so they run as fused kernels, not eager ops.
  used.insert("compile.enable");
  used.insert("compile.components");
  if (has("compile.enable") && toml.at("compile.enable").text == "true" &&
      (!has("compile.components") || toml.at("compile.components").text.find("model") != std::string::npos)) {
    job.elementwise_impl = "fused";
    out.given.insert("elementwise_impl");
  }
  if (has("training.enable_cpu_offload") && toml.at("training.enable_cpu_offload").text == "true") {
    throw InputError(where, "training.enable_cpu_offload: offloading is not modelled");
  }
  for (const auto& [key, value] : toml) {
    if (!used.count(key)) out.ignored.push_back(key);
  }
  // tensor parallelism in torchtitan always shards norms along the sequence.
  job.strategy = scheme_for_degrees(tp, 1, cp, true);
  out.given.insert("strategy");
  return out;
}

}  // namespace

ImportedLaunch import_launch(LaunchFormat format, const std::string& text, const std::string& where) {
  switch (format) {
    case LaunchFormat::kMegatron:
    case LaunchFormat::kNemo:
      return looks_like_bridge(text, where) ? import_bridge(text, where) : import_megatron(text, where);
    case LaunchFormat::kDeepSpeed:
      return import_deepspeed(text, where);
    case LaunchFormat::kTorchtitan:
      return import_torchtitan(text, where);
  }
  throw Error("unknown launch format");
}

}  // namespace spsim
