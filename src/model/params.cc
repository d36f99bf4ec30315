// Parameter counts of a ModelSpec, in the HuggingFace convention (raw vocab_size, what
// `sum(p.numel() for p in model.parameters())` reports for the checkpoint), and Megatron's
// vocabulary padding.
#include "spsim/error.h"
#include "spsim/model.h"

namespace spsim {

namespace {

int64_t norm_params(const ModelSpec& model) {
  // LayerNorm has a weight and a bias; RMSNorm only a weight.
  return model.norm == NormKind::kLayerNorm ? 2 * model.hidden_size : model.hidden_size;
}

}  // namespace

int64_t ModelSpec::padded_vocab(int64_t tensor_parallel) const {
  // Megatron-LM _vocab_size_with_padding: multiple = make_vocab_size_divisible_by * TP;
  // while V % multiple != 0: V += 1, i.e. ceil(V / multiple) * multiple.
  if (tensor_parallel < 1) throw Error("padded_vocab: tensor_parallel must be >= 1");
  const int64_t multiple = (make_vocab_size_divisible_by < 1 ? 1 : make_vocab_size_divisible_by) *
                           tensor_parallel;
  return (vocab_size + multiple - 1) / multiple * multiple;
}

bool ModelSpec::is_moe_layer(int64_t layer) const {
  if (!is_moe() || layer < moe.first_dense_layers) return false;
  const int64_t every = moe.layer_every < 1 ? 1 : moe.layer_every;
  return layer % every == moe.layer_phase;
}

int64_t ModelSpec::num_moe_layers() const {
  int64_t n = 0;
  for (int64_t i = 0; i < num_layers; ++i) n += is_moe_layer(i) ? 1 : 0;
  return n;
}

int64_t ModelSpec::attention_params() const {
  const int64_t h = hidden_size;
  if (is_mla()) {
    // DeepseekV2/V3Attention: q_a_proj (h x q_lora) + q_a_layernorm + q_b_proj (q_lora x
    // a*(nope+rope)), or q_proj (h x a*(nope+rope)) without q_lora; kv_a_proj_with_mqa
    // (h x (kv_lora+rope)) + kv_a_layernorm; kv_b_proj (kv_lora x a*(nope+v)); o_proj (a*v x h).
    const int64_t a = num_attention_heads;
    const int64_t qk_head = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
    const int64_t q = mla.q_lora_rank > 0 ? h * mla.q_lora_rank + mla.q_lora_rank + mla.q_lora_rank * a * qk_head
                                          : h * a * qk_head;
    const int64_t kv = h * (mla.kv_lora_rank + mla.qk_rope_head_dim) + mla.kv_lora_rank +
                       mla.kv_lora_rank * a * (mla.qk_nope_head_dim + mla.v_head_dim);
    return q + kv + a * mla.v_head_dim * h;
  }
  // Q (h x a*d_h), K and V (h x k*d_h each), output projection (a*d_h x h).
  int64_t attention = h * q_width() + 2 * h * kv_width() + q_width() * h;
  if (qkv_bias) attention += q_width() + 2 * kv_width();
  if (linear_bias) attention += h;         // output projection bias
  if (qk_norm) attention += 2 * head_dim;  // q_norm and k_norm: one d_h weight each, shared by heads
  return attention;
}

static int64_t dense_mlp_params(const ModelSpec& m) {
  // MLP: SwiGLU has gate, up (h x f) and down (f x h); GeLU has fc1 and fc2.
  int64_t mlp = (m.gated_mlp ? 3 : 2) * m.hidden_size * m.ffn_hidden_size;
  if (m.linear_bias) mlp += (m.gated_mlp ? 2 : 1) * m.ffn_hidden_size + m.hidden_size;
  return mlp;
}

int64_t ModelSpec::params_per_layer() const {
  // Two norms per layer (pre-attention and pre-MLP); Gemma's sandwich adds two more.
  return attention_params() + dense_mlp_params(*this) + (sandwich_norms ? 4 : 2) * norm_params(*this);
}

int64_t ModelSpec::moe_mlp_params(bool active_only) const {
  const int64_t h = hidden_size;
  const int64_t matrices = gated_mlp ? 3 : 2;  // every MoE family's experts are SwiGLU
  const int64_t routed = active_only ? moe.experts_per_token : moe.num_experts;
  int64_t params = h * moe.num_experts;       // router (h x E, no bias)
  if (moe.router_bias) params += moe.num_experts;
  params += routed * matrices * h * moe.expert_ffn_size;
  params += matrices * h * moe.shared_ffn_size;
  if (moe.shared_expert_gate) params += h;
  return params;
}

int64_t ModelSpec::layer_params(int64_t layer, bool active_only) const {
  if (!is_moe_layer(layer)) return params_per_layer();
  return params_per_layer() - dense_mlp_params(*this) + moe_mlp_params(active_only);
}

int64_t ModelSpec::embedding_params() const {
  int64_t params = vocab_size * hidden_size;                         // input embedding
  if (learned_position_embeddings) params += max_position_embeddings * hidden_size;
  if (!tied_embeddings) params += vocab_size * hidden_size;          // separate LM head
  return params + norm_params(*this);                                // final norm
}

int64_t ModelSpec::total_params() const {
  if (!is_moe()) return num_layers * params_per_layer() + embedding_params();
  int64_t params = embedding_params();
  for (int64_t i = 0; i < num_layers; ++i) params += layer_params(i);
  return params;
}

int64_t ModelSpec::active_params() const {
  if (!is_moe()) return total_params();
  int64_t params = embedding_params();
  for (int64_t i = 0; i < num_layers; ++i) params += layer_params(i, true);
  return params;
}

}  // namespace spsim
