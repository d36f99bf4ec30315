// Model: the shape of a decoder-only Transformer, and the cost of every op of one layer.
// Loaded from spsim's own strict JSON (models/*.json) or a HuggingFace config.json as-is.
#ifndef SPSIM_MODEL_H_
#define SPSIM_MODEL_H_

#include <cstdint>
#include <string>
#include <vector>

namespace spsim {

enum class NormKind { kLayerNorm, kRMSNorm };

/// Mixture-of-experts MLPs (Mixtral, Qwen2/3-MoE, DeepSeek-V2/V3, Llama-4). num_experts 0: dense.
/// Which layers are MoE: layer i (0-based) is when i >= first_dense_layers and
/// i % layer_every == layer_phase (DeepSeek: phase 0; Qwen decoder_sparse_step and Llama-4
/// interleave_moe_layer_step: phase every-1); the others have the dense MLP (ffn_hidden_size).
struct MoeSpec {
  int64_t num_experts = 0;              // routed experts E
  int64_t experts_per_token = 0;        // top-k
  int64_t expert_ffn_size = 0;          // one routed expert's intermediate size
  int64_t shared_ffn_size = 0;          // all shared experts together (DeepSeek n_shared x moe size)
  bool shared_expert_gate = false;      // Qwen2-MoE: sigmoid gate h -> 1 on the shared expert
  bool router_bias = false;             // DeepSeek-V3 e_score_correction_bias (E per layer)
  int64_t first_dense_layers = 0;       // DeepSeek first_k_dense_replace
  int64_t layer_every = 1;
  int64_t layer_phase = 0;
  bool operator==(const MoeSpec&) const = default;
};

/// Multi-head latent attention (DeepSeek-V2/V3, MiniCPM3). kv_lora_rank 0: not MLA.
struct MlaSpec {
  int64_t q_lora_rank = 0;       // 0: Q projected directly (DeepSeek-V2-Lite)
  int64_t kv_lora_rank = 0;      // compressed KV width (the latent a CP ring could send)
  int64_t qk_nope_head_dim = 0;  // per-head Q/K width without position
  int64_t qk_rope_head_dim = 0;  // decoupled RoPE width, K's part shared by all heads
  int64_t v_head_dim = 0;
  bool operator==(const MlaSpec&) const = default;
};

/// Architecture of a decoder-only Transformer. Field names follow HuggingFace.
struct ModelSpec {
  std::string name;    // "Llama-3-8B"
  std::string source;  // where the shape comes from (paper, Hub repo)
  int64_t hidden_size = 0;               // h
  int64_t num_layers = 0;                // L
  int64_t num_attention_heads = 0;       // a
  int64_t num_key_value_heads = 0;       // k (GQA); == a for MHA
  int64_t head_dim = 0;                  // d_h; may differ from h/a when given
  int64_t ffn_hidden_size = 0;           // f (intermediate_size)
  int64_t vocab_size = 0;                // V as published
  int64_t make_vocab_size_divisible_by = 1;  // Megatron pads V to a multiple of this x TP (128)
  int64_t max_position_embeddings = 0;   // informational; a warning when exceeded
  bool gated_mlp = true;                 // SwiGLU (3 matrices) vs GeLU MLP (2 matrices)
  NormKind norm = NormKind::kRMSNorm;    // LayerNorm has a bias (2h params), RMSNorm h
  bool qkv_bias = false;                 // Qwen2 adds it with no config key
  bool linear_bias = false;              // biases on output projection and MLP (GPT-2)
  bool tied_embeddings = false;          // LM head shares the input embedding
  bool learned_position_embeddings = false;  // GPT-2 wpe (n_positions x h)
  double hidden_dropout = 0.0;           // >0 stores 1-byte dropout masks (Megatron GPT)
  double attention_dropout = 0.0;
  // Pieces of newer dense families; all off for Llama/GPT (their costs are unchanged).
  bool qk_norm = false;                  // per-head RMSNorm on Q and K (Qwen3, Gemma-3): 2·d_h weights
  bool sandwich_norms = false;           // Gemma-2/3: also norms after attention and around the MLP
  double attn_logit_softcapping = 0;     // Gemma-2: cap·tanh(score/cap) on attention scores; 0: none
  double final_logit_softcapping = 0;    // Gemma-2: the same on the LM-head logits; 0: none
  MoeSpec moe;
  MlaSpec mla;
  /// Layers whose token mixer is linear attention (kernelized, right-product first, as LASP
  /// trains it: Sun et al. arXiv 2404.02882); the others are softmax attention. 0: all softmax.
  /// models/*.json "attention_pattern": "softmax", "linear" or "hybrid:N" (one softmax layer in N).
  int64_t linear_attention_layers = 0;
  /// Sliding-window attention (Mistral, Gemma-2/3, Phi-3; HF sliding_window): a query of a
  /// windowed layer attends to at most `sliding_window` keys, the latest ones; 0: none. The
  /// windowed layers are `sliding_window_layers` of the num_layers (Gemma-2 every other one,
  /// Gemma-3 five in six); the rest attend to the whole causal prefix.
  int64_t sliding_window = 0;
  int64_t sliding_window_layers = 0;
  /// What the file says that changes a step's cost but spsim does not model (HF sliding_window,
  /// logit soft-capping), one sentence each; commands print them as warnings.
  std::vector<std::string> warnings;

  int64_t q_width() const { return num_attention_heads * head_dim; }   // a*d_h
  int64_t kv_width() const { return num_key_value_heads * head_dim; }  // k*d_h = h_kv
  bool is_moe() const { return moe.num_experts > 0; }
  bool is_mla() const { return mla.kv_lora_rank > 0; }
  bool is_moe_layer(int64_t layer) const;   // layer is 0-based
  int64_t num_moe_layers() const;
  int64_t padded_vocab(int64_t tensor_parallel) const;
  int64_t attention_params() const;   // one layer's attention (+ biases, QK-norm weights)
  int64_t params_per_layer() const;   // attention + dense MLP + norms (+ biases): a dense layer
  int64_t moe_mlp_params(bool active_only) const;  // router + routed (top-k if active) + shared
  int64_t layer_params(int64_t layer, bool active_only = false) const;
  int64_t embedding_params() const;   // input embedding (+ positions) (+ untied LM head) + final norm
  int64_t total_params() const;       // what HF reports for the checkpoint
  int64_t active_params() const;      // per token: top-k routed experts only (== total if dense)
};

/// Reads a model from text. Detects the format: a HF config.json (has "model_type" or
/// "architectures") is read leniently with per-model_type defaults; anything else must be
/// spsim's strict format (unknown keys are errors with a "did you mean"). `display_name` is
/// used in error messages (usually the path).
ModelSpec parse_model(const std::string& text, const std::string& display_name);

/// Causal attention work of the whole model with its sliding windows over a sequence of `seq`
/// tokens, as a fraction of the same model without windows (1 when nothing is windowed or the
/// window covers the sequence). A windowed layer's query i sees min(i + 1, w) keys:
/// w·s - w²/2 in all for s >= w, against s²/2 causal (src/model/sliding_window.cc).
double sliding_window_attention_scale(const ModelSpec& model, int64_t seq);

/// Sets linear_attention_layers from an "attention_pattern" value (see ModelSpec); InputError
/// naming `where` for anything else or an N that does not divide num_layers.
void set_attention_pattern(ModelSpec& model, const std::string& pattern, const std::string& where);

/// Loads a model by path, or by name from the shipped models/ folder ("llama-3-8b").
ModelSpec load_model(const std::string& path_or_name);

/// Names of the shipped models (file stems of models/*.json), sorted.
std::vector<std::string> list_models();

// ---------------------------------------------------------------------------------------
// Per-op costs of one Transformer layer on one GPU.

enum class Precision { kFp32, kTf32, kBf16, kFp16, kFp8 };
/// Bytes of one activation / communicated element: 4 for fp32/tf32, else 2 (fp8 training keeps
/// activations and communication in bf16; only GEMM inputs are fp8, as TransformerEngine does).
int activation_bytes(Precision precision);
Precision parse_precision(const std::string& text, const std::string& where);
const char* to_string(Precision precision);

/// none: every op keeps what its backward needs. selective: Megatron-Core's (the attention core
/// re-runs). full: only each layer's input is kept. op: torchtitan's op-level selective
/// activation checkpointing (activation_checkpoint.mode "selective", selective_ac_option "op"):
/// the outputs of SDPA and of every other matmul are kept, the rest re-runs (layer_ops.cc).
enum class Recompute { kNone, kSelective, kFull, kOp };
Recompute parse_recompute(const std::string& text, const std::string& where);
const char* to_string(Recompute recompute);

enum class AttentionKernel { kFlash, kStandard };  // standard keeps the s^2 score matrix

// kHostMemory / kHostLink: work offloaded to the node's CPUs (an optimizer step bound by host
// memory traffic) and copies over the GPU-host link; their bytes are timed by Topology::host.
enum class OpClass { kGemm, kAttention, kMemoryBound, kHostMemory, kHostLink };
const char* to_string(OpClass op_class);

/// Cost of one op for one micro-batch on one GPU. FLOP and bytes are per GPU.
struct OpCost {
  const char* name = "";     // static string: "qkv_proj", "attention_core", "mlp_down", ...
  OpClass op_class = OpClass::kGemm;
  double fwd_flops = 0;      // forward FLOP
  double bwd_flops = 0;      // backward FLOP (GEMM: 2x fwd; flash attention: 2.5x fwd)
  double fwd_bytes = 0;      // HBM bytes read + written in forward
  double bwd_bytes = 0;
  double saved_bytes = 0;    // activation bytes kept from forward for backward
  int kernels = 1;           // equal kernels the forward launches (a MoE layer's experts: one GEMM each)
};

/// How one layer's work is split onto one GPU. Every strategy describes its shard with this.
struct LayerShard {
  int64_t micro_batch = 1;       // b
  int64_t dense_tokens = 0;      // tokens through the GEMMs on this GPU (s/(u r) for SP, s for TP)
  int64_t norm_tokens = 0;       // tokens through norms/elementwise (dense_tokens/t with Megatron-SP)
  int64_t tensor_parallel = 1;   // t: GEMM weights split t ways
  int64_t attn_heads = 0;        // query heads in the attention core on this GPU
  int64_t attn_kv_heads = 0;     // KV heads held in the core (after any replication)
  int64_t attn_q_tokens = 0;     // query tokens per head on this GPU
  int64_t attn_kv_tokens = 0;    // key tokens each query token's row spans (full s for SP)
  double attn_mask_fraction = 1; // fraction of the q x kv score matrix computed (causal ~0.5)
  Precision precision = Precision::kBf16;
  Recompute recompute = Recompute::kNone;
  AttentionKernel attention_kernel = AttentionKernel::kFlash;
  // Bytes per element of the GEMM inputs kept for the weight gradient (qkv, out_proj, mlp_up,
  // mlp_down); 0: the activation bytes. TransformerEngine keeps FP8 jobs' quantized copy (1).
  double saved_gemm_input_bytes = 0;
};

/// The ops of one layer in execution order, with their per-GPU costs for `shard`.
/// With full recompute, bwd_flops include the re-run forward and saved_bytes only the layer input.
/// A mixture-of-experts model's layer (every layer MoE, experts on every GPU of the TP group, split
/// as TP splits the dense MLP: Megatron-Core's defaults, layer_ops.cc) has the routed experts in
/// place of mlp_up/act/down and three more ops after mlp_residual: moe_router, moe_permute and
/// moe_unpermute.
std::vector<OpCost> layer_ops(const ModelSpec& model, const LayerShard& shard);

/// Embedding (forward/backward) and LM head + loss ops, for `shard` (dense_tokens, t).
std::vector<OpCost> head_ops(const ModelSpec& model, const LayerShard& shard);

/// Attention-core forward FLOP by the FlashAttention convention:
/// 4 * b * q_tokens * kv_tokens * heads * d_h * mask_fraction.
double attention_fwd_flops(int64_t micro_batch, int64_t q_tokens, int64_t kv_tokens,
                           int64_t heads, int64_t head_dim, double mask_fraction);

}  // namespace spsim

#endif  // SPSIM_MODEL_H_
