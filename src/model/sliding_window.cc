// Sliding-window attention: how much of a causal attention's work a model with windowed layers
// does. FlashAttention's window_size = (w, 0) (flash_attn_func, the kernel HF's Mistral, Gemma-2/3
// and Phi-3 call, and TransformerEngine's through cuDNN) skips every tile left of the window, so
// a windowed layer's work is the band of query i over keys max(0, i - w + 1) .. i.
#include <algorithm>

#include "spsim/model.h"

namespace spsim {

namespace {

/// Scores a causal layer computes over `s` tokens when each query sees at most `w` keys,
/// in units where a full causal layer is s²/2 (the flash convention's 0.5 mask: the diagonal
/// tiles are counted at half, as the kernels' FLOP conventions count them).
double causal_band_area(double s, double w) {
  if (w <= 0 || w >= s) return 0.5 * s * s;
  return w * s - 0.5 * w * w;
}

}  // namespace

double sliding_window_attention_scale(const ModelSpec& model, int64_t seq) {
  if (model.sliding_window <= 0 || model.sliding_window_layers <= 0 || seq <= model.sliding_window) return 1.0;
  const double softmax_layers = static_cast<double>(model.num_layers - model.linear_attention_layers);
  if (softmax_layers <= 0) return 1.0;
  const double windowed = std::min(static_cast<double>(model.sliding_window_layers), softmax_layers);
  const double s = static_cast<double>(seq);
  const double band = causal_band_area(s, static_cast<double>(model.sliding_window)) / causal_band_area(s, 0);
  return (windowed * band + (softmax_layers - windowed)) / softmax_layers;
}

}  // namespace spsim
