// Reads a ModelSpec from spsim's strict models/*.json format or from a HuggingFace config.json.
//
// The strict format uses HF key names plus the few facts HF leaves to the modeling code (MLP and
// norm kind, biases, learned positions); every key is checked and unknown keys are errors. HF
// files are read leniently: unknown keys are ignored and per-model_type defaults fill in what the
// modeling code hard-wires (Qwen2's QKV bias, GPT-2's tied embeddings and biases).
#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "common/data_dir.h"
#include "common/json_reader.h"
#include "spsim/error.h"
#include "spsim/limits.h"
#include "spsim/model.h"
#include "model/hf_keys.h"

namespace spsim {

namespace {

using detail::ObjectReader;

// Every key of the strict format, in documentation order (docs/model.md).
constexpr std::array<const char*, 20> kStrictKeys = {
    "name", "source", "hidden_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "head_dim", "intermediate_size", "vocab_size",
    "make_vocab_size_divisible_by", "max_position_embeddings", "mlp", "norm", "qkv_bias",
    "linear_bias", "tie_word_embeddings", "learned_position_embeddings", "hidden_dropout",
    "attention_dropout", "attention_pattern"};

// Keys that mark a mixture-of-experts config (DeepSeek, Mixtral, Qwen-MoE / OLMoE).
constexpr std::array<const char*, 3> kMoeKeys = {"n_routed_experts", "num_local_experts",
                                                 "num_experts"};

/// Integer `key` in [min, max], with a message that says what to do when it is out of range.
int64_t read_size(ObjectReader& in, const std::string& key, std::optional<int64_t> fallback,
                  int64_t min, int64_t max) {
  return in.integer(key, fallback, min, max, "use the model's published value");
}

double read_dropout(ObjectReader& in, const std::string& key, double fallback) {
  const double value =
      in.number(key, fallback, -std::numeric_limits<double>::max(), std::numeric_limits<double>::max());
  if (value < 0 || value >= 1) {
    in.fail(key, fmt::format("must be a probability in [0, 1) (got {}); use 0 for no dropout, 0.1 "
                             "for Megatron GPT",
                             value));
  }
  return value;
}

std::string file_stem(const std::string& display_name) {
  return std::filesystem::path(display_name).stem().string();
}

/// Rules that hold for every source format. `in` locates the messages.
void validate_shape(const ModelSpec& m, ObjectReader& in, bool head_dim_given,
                    const std::string& heads_key, const std::string& hidden_key) {
  if (m.num_key_value_heads > m.num_attention_heads ||
      m.num_attention_heads % m.num_key_value_heads != 0) {
    in.fail("num_key_value_heads",
            fmt::format("must divide num_attention_heads {} (got {}); use a divisor such as 1 or "
                        "{} (MHA)",
                        m.num_attention_heads, m.num_key_value_heads, m.num_attention_heads));
  }
  if (!head_dim_given && m.hidden_size % m.num_attention_heads != 0) {
    in.fail(heads_key, fmt::format("must divide {} {} when head_dim is absent (got {}); add "
                                   "head_dim or correct the head count",
                                   hidden_key, m.hidden_size, m.num_attention_heads));
  }
  if (m.num_attention_heads * m.head_dim > kMaxQWidth) {
    in.fail(head_dim_given ? "head_dim" : heads_key,
            fmt::format("num_attention_heads x head_dim must be at most {} (got {} x {}); use the "
                        "model's published value",
                        kMaxQWidth, m.num_attention_heads, m.head_dim));
  }
}

// The shape keys spsim's format shares with HuggingFace's Llama-family configs (same names, same
// defaults: KV heads = heads, head_dim = hidden / heads). Returns whether head_dim was given.
bool read_shape(ObjectReader& in, ModelSpec& m) {
  m.hidden_size = read_size(in, "hidden_size", std::nullopt, 1, kMaxHidden);
  m.num_layers = read_size(in, "num_hidden_layers", std::nullopt, 1, kMaxLayers);
  m.num_attention_heads = read_size(in, "num_attention_heads", std::nullopt, 1, kMaxHeads);
  m.num_key_value_heads =
      read_size(in, "num_key_value_heads", m.num_attention_heads, 1, kMaxHeads);
  const bool head_dim_given = in.has("head_dim");
  m.head_dim = head_dim_given ? read_size(in, "head_dim", std::nullopt, 1, kMaxHeadDim)
                              : m.hidden_size / m.num_attention_heads;
  m.ffn_hidden_size = read_size(in, "intermediate_size", std::nullopt, 1, kMaxFfn);
  m.vocab_size = read_size(in, "vocab_size", std::nullopt, 1, kMaxVocab);
  return head_dim_given;
}

ModelSpec parse_strict(const nlohmann::json& json, const std::string& file) {
  ObjectReader in(json, file);
  // Unknown keys first: a misspelt key gets "did you mean" rather than "missing field".
  for (const char* key : kStrictKeys) in.ignore(key);
  in.finish();

  ModelSpec m;
  m.name = in.string("name", file_stem(file));
  if (m.name.empty()) in.fail("name", "must not be empty; name the model, e.g. \"llama-3-8b\"");
  m.source = in.string("source");
  if (m.source.empty()) {
    in.fail("source", "must not be empty; cite the paper table or Hub repo the shape comes from");
  }
  const bool head_dim_given = read_shape(in, m);
  m.make_vocab_size_divisible_by =
      read_size(in, "make_vocab_size_divisible_by", 1, 1, kMaxVocabMultiple);
  m.max_position_embeddings = read_size(in, "max_position_embeddings", 0, 0, kMaxPositions);

  const std::string mlp = in.string("mlp");
  if (mlp == "swiglu") {
    m.gated_mlp = true;
  } else if (mlp == "gelu") {
    m.gated_mlp = false;
  } else {
    in.fail("mlp", fmt::format("must be \"swiglu\" (3 matrices) or \"gelu\" (2 matrices) (got "
                               "\"{}\")",
                               mlp));
  }
  const std::string norm = in.string("norm");
  if (norm == "rmsnorm") {
    m.norm = NormKind::kRMSNorm;
  } else if (norm == "layernorm") {
    m.norm = NormKind::kLayerNorm;
  } else {
    in.fail("norm", fmt::format("must be \"rmsnorm\" or \"layernorm\" (got \"{}\")", norm));
  }
  m.qkv_bias = in.boolean("qkv_bias", false);
  m.linear_bias = in.boolean("linear_bias", false);
  m.tied_embeddings = in.boolean("tie_word_embeddings", false);
  m.learned_position_embeddings = in.boolean("learned_position_embeddings", false);
  m.hidden_dropout = read_dropout(in, "hidden_dropout", 0.0);
  m.attention_dropout = read_dropout(in, "attention_dropout", 0.0);

  validate_shape(m, in, head_dim_given, "num_attention_heads", "hidden_size");
  // Linear-attention and hybrid models (src/model/attention_pattern.cc).
  if (in.has("attention_pattern")) {
    set_attention_pattern(m, in.string("attention_pattern"), file + ":" + in.pointer("attention_pattern"));
  }
  if (m.learned_position_embeddings && m.max_position_embeddings == 0) {
    in.fail("max_position_embeddings",
            "must be set when learned_position_embeddings is true (got 0); give the size of the "
            "position table");
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// HuggingFace config.json

void reject_moe(const nlohmann::json& config, const std::string& file, const std::string& pointer) {
  for (const char* key : kMoeKeys) {
    if (!config.contains(key)) continue;
    const auto& value = config.at(key);
    // num_experts: 0/1/null appears in some dense configs; only more than one expert is MoE.
    if (value.is_null() || (value.is_number() && value.get<double>() <= 1)) continue;
    throw InputError(file, fmt::format("{}/{}: MoE models are not supported yet (got {} experts); "
                                       "spsim models dense decoder-only Transformers, use a dense "
                                       "model",
                                       pointer, key, value.dump()));
  }
}

// Attention and layer kinds spsim does not model, which a Llama reading would silently get wrong:
// multi-head latent attention (MiniCPM3, DeepSeek: Q/KV low-rank projections, other head dims),
// Gemma's alternating local/global layers (sliding_window_pattern, layer_types) and Gemma's MLP
// (hidden_activation; its configs also tie embeddings by default without saying so).
void reject_unsupported(const nlohmann::json& config, const std::string& file, const std::string& pointer) {
  auto refuse = [&](const char* key, const std::string& what) {
    throw InputError(file, fmt::format("{}/{}: {}: not modelled by spsim; write the model in spsim's "
                                       "format (see docs/model.md) or use a Llama-like dense model",
                                       pointer, key, what));
  };
  auto present = [&](const char* key) { return config.contains(key) && !config.at(key).is_null(); };
  for (const char* key : {"q_lora_rank", "kv_lora_rank"}) {
    if (present(key)) refuse(key, "multi-head latent attention (MLA)");
  }
  if (present("sliding_window_pattern")) refuse("sliding_window_pattern", "alternating sliding-window attention");
  if (present("layer_types")) {
    const auto& types = config.at("layer_types");
    const bool all_full = types.is_array() && std::all_of(types.begin(), types.end(), [](const nlohmann::json& t) {
                            return t.is_string() && t.get<std::string>() == "full_attention";
                          });
    if (!all_full) refuse("layer_types", "a mix of layer kinds (sliding-window or linear attention)");
  }
  if (present("hidden_activation")) refuse("hidden_activation", "Gemma's MLP and default-tied embeddings");
}

std::string hf_model_type(const nlohmann::json& config, const nlohmann::json& root) {
  for (const nlohmann::json* j : {&config, &root}) {
    if (j->contains("model_type") && j->at("model_type").is_string()) {
      return j->at("model_type").get<std::string>();
    }
  }
  // No model_type: guess the family from the class name ("LlamaForCausalLM").
  for (const nlohmann::json* j : {&config, &root}) {
    if (!j->contains("architectures") || !j->at("architectures").is_array() ||
        j->at("architectures").empty() || !j->at("architectures")[0].is_string()) {
      continue;
    }
    const std::string arch = j->at("architectures")[0].get<std::string>();
    if (arch.rfind("GPT2", 0) == 0) return "gpt2";
    if (arch.rfind("Llama", 0) == 0) return "llama";
    if (arch.rfind("Mistral", 0) == 0) return "mistral";
    if (arch.rfind("Qwen2For", 0) == 0) return "qwen2";
    return arch;
  }
  return "";
}

std::string hf_name(const nlohmann::json& root, const std::string& file) {
  const std::string stem = file_stem(file);
  if (stem != "config") return stem;
  // A Hub snapshot's file is "config.json": prefer the repo name the file records, then the folder.
  if (root.contains("_name_or_path") && root.at("_name_or_path").is_string()) {
    const std::string repo = root.at("_name_or_path").get<std::string>();
    const std::string last = std::filesystem::path(repo).filename().string();
    if (!last.empty()) return last;
  }
  const std::string folder = std::filesystem::path(file).parent_path().filename().string();
  return folder.empty() ? stem : folder;
}

ModelSpec parse_gpt2(ObjectReader& in) {
  // transformers GPT2Config: attribute_map hidden_size->n_embd, num_hidden_layers->n_layer,
  // num_attention_heads->n_head, max_position_embeddings->n_positions; n_inner None => 4*n_embd;
  // Conv1D layers all have biases; LayerNorm; wte is tied to lm_head; wpe learned positions.
  ModelSpec m;
  m.hidden_size = read_size(in, "n_embd", 768, 1, kMaxHidden);
  m.num_layers = read_size(in, "n_layer", 12, 1, kMaxLayers);
  m.num_attention_heads = read_size(in, "n_head", 12, 1, kMaxHeads);
  m.num_key_value_heads = m.num_attention_heads;
  m.head_dim = m.hidden_size / m.num_attention_heads;
  m.ffn_hidden_size = read_size(in, "n_inner", 4 * m.hidden_size, 1, kMaxFfn);
  m.vocab_size = read_size(in, "vocab_size", 50257, 1, kMaxVocab);
  m.max_position_embeddings = read_size(in, "n_positions", 1024, 1, kMaxPositions);
  m.gated_mlp = false;
  m.norm = NormKind::kLayerNorm;
  m.qkv_bias = true;
  m.linear_bias = true;
  m.tied_embeddings = in.boolean("tie_word_embeddings", true);
  m.learned_position_embeddings = true;
  m.hidden_dropout = read_dropout(in, "resid_pdrop", 0.1);
  m.attention_dropout = read_dropout(in, "attn_pdrop", 0.1);
  validate_shape(m, in, false, "n_head", "n_embd");
  return m;
}

ModelSpec parse_llama_like(ObjectReader& in, const std::string& model_type) {
  const bool known = model_type == "llama" || model_type == "mistral" || model_type == "qwen2";
  if (!known) {
    // Another family's modeling code may differ from Llama's in ways the keys do not show
    // (parallel residuals, extra norms, fused or shared projections): never guess.
    in.fail(in.has("model_type") ? "model_type" : "architectures",
            fmt::format("\"{}\" is not a family spsim reads (llama, mistral, qwen2, gpt2); write the "
                        "model in spsim's format, checking its layers against the modeling code "
                        "(see docs/model.md)",
                        model_type.empty() ? "(none)" : model_type));
  }
  // LlamaConfig / MistralConfig / Qwen2Config: num_key_value_heads None => num_attention_heads;
  // head_dim None => hidden_size // num_attention_heads; tie_word_embeddings default False.
  ModelSpec m;
  const bool head_dim_given = read_shape(in, m);
  m.max_position_embeddings = read_size(in, "max_position_embeddings", 0, 0, kMaxPositions);
  m.gated_mlp = true;  // LlamaMLP: down(act(gate(x)) * up(x)) whatever hidden_act is
  m.norm = NormKind::kRMSNorm;
  // Qwen2Attention builds q/k/v_proj with bias=True and no config key (o_proj has none).
  m.qkv_bias = model_type == "qwen2" ? true : in.boolean("attention_bias", false);
  // mlp_bias (Llama >= 3.1 configs) puts biases on gate/up/down; o_proj's bias under
  // attention_bias (h per layer) is not counted: see docs/model.md.
  m.linear_bias = in.boolean("mlp_bias", false);
  m.tied_embeddings = in.boolean("tie_word_embeddings", false);
  m.learned_position_embeddings = false;  // RoPE
  m.hidden_dropout = 0.0;                 // Llama-family decoders have no hidden dropout
  m.attention_dropout = read_dropout(in, "attention_dropout", 0.0);
  validate_shape(m, in, head_dim_given, "num_attention_heads", "hidden_size");
  return m;
}

ModelSpec parse_hf(const nlohmann::json& root, const std::string& file) {
  reject_moe(root, file, "");
  reject_unsupported(root, file, "");
  // Multimodal wrappers (Llava, Gemma-3, Mistral-3) nest the decoder under text_config.
  const nlohmann::json* config = &root;
  std::string pointer;
  if (!root.contains("hidden_size") && !root.contains("n_embd") && root.contains("text_config") &&
      root.at("text_config").is_object()) {
    config = &root.at("text_config");
    pointer = "/text_config";
    reject_moe(*config, file, pointer);
    reject_unsupported(*config, file, pointer);
  }
  ObjectReader in(*config, file, pointer);
  const std::string model_type = hf_model_type(*config, root);
  ModelSpec m = model_type == "gpt2" ? parse_gpt2(in) : parse_llama_like(in, model_type);
  m.warnings = detail::hf_unmodelled_keys(*config, file + (pointer.empty() ? "" : ": " + pointer));
  m.name = hf_name(root, file);
  m.source = fmt::format("HuggingFace config.json ({}, model_type \"{}\")", file, model_type);
  return m;
}

}  // namespace

ModelSpec parse_model(const std::string& text, const std::string& display_name) {
  const nlohmann::json json = detail::parse_json(text, display_name);
  if (json.is_object() && (json.contains("model_type") || json.contains("architectures"))) {
    return parse_hf(json, display_name);
  }
  return parse_strict(json, display_name);
}

ModelSpec load_model(const std::string& path_or_name) {
  const std::string path = detail::resolve_data_file(path_or_name, "models", "--model");
  return parse_model(detail::read_file(path), path);
}

std::vector<std::string> list_models() { return detail::list_data_files("models"); }

}  // namespace spsim
