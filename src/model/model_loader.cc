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
#include "model/check_costed.h"
#include "model/hf_keys.h"

namespace spsim {

namespace {

using detail::ObjectReader;

// Every key of the strict format, in documentation order (docs/model.md).
constexpr std::array<const char*, 39> kStrictKeys = {
    "name", "source", "hidden_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "head_dim", "intermediate_size", "vocab_size",
    "make_vocab_size_divisible_by", "max_position_embeddings", "mlp", "norm", "qkv_bias",
    "linear_bias", "tie_word_embeddings", "learned_position_embeddings", "hidden_dropout",
    "attention_dropout", "qk_norm", "sandwich_norms", "attn_logit_softcapping",
    "final_logit_softcapping", "num_experts", "num_experts_per_tok", "moe_intermediate_size",
    "shared_expert_intermediate_size", "shared_expert_gate", "router_bias",
    "first_k_dense_replace", "moe_layer_freq", "q_lora_rank", "kv_lora_rank", "qk_nope_head_dim",
    "qk_rope_head_dim", "v_head_dim", "attention_pattern", "sliding_window", "sliding_window_layers"};

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

/// MLA ranks and head dims (DeepSeek-V2/V3 names, the same in spsim's format). q_lora_rank
/// absent or null: Q is projected directly (DeepSeek-V2-Lite). head_dim becomes the Q/K head
/// width (nope + rope); K/V are up-projected to every head, so KV heads = heads.
void read_mla(ObjectReader& in, ModelSpec& m) {
  m.mla.q_lora_rank = read_size(in, "q_lora_rank", 0, 0, kMaxHidden);
  m.mla.kv_lora_rank = read_size(in, "kv_lora_rank", std::nullopt, 1, kMaxHidden);
  m.mla.qk_nope_head_dim = read_size(in, "qk_nope_head_dim", std::nullopt, 1, kMaxHeadDim);
  m.mla.qk_rope_head_dim = read_size(in, "qk_rope_head_dim", std::nullopt, 1, kMaxHeadDim);
  m.mla.v_head_dim = read_size(in, "v_head_dim", std::nullopt, 1, kMaxHeadDim);
  m.head_dim = m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim;
  m.num_key_value_heads = m.num_attention_heads;
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

  m.qk_norm = in.boolean("qk_norm", false);
  m.sandwich_norms = in.boolean("sandwich_norms", false);
  m.attn_logit_softcapping = in.number("attn_logit_softcapping", 0.0, 0, 1e6);
  m.final_logit_softcapping = in.number("final_logit_softcapping", 0.0, 0, 1e6);
  if (in.has("num_experts")) {
    // Strict MoE layers: every moe_layer_freq-th layer after the first_k_dense_replace dense ones,
    // counted as Qwen's decoder_sparse_step and Llama-4's interleave_moe_layer_step count it.
    m.moe.num_experts = read_size(in, "num_experts", std::nullopt, 2, kMaxExperts);
    m.moe.experts_per_token = read_size(in, "num_experts_per_tok", std::nullopt, 1, m.moe.num_experts);
    m.moe.expert_ffn_size = read_size(in, "moe_intermediate_size", std::nullopt, 1, kMaxFfn);
    m.moe.shared_ffn_size = read_size(in, "shared_expert_intermediate_size", 0, 0, kMaxFfn);
    m.moe.shared_expert_gate = in.boolean("shared_expert_gate", false);
    m.moe.router_bias = in.boolean("router_bias", false);
    m.moe.first_dense_layers = read_size(in, "first_k_dense_replace", 0, 0, m.num_layers - 1);
    m.moe.layer_every = read_size(in, "moe_layer_freq", 1, 1, m.num_layers);
    m.moe.layer_phase = m.moe.layer_every - 1;
  }
  if (in.has("kv_lora_rank")) read_mla(in, m);
  validate_shape(m, in, head_dim_given, "num_attention_heads", "hidden_size");
  // Linear-attention and hybrid models (src/model/attention_pattern.cc).
  if (in.has("attention_pattern")) {
    set_attention_pattern(m, in.string("attention_pattern"), file + ":" + in.pointer("attention_pattern"));
  }
  if (in.has("sliding_window")) {
    if (m.linear_attention_layers > 0) {
      in.fail("sliding_window", "windows on a model with linear-attention layers are not modelled; drop one of "
                                "sliding_window and attention_pattern");
    }
    m.sliding_window = read_size(in, "sliding_window", std::nullopt, 1, kMaxPositions);
    m.sliding_window_layers = read_size(in, "sliding_window_layers", m.num_layers, 0, m.num_layers);
  } else if (in.has("sliding_window_layers")) {
    in.fail("sliding_window_layers", "needs sliding_window (the keys a windowed layer attends to)");
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

// Families whose modeling code spsim reads (model_type as HF writes it), and what each adds.
struct Family {
  const char* model_type;
  bool moe;   // reads its experts
  bool mla;   // reads q/kv LoRA ranks
  bool gemma; // sandwich norms, GeGLU, tied by default, alternating sliding-window layers
};
constexpr std::array<Family, 15> kFamilies = {{
    {"llama", false, false, false},      {"mistral", false, false, false},
    {"qwen2", false, false, false},      {"qwen3", false, false, false},
    {"phi3", false, false, false},       {"gemma2", false, false, true},
    {"gemma3_text", false, false, true}, {"mixtral", true, false, false},
    {"qwen2_moe", true, false, false},   {"qwen3_moe", true, false, false},
    {"deepseek_v2", true, true, false},  {"deepseek_v3", true, true, false},
    {"llama4_text", true, false, false}, {"gpt2", false, false, false},
    // A Gemma-3 multimodal wrapper whose text_config has no model_type of its own.
    {"gemma3", false, false, true},
}};

const Family* find_family(const std::string& model_type) {
  for (const Family& f : kFamilies) {
    if (model_type == f.model_type) return &f;
  }
  return nullptr;
}

std::string family_names() {
  std::string out;
  for (const Family& f : kFamilies) {
    if (std::string(f.model_type) == "gemma3") continue;  // listed as gemma3_text
    out += (out.empty() ? "" : ", ") + std::string(f.model_type);
  }
  return out;
}

void reject_moe(const nlohmann::json& config, const std::string& file, const std::string& pointer,
                const std::string& model_type) {
  for (const char* key : kMoeKeys) {
    if (!config.contains(key)) continue;
    const auto& value = config.at(key);
    // num_experts: 0/1/null appears in some dense configs; only more than one expert is MoE.
    if (value.is_null() || (value.is_number() && value.get<double>() <= 1)) continue;
    throw InputError(file, fmt::format("{}/{}: experts in a \"{}\" config are not read (got {} "
                                       "experts); spsim reads MoE from mixtral, qwen2_moe, "
                                       "qwen3_moe, deepseek_v2, deepseek_v3 and llama4_text configs",
                                       pointer, key, model_type.empty() ? "(no model_type)" : model_type,
                                       value.dump()));
  }
}

// Attention and layer kinds spsim does not read for `family`, which a Llama reading would get
// wrong: multi-head latent attention outside DeepSeek (MiniCPM3: Q/KV low-rank projections),
// Gemma's sliding_window_pattern outside Gemma (layer_types says the same in any family),
// linear-attention layers, and Gemma's MLP outside the Gemma families.
void reject_unsupported(const nlohmann::json& config, const std::string& file, const std::string& pointer,
                        const Family* family) {
  auto refuse = [&](const char* key, const std::string& what) {
    throw InputError(file, fmt::format("{}/{}: {}: not modelled by spsim; write the model in spsim's "
                                       "format (see docs/model.md) or use a Llama-like dense model",
                                       pointer, key, what));
  };
  auto present = [&](const char* key) { return config.contains(key) && !config.at(key).is_null(); };
  const bool mla = family != nullptr && family->mla;
  const bool gemma = family != nullptr && family->gemma;
  for (const char* key : {"q_lora_rank", "kv_lora_rank"}) {
    if (present(key) && !mla) refuse(key, "multi-head latent attention (MLA)");
  }
  if (present("sliding_window_pattern") && !gemma) {
    refuse("sliding_window_pattern", "alternating sliding-window attention");
  }
  if (present("layer_types")) {
    const auto& types = config.at("layer_types");
    const bool known = types.is_array() && std::all_of(types.begin(), types.end(), [&](const nlohmann::json& t) {
                         if (!t.is_string()) return false;
                         const std::string kind = t.get<std::string>();
                         return kind == "full_attention" || kind == "sliding_attention";
                       });
    if (!known) refuse("layer_types", "a mix of layer kinds (sliding-window or linear attention)");
  }
  if (present("hidden_activation") && !gemma) refuse("hidden_activation", "Gemma's MLP and default-tied embeddings");
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
  // LlamaConfig / MistralConfig / Qwen2Config / Qwen3Config / Phi3Config: num_key_value_heads
  // None => num_attention_heads; head_dim None => hidden_size // num_attention_heads;
  // tie_word_embeddings default False. Phi3 fuses qkv_proj and gate_up_proj: the same matrices.
  ModelSpec m;
  const bool head_dim_given = read_shape(in, m);
  m.max_position_embeddings = read_size(in, "max_position_embeddings", 0, 0, kMaxPositions);
  m.gated_mlp = true;  // LlamaMLP: down(act(gate(x)) * up(x)) whatever hidden_act is
  m.norm = NormKind::kRMSNorm;
  // Qwen2Attention builds q/k/v_proj with bias=True and no config key (o_proj has none).
  m.qkv_bias = model_type == "qwen2" || model_type == "qwen2_moe" ? true : in.boolean("attention_bias", false);
  // mlp_bias (Llama >= 3.1 configs) puts biases on gate/up/down; o_proj's bias under
  // attention_bias (h per layer) is not counted: see docs/model.md.
  m.linear_bias = in.boolean("mlp_bias", false);
  m.tied_embeddings = in.boolean("tie_word_embeddings", false);
  m.learned_position_embeddings = false;  // RoPE
  m.hidden_dropout = 0.0;                 // Llama-family decoders have no hidden dropout
  m.attention_dropout = read_dropout(in, "attention_dropout", 0.0);
  // Qwen3Attention / Qwen3MoeAttention: q_norm and k_norm, RMSNorm(head_dim), no config key.
  m.qk_norm = model_type == "qwen3" || model_type == "qwen3_moe";
  validate_shape(m, in, head_dim_given, "num_attention_heads", "hidden_size");
  return m;
}

// Gemma2Config / Gemma3TextConfig. Their defaults fill what Gemma-3's multimodal text_config leaves
// out (gemma-3-4b's omits heads and head_dim): vocab 256000 (Gemma-2) or 262208 (Gemma-3), hidden
// 2304, intermediate 9216, 26 layers, 8 heads, 4 KV heads, head_dim 256, tied embeddings.
// Gemma2DecoderLayer/Gemma3DecoderLayer: input, post-attention, pre- and post-feedforward RMSNorms;
// GemmaMLP is gated (gelu_pytorch_tanh on the gate, costed as SwiGLU's elementwise work);
// Gemma3Attention adds q_norm/k_norm (RMSNorm(head_dim)). Soft-capping: Gemma-2 defaults
// attention 50.0 and final 30.0, Gemma-3 none; null turns either off.
ModelSpec parse_gemma(ObjectReader& in, bool gemma3) {
  ModelSpec m;
  m.hidden_size = read_size(in, "hidden_size", 2304, 1, kMaxHidden);
  m.num_layers = read_size(in, "num_hidden_layers", 26, 1, kMaxLayers);
  m.num_attention_heads = read_size(in, "num_attention_heads", 8, 1, kMaxHeads);
  m.num_key_value_heads = read_size(in, "num_key_value_heads", 4, 1, kMaxHeads);
  m.head_dim = read_size(in, "head_dim", 256, 1, kMaxHeadDim);
  m.ffn_hidden_size = read_size(in, "intermediate_size", 9216, 1, kMaxFfn);
  m.vocab_size = read_size(in, "vocab_size", gemma3 ? 262208 : 256000, 1, kMaxVocab);
  m.max_position_embeddings = read_size(in, "max_position_embeddings", 0, 0, kMaxPositions);
  m.gated_mlp = true;
  m.norm = NormKind::kRMSNorm;
  m.qkv_bias = in.boolean("attention_bias", false);
  m.tied_embeddings = in.boolean("tie_word_embeddings", true);
  m.attention_dropout = read_dropout(in, "attention_dropout", 0.0);
  m.sandwich_norms = true;
  m.qk_norm = gemma3;
  auto cap = [&](const char* key, double gemma2_default) {
    const std::vector<std::string> keys = in.keys();
    const bool written = std::find(keys.begin(), keys.end(), key) != keys.end();
    if (in.has(key)) return in.number(key, std::nullopt, 0, 1e6);
    in.ignore(key);
    return written || gemma3 ? 0.0 : gemma2_default;  // null: off; absent: the config class default
  };
  m.attn_logit_softcapping = cap("attn_logit_softcapping", 50.0);
  m.final_logit_softcapping = cap("final_logit_softcapping", 30.0);
  validate_shape(m, in, true, "num_attention_heads", "hidden_size");
  return m;
}

// MixtralConfig: intermediate_size is each expert's; every layer is MoE (router h x E, no bias).
// Qwen2MoeConfig / Qwen3MoeConfig: moe_intermediate_size per expert, intermediate_size for the
// dense layers; layer i is MoE when (i + 1) % decoder_sparse_step == 0 and i is not in
// mlp_only_layers; Qwen2-MoE adds one shared expert (shared_expert_intermediate_size) with a
// sigmoid gate (h x 1). Llama4TextConfig: intermediate_size per expert and for the one shared
// expert, intermediate_size_mlp for dense layers, MoE layers every interleave_moe_layer_step-th.
ModelSpec parse_moe_llama_like(ObjectReader& in, const std::string& model_type) {
  ModelSpec m = parse_llama_like(in, model_type);
  auto& moe = m.moe;
  if (model_type == "mixtral") {
    moe.num_experts = read_size(in, "num_local_experts", 8, 2, kMaxExperts);
    moe.expert_ffn_size = m.ffn_hidden_size;
  } else if (model_type == "llama4_text") {
    moe.num_experts = read_size(in, "num_local_experts", 16, 2, kMaxExperts);
    moe.expert_ffn_size = m.ffn_hidden_size;
    moe.shared_ffn_size = m.ffn_hidden_size;  // Llama4TextMoe.shared_expert = Llama4TextMLP(config)
    m.ffn_hidden_size = read_size(in, "intermediate_size_mlp", 16384, 1, kMaxFfn);
    moe.layer_every = read_size(in, "interleave_moe_layer_step", 1, 1, m.num_layers);
    moe.layer_phase = moe.layer_every - 1;
    if (in.has("moe_layers")) {
      // Llama4TextConfig: moe_layers default range(step - 1, L, step); only that pattern is read.
      std::vector<int64_t> expected;
      for (int64_t i = moe.layer_every - 1; i < m.num_layers; i += moe.layer_every) expected.push_back(i);
      const auto& given = in.raw("moe_layers");
      if (!given.is_array() || given != nlohmann::json(expected)) {
        in.fail("moe_layers", "only every interleave_moe_layer_step-th layer is read as MoE; drop "
                              "moe_layers or write the model in spsim's format");
      }
    }
  } else {  // qwen2_moe, qwen3_moe
    moe.num_experts = read_size(in, "num_experts", std::nullopt, 2, kMaxExperts);
    moe.expert_ffn_size = read_size(in, "moe_intermediate_size", std::nullopt, 1, kMaxFfn);
    moe.layer_every = read_size(in, "decoder_sparse_step", 1, 1, m.num_layers);
    moe.layer_phase = moe.layer_every - 1;
    if (model_type == "qwen2_moe") {
      moe.shared_ffn_size = read_size(in, "shared_expert_intermediate_size", std::nullopt, 0, kMaxFfn);
      moe.shared_expert_gate = moe.shared_ffn_size > 0;
    }
    if (in.has("mlp_only_layers")) {
      const auto& dense = in.raw("mlp_only_layers");
      if (!dense.is_array() || !dense.empty()) {
        in.fail("mlp_only_layers", "dense layers at chosen positions are not read (got " + dense.dump() +
                                       "); write the model in spsim's format with first_k_dense_replace");
      }
    }
  }
  moe.experts_per_token =
      read_size(in, "num_experts_per_tok", model_type == "llama4_text" ? 1 : 2, 1, moe.num_experts);
  return m;
}

// DeepseekV2Config / DeepseekV3Config: MLA (read_mla), intermediate_size for the first
// first_k_dense_replace dense layers, then layer i is MoE when i % moe_layer_freq == 0 with
// n_routed_experts of moe_intermediate_size and n_shared_experts shared ones of the same size
// (DeepseekV2MoE.shared_experts: one MLP of n_shared x moe_intermediate_size). V3's router
// (topk_method "noaux_tc") carries e_score_correction_bias (E per layer).
ModelSpec parse_deepseek(ObjectReader& in, const std::string& model_type) {
  ModelSpec m;
  m.hidden_size = read_size(in, "hidden_size", std::nullopt, 1, kMaxHidden);
  m.num_layers = read_size(in, "num_hidden_layers", std::nullopt, 1, kMaxLayers);
  m.num_attention_heads = read_size(in, "num_attention_heads", std::nullopt, 1, kMaxHeads);
  in.ignore("num_key_value_heads");  // MLA: K/V are up-projected to every head
  in.ignore("head_dim");
  m.ffn_hidden_size = read_size(in, "intermediate_size", std::nullopt, 1, kMaxFfn);
  m.vocab_size = read_size(in, "vocab_size", std::nullopt, 1, kMaxVocab);
  m.max_position_embeddings = read_size(in, "max_position_embeddings", 0, 0, kMaxPositions);
  m.gated_mlp = true;
  m.norm = NormKind::kRMSNorm;
  if (in.boolean("attention_bias", false)) {
    in.fail("attention_bias", "MLA projections with biases are not read; set it to false");
  }
  m.tied_embeddings = in.boolean("tie_word_embeddings", false);
  m.attention_dropout = read_dropout(in, "attention_dropout", 0.0);
  read_mla(in, m);
  auto& moe = m.moe;
  moe.num_experts = read_size(in, "n_routed_experts", std::nullopt, 2, kMaxExperts);
  moe.experts_per_token = read_size(in, "num_experts_per_tok", std::nullopt, 1, moe.num_experts);
  moe.expert_ffn_size = read_size(in, "moe_intermediate_size", std::nullopt, 1, kMaxFfn);
  moe.shared_ffn_size = read_size(in, "n_shared_experts", 0, 0, kMaxExperts) * moe.expert_ffn_size;
  moe.first_dense_layers = read_size(in, "first_k_dense_replace", 0, 0, m.num_layers);
  moe.layer_every = read_size(in, "moe_layer_freq", 1, 1, m.num_layers);
  moe.layer_phase = 0;
  moe.router_bias = model_type == "deepseek_v3" || (in.has("topk_method") && in.string("topk_method") == "noaux_tc");
  validate_shape(m, in, true, "num_attention_heads", "hidden_size");
  return m;
}

/// Sliding-window attention of a HF config: the window (sliding_window; null, absent or
/// use_sliding_window false: none; Qwen2/Qwen3 window only when use_sliding_window is true, their
/// default false) and how many layers use it, as each family's modeling code decides: layer_types
/// when given ("sliding_attention" entries); Gemma-2 every even layer (Gemma2DecoderLayer:
/// is_sliding = not bool(layer_idx % 2)); Gemma-3 all but every sliding_window_pattern-th (default
/// 6: is_sliding = bool((layer_idx + 1) % pattern)); Qwen2/Qwen3 (and their MoE) the layers from
/// max_window_layers on (default 28); Mistral, Mixtral and Phi-3 every layer; the other families'
/// attention takes no window (a warning says the key is ignored).
void read_sliding_window(const nlohmann::json& config, const std::string& model_type, const std::string& file,
                         const std::string& pointer, ModelSpec& m) {
  auto present = [&](const char* key) { return config.contains(key) && !config.at(key).is_null(); };
  if (!present("sliding_window")) return;
  const bool qwen = model_type == "qwen2" || model_type == "qwen3" || model_type == "qwen2_moe" ||
                    model_type == "qwen3_moe";
  const bool flag = present("use_sliding_window") && config.at("use_sliding_window").is_boolean();
  if (flag ? !config.at("use_sliding_window").get<bool>() : qwen) return;
  auto whole = [&](const char* key, int64_t min, int64_t max) {
    const auto& v = config.at(key);
    if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > max) {
      throw InputError(file, fmt::format("{}/{}: expected a whole number from {} to {} (got {})", pointer, key, min,
                                         max, v.dump()));
    }
    return v.get<int64_t>();
  };
  auto positive = [&](const char* key, int64_t max) { return whole(key, 1, max); };
  // Families whose attention takes no window whatever the config says (LlamaAttention, GPT-2,
  // DeepSeek, Llama-4 pass none): the key is ignored by the modeling code, and said so.
  const bool every_layer = model_type == "mistral" || model_type == "phi3" || model_type == "mixtral";
  const bool gemma = model_type == "gemma2" || model_type == "gemma3" || model_type == "gemma3_text";
  if (!every_layer && !gemma && !qwen && !present("layer_types")) {
    m.warnings.push_back(fmt::format("{}{}: sliding_window {} is ignored: the \"{}\" modeling code passes no "
                                     "window to its attention, so spsim costs full causal attention as it runs",
                                     file, pointer.empty() ? "" : ": " + pointer, config.at("sliding_window").dump(),
                                     model_type));
    return;
  }
  m.sliding_window = positive("sliding_window", kMaxPositions);
  const int64_t layers = m.num_layers;
  if (present("layer_types") && config.at("layer_types").is_array()) {
    const auto& types = config.at("layer_types");
    if (static_cast<int64_t>(types.size()) != layers) {
      throw InputError(file, fmt::format("{}/layer_types: {} entries for {} layers; give one per layer", pointer,
                                         types.size(), layers));
    }
    m.sliding_window_layers = std::count(types.begin(), types.end(), nlohmann::json("sliding_attention"));
  } else if (model_type == "gemma2") {
    m.sliding_window_layers = (layers + 1) / 2;
  } else if (model_type == "gemma3" || model_type == "gemma3_text") {
    const int64_t pattern = present("sliding_window_pattern") ? positive("sliding_window_pattern", kMaxLayers) : 6;
    m.sliding_window_layers = layers - layers / pattern;
  } else if (qwen) {
    const int64_t first = present("max_window_layers") ? whole("max_window_layers", 0, kMaxLayers) : 28;
    m.sliding_window_layers = std::max<int64_t>(0, layers - first);
  } else {
    m.sliding_window_layers = layers;
  }
}

/// Warnings for what a family's file says that spsim does not model (beyond hf_unmodelled_keys).
void family_warnings(const nlohmann::json& config, const std::string& where, ModelSpec& m) {
  auto set = [&](const char* key) {
    return config.contains(key) && config.at(key).is_number() && config.at(key).get<double>() > 0;
  };
  if (set("num_nextn_predict_layers")) {
    m.warnings.push_back(fmt::format("{}: num_nextn_predict_layers {} (multi-token prediction) is not "
                                     "modelled: its extra layer's time, memory and parameters are left out "
                                     "(HF's model and parameter count leave it out too)",
                                     where, config.at("num_nextn_predict_layers").dump()));
  }
  if (set("attention_chunk_size")) {
    m.warnings.push_back(fmt::format("{}: attention_chunk_size {} (chunked local attention on most "
                                     "layers) is not modelled: every layer is costed as full causal "
                                     "attention over the whole sequence",
                                     where, config.at("attention_chunk_size").dump()));
  }
}

ModelSpec parse_hf(const nlohmann::json& root, const std::string& file) {
  // Multimodal wrappers (Llava, Gemma-3, Mistral-3, Llama-4) nest the decoder under text_config.
  const nlohmann::json* config = &root;
  std::string pointer;
  if (!root.contains("hidden_size") && !root.contains("n_embd") && root.contains("text_config") &&
      root.at("text_config").is_object()) {
    config = &root.at("text_config");
    pointer = "/text_config";
  }
  const std::string model_type = hf_model_type(*config, root);
  const Family* family = find_family(model_type);
  if (family == nullptr || !family->moe) {
    reject_moe(root, file, "", model_type);
    if (config != &root) reject_moe(*config, file, pointer, model_type);
  }
  reject_unsupported(root, file, "", family);
  if (config != &root) reject_unsupported(*config, file, pointer, family);
  ObjectReader in(*config, file, pointer);
  if (family == nullptr) {
    // Another family's modeling code may differ from Llama's in ways the keys do not show
    // (parallel residuals, extra norms, fused or shared projections): never guess.
    in.fail(in.has("model_type") ? "model_type" : "architectures",
            fmt::format("\"{}\" is not a family spsim reads ({}); write the model in spsim's format, "
                        "checking its layers against the modeling code (see docs/model.md)",
                        model_type.empty() ? "(none)" : model_type, family_names()));
  }
  ModelSpec m;
  if (model_type == "gpt2") {
    m = parse_gpt2(in);
  } else if (family->gemma) {
    m = parse_gemma(in, model_type != "gemma2");
  } else if (family->mla) {
    m = parse_deepseek(in, model_type);
  } else if (family->moe) {
    m = parse_moe_llama_like(in, model_type);
  } else {
    m = parse_llama_like(in, model_type);
  }
  const std::string where = file + (pointer.empty() ? "" : ": " + pointer);
  m.warnings = detail::hf_unmodelled_keys(*config, where, family->gemma);
  read_sliding_window(*config, model_type, file, pointer, m);
  family_warnings(*config, where, m);
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

void check_costed(const ModelSpec& model, const std::string& where) {
  // Costed mixture-of-experts: every layer MoE, routed experts only (layer_ops.cc).
  const bool moe_costed = model.moe.first_dense_layers == 0 && model.moe.layer_every == 1 &&
                          model.moe.shared_ffn_size == 0 && !model.moe.shared_expert_gate && !model.moe.router_bias;
  if (!model.is_mla() && (!model.is_moe() || moe_costed)) return;
  const char* what = model.is_moe() && model.is_mla() ? "mixture-of-experts layers and multi-head latent attention"
                     : model.is_moe()                 ? "mixture-of-experts layers with dense layers, shared experts or "
                                                        "a router bias"
                                                      : "multi-head latent attention";
  throw InputError(where, fmt::format("model \"{}\" has {}: spsim reads its shape and parameters ({:.1f}B "
                                      "total, spsim list models) but does not cost these layers yet; use "
                                      "a dense model or one whose every layer routes to experts alone "
                                      "(mixtral-8x7b, qwen3-30b-a3b)",
                                      model.name, what, static_cast<double>(model.total_params()) / 1e9));
}

std::vector<std::string> list_models() { return detail::list_data_files("models"); }

}  // namespace spsim
