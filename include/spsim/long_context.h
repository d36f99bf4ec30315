// Long-context memory techniques a job can turn on (issue 17): how the loss holds the logits
// (--loss standard | fused | chunked[:N]) and the tiled MLP (--tiled-mlp). Each is a change to the
// per-GPU op costs and saved bytes the lowering builds, so the engines never see them: the
// lowering calls these after layer_ops()/head_ops() and before it sums memory and emits tasks.
// Every default is off ("standard", no tiling), which leaves every existing number unchanged.
#ifndef SPSIM_LONG_CONTEXT_H_
#define SPSIM_LONG_CONTEXT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "spsim/model.h"

namespace spsim {

struct JobConfig;

/// How the loss meets the logits.
///  standard: the framework's loss over all logits at once (Megatron's vocab-parallel CE, HF's
///            upcast, TE's fused CE): today's loss-phase memory, 4 bytes per logit kept.
///  fused:    Liger-Kernel's fused linear cross entropy (linkedin/Liger-Kernel@ead96b6
///            src/liger_kernel/ops/fused_linear_cross_entropy.py:62-72): tokens in chunks of
///            next_pow2(ceil(T / ceil(V/H))); each chunk's bf16 logits are the only logits held,
///            its gradient is written in place, and grad_input [T, H] and grad_weight [V, H] are
///            computed in the forward and kept for the backward (lines 72-80, 429-434).
///  chunked:  torchtitan's ChunkedLossWrapper (num_chunks, default 8: pytorch/torchtitan@b5bcd76
///            torchtitan/components/loss.py:501-545) and DeepSpeed's TiledFusedLogitsLoss
///            (deepspeedai/DeepSpeed@edaa722 runtime/sequence_parallel/ulysses_sp.py:1065-1160,
///            ALST's tiled loss): lm_head + the framework's CE per chunk, its backward run at
///            once, the input gradient accumulated into a [T, H] buffer.
/// None of the three recomputes the LM-head GEMM: all run the chunk's backward inside the
/// forward ("This removes the need to re-run forward a second time inside backward",
/// ulysses_sp.py), so their GEMM FLOPs equal the standard loss's.
enum class LossKind : uint8_t { kStandard, kFused, kChunked };

struct LossChoice {
  LossKind kind = LossKind::kStandard;
  int64_t chunks = 0;  // chunked: N (0 = torchtitan's default 8); unused otherwise
};

/// torchtitan ChunkedLossWrapper.Config.num_chunks default (components/loss.py:544).
inline constexpr int64_t kDefaultLossChunks = 8;

/// Parses "standard", "fused", "chunked" or "chunked:N" (N >= 1); InputError naming `where`.
LossChoice parse_loss(const std::string& text, const std::string& where);
/// Canonical text: "standard", "fused", "chunked:N" (N resolved).
std::string to_string(const LossChoice& loss);

/// Tokens per loss chunk on one GPU for `tokens` = b x dense tokens and the local vocabulary.
int64_t loss_chunk_tokens(const LossChoice& loss, int64_t tokens, int64_t vocab_local, int64_t hidden);

/// What a chunked loss holds besides its chunk's loss tensors: `saved_per_logit`, what the
/// framework's loss keeps per logit (framework.h loss_memory_per_logit); `grad_bytes`, bytes per
/// element of the accumulated [T, h] input gradient (0: the activation's); `keeps_logits`, whether
/// the chunk's 16-bit logits stay alive through its backward (FrameworkProfile).
struct ChunkedLossHolds {
  double saved_per_logit = 4;
  double grad_bytes = 0;
  bool keeps_logits = false;
};

/// Rewrites the head ops' saved bytes (lm_head, cross_entropy) for the chosen loss. `e`: bytes of
/// an activation; `param_bytes`: bytes of a weight (Liger's grad_weight is the weight's dtype).
/// Standard leaves them untouched. The cross-entropy op's saved bytes then hold, at the peak,
/// one chunk of logits plus the gradients the chunked forward keeps for the backward.
void apply_loss(std::vector<OpCost>& head, const LossChoice& loss, double tokens, double vocab_local,
                double hidden, double e, double param_bytes, const ChunkedLossHolds& chunked = {});

/// Tiled MLP (ALST, arXiv 2506.13996; DeepSpeed TiledMLP, ulysses_sp.py:943-1062): the MLP runs
/// in `shards` sequence tiles under no_grad, keeping only its input; the backward re-runs each
/// tile's forward with grad and back-propagates it, so one tile's intermediates exist at a time.
/// `requested`: 0 off, -1 DeepSpeed's rule ceil(tokens / hidden) ("num_shards =
/// math.ceil(seqlen / hidden)"), else that many. Returns the shard count (0 = off).
int64_t tiled_mlp_shards(int64_t requested, int64_t tokens, int64_t hidden);
/// Parses --tiled-mlp / "tiled_mlp": "off" (0), "auto" (-1) or a shard count N >= 1.
int64_t parse_tiled_mlp(const std::string& text, const std::string& where);
/// Parses --offload / "offload": none, or a comma list of optimizer, params and activations, into
/// `job`.
void set_offload(JobConfig& job, const std::string& text, const std::string& where);
/// The job's offload as text, the inverse of set_offload: "none", or those offloaded in the order
/// optimizer, params, activations ("optimizer,params,activations").
std::string offload_name(const JobConfig& job);
/// The offloads `--techniques` searches (set_offload text): none, the optimizer, the activations,
/// both, and ZeRO-3's parameters with the optimizer, with and without the activations.
inline const std::vector<std::string> kSearchedOffloads = {
    "none", "optimizer", "activations", "optimizer,activations", "optimizer,params", "optimizer,params,activations"};
/// "off", "auto" or N.
std::string tiled_mlp_name(int64_t requested);

/// Bytes the MLP's intermediates (activation input and down-projection input) keep per layer in
/// `ops` (a layer's ops without full recompute): what tiling stops saving.
double mlp_intermediate_bytes(const std::vector<OpCost>& ops);

/// Adds the tiled MLP's recompute to the tasks' backward: one more forward of mlp_up, the
/// activation and mlp_down per layer (FLOPs and bytes), whatever the recompute setting (under
/// full recompute "the forward occurs trice").
void add_tiled_mlp_recompute(std::vector<OpCost>& ops);

}  // namespace spsim

#endif  // SPSIM_LONG_CONTEXT_H_
