// Launch formats, the shipped-model lookup and the scheme a set of degrees describes.
#include <fmt/format.h>

#include "spsim/error.h"
#include "spsim/launch.h"
#include "spsim/strategy.h"

namespace spsim {

namespace {

struct FormatName {
  LaunchFormat format;
  const char* name;
  const char* framework;  // spsim/framework.h profile
};
constexpr FormatName kFormats[] = {
    {LaunchFormat::kMegatron, "megatron", "megatron"},
    {LaunchFormat::kNemo, "nemo", "nemo"},
    {LaunchFormat::kDeepSpeed, "deepspeed", "deepspeed"},
    {LaunchFormat::kTorchtitan, "torchtitan", "fsdp"},
};

// Same shape: every field that sizes or times the model. max_position_embeddings only matters
// (parameters) with learned positions.
bool same_shape(const ModelSpec& a, const ModelSpec& b, bool with_positions) {
  return a.hidden_size == b.hidden_size && a.num_layers == b.num_layers &&
         a.num_attention_heads == b.num_attention_heads && a.num_key_value_heads == b.num_key_value_heads &&
         a.head_dim == b.head_dim && a.ffn_hidden_size == b.ffn_hidden_size && a.vocab_size == b.vocab_size &&
         a.make_vocab_size_divisible_by == b.make_vocab_size_divisible_by && a.gated_mlp == b.gated_mlp &&
         a.norm == b.norm && a.qkv_bias == b.qkv_bias && a.linear_bias == b.linear_bias &&
         a.tied_embeddings == b.tied_embeddings && a.learned_position_embeddings == b.learned_position_embeddings &&
         a.hidden_dropout == b.hidden_dropout && a.attention_dropout == b.attention_dropout &&
         // A window changes the attention trained: Mistral's arguments without --window-size are
         // not the windowed shipped Mistral.
         a.sliding_window == b.sliding_window && a.sliding_window_layers == b.sliding_window_layers &&
         a.qk_norm == b.qk_norm && a.sandwich_norms == b.sandwich_norms && a.moe == b.moe &&
         a.mla == b.mla &&
         // A hybrid linear-attention model is not its all-softmax twin; soft-capping is timed.
         a.linear_attention_layers == b.linear_attention_layers &&
         a.attn_logit_softcapping == b.attn_logit_softcapping &&
         a.final_logit_softcapping == b.final_logit_softcapping &&
         (!(with_positions || a.learned_position_embeddings) || a.max_position_embeddings == b.max_position_embeddings);
}

}  // namespace

LaunchFormat parse_launch_format(std::string_view name, const std::string& where) {
  std::vector<std::string> names;
  for (const auto& f : kFormats) {
    if (name == f.name) return f.format;
    names.emplace_back(f.name);
  }
  const std::string guess = closest_match(std::string(name), names);
  throw InputError(where, fmt::format("unknown framework \"{}\"{}; use megatron, nemo, deepspeed or torchtitan", name,
                                      guess.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", guess)));
}

const char* to_string(LaunchFormat format) {
  for (const auto& f : kFormats) {
    if (f.format == format) return f.name;
  }
  throw Error("unknown launch format");
}

const char* launch_framework(LaunchFormat format) {
  for (const auto& f : kFormats) {
    if (f.format == format) return f.framework;
  }
  throw Error("unknown launch format");
}

nlohmann::json to_json(const LaunchSettings& settings) {
  nlohmann::json out;
  out["format"] = to_string(settings.format);
  out["framework"] = launch_framework(settings.format);
  out["text"] = settings.text;
  out["settings"] = nlohmann::json::array();
  for (const auto& s : settings.settings) {
    out["settings"].push_back({{"list", s.list}, {"name", s.name}, {"value", s.value}});
  }
  out["notes"] = settings.notes;
  return out;
}

std::optional<ModelSpec> find_shipped_model(const ModelSpec& model) {
  std::vector<ModelSpec> shipped;
  for (const auto& name : list_models()) shipped.push_back(load_model(name));
  // An exact match first (positions included), so that Llama-3.1-8B is not read as Llama-3-8B.
  for (bool with_positions : {true, false}) {
    for (const auto& candidate : shipped) {
      if (same_shape(model, candidate, with_positions)) return candidate;
    }
  }
  return std::nullopt;
}

std::string scheme_for_degrees(int64_t t, int64_t u, int64_t r, bool sequence_parallel) {
  // The registry names a plan by its degrees (one plan, one name: dp, megatron-sp/-tp, ulysses,
  // ring, usp).
  JobConfig job;
  job.tensor_parallel = t;
  job.ulysses_degree = u;
  job.ring_degree = r;
  job.sequence_parallel = sequence_parallel;
  const std::string name = scheme_of_plan(job);
  if (name.empty()) throw Error(fmt::format("no registered scheme runs t {} u {} r {}", t, u, r));
  return name;
}

}  // namespace spsim
