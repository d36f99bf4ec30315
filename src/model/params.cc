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

int64_t ModelSpec::params_per_layer() const {
  const int64_t h = hidden_size;
  // Attention: Q (h x a*d_h), K and V (h x k*d_h each), output projection (a*d_h x h).
  int64_t attention = h * q_width() + 2 * h * kv_width() + q_width() * h;
  if (qkv_bias) attention += q_width() + 2 * kv_width();
  if (linear_bias) attention += h;  // output projection bias
  // MLP: SwiGLU has gate, up (h x f) and down (f x h); GeLU has fc1 and fc2.
  int64_t mlp = (gated_mlp ? 3 : 2) * h * ffn_hidden_size;
  if (linear_bias) mlp += (gated_mlp ? 2 : 1) * ffn_hidden_size + h;
  // Two norms per layer (pre-attention and pre-MLP).
  return attention + mlp + 2 * norm_params(*this);
}

int64_t ModelSpec::embedding_params() const {
  int64_t params = vocab_size * hidden_size;                         // input embedding
  if (learned_position_embeddings) params += max_position_embeddings * hidden_size;
  if (!tied_embeddings) params += vocab_size * hidden_size;          // separate LM head
  return params + norm_params(*this);                                // final norm
}

int64_t ModelSpec::total_params() const {
  return num_layers * params_per_layer() + embedding_params();
}

}  // namespace spsim
