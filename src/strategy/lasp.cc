// LASP and LASP-2: sequence parallelism for linear attention (Sun et al., "Linear Attention
// Sequence Parallelism", arXiv 2404.02882; "LASP-2", arXiv 2502.07563; code OpenNLPLab/LASP and
// OpenSparseLLMs/Linear-MoE). Each of r GPUs holds c = s/r tokens with every head. Linear
// attention is right-product first: a chunk's output is its intra-chunk part, causal masked
// [(Q K^T) . M] V over c tokens, plus Q times the memory state of every earlier chunk, where a
// chunk's state K^T V is d x d per KV head, whatever the sequence length.
//
//   LASP (lasp):    the states travel a P2P ring: GPU i waits for the running state of GPU i-1,
//                   adds its own and passes it on, so r-1 hops lie on the critical path; the
//                   backward sends the state gradients back the same way (Algorithms 2-3).
//   LASP-2 (lasp2): every GPU computes its chunk's state and one all-gather gives it all r
//                   (Algorithm 1), overlapped with the intra-chunk part; a prefix sum of the
//                   earlier states feeds the inter-chunk product. The backward all-gathers the
//                   state gradients once (Algorithm 2).
//
// Softmax layers of a hybrid model run all-gather context parallelism (LASP-2H, §3.4: K and V
// all-gathered, as Llama 3's CP), which is what the shared lowering emits with ring_comm
// allgather; each linear layer's attention tasks are then replaced by the sequence above, as
// colai_sp.cc does, so the engines see only ordinary tasks.
//
// FLOP per GPU and layer (b micro-batch, a query heads, k KV heads, d head dim), forward:
//   intra-chunk as the chunked kernel computes it (blocks of B = 64 tokens, model/linear_attention.h):
//   b a (2 c B d + 4 c d^2) causal, timed as an attention kernel; state K^T V 2 b k c d^2;
//   inter-chunk Q M 2 b a c d^2. Backward: 2x each (every product's
//   two input gradients). State messages: b k d^2 elements in the activation dtype (the papers
//   give the state's shape, d x d per head, not its dtype).
#include <fmt/format.h>

#include <string_view>
#include <vector>

#include "model/linear_attention.h"
#include "spsim/error.h"
#include "strategy/lowering.h"
#include "strategy/plugins.h"

namespace spsim::detail {

namespace {

enum class Variant { kRing, kAllGather };  // LASP, LASP-2

struct Shape {
  double e = 2, b = 1, c = 0, a = 0, k = 0, d = 0;
  int64_t r = 1;
  int ring_group = -1;
  bool causal = true;
  double state_bytes() const { return e * b * k * d * d; }
  // The chunk's own part, as the kernel computes it (blocks of kLinearAttentionBlock tokens).
  double intra_flops() const { return b * linear_attention_fwd_flops(c, a, d, causal); }
  double state_flops() const { return 2.0 * b * k * c * d * d; }
  double inter_flops() const { return 2.0 * b * a * c * d * d; }
  // Q, K, V read and O written by the intra-chunk kernel.
  double intra_bytes() const { return e * b * c * d * (2.0 * a + 2.0 * k); }
  double state_gemm_bytes() const { return e * b * c * d * 2.0 * k + state_bytes(); }
  double inter_bytes() const { return e * b * c * d * 2.0 * a + state_bytes(); }
};

// One linear layer's attention, forward (scale 1) or backward (scale 2, state gradients).
int emit_linear_attention(SpliceEmitter& em, const Shape& x, Variant variant, bool backward,
                          const std::vector<int>& deps) {
  const double m = backward ? 2.0 : 1.0;
  const int intra = em.compute(backward ? "lasp_intra_bwd" : "lasp_intra", OpClass::kAttention,
                               m * x.intra_flops(), m * x.intra_bytes(), deps);
  em.at(intra).backward_kernel = backward;
  em.at(intra).causal_kernel = x.causal;
  const int state = em.compute(backward ? "lasp_state_bwd" : "lasp_state", OpClass::kGemm,
                               m * x.state_flops(), m * x.state_gemm_bytes(), deps);
  int exchanged = state;
  if (variant == Variant::kRing) {
    // The running state (or its gradient) passes GPU to GPU: r-1 hops, each after the last.
    for (int64_t hop = 1; hop < x.r; ++hop) {
      exchanged = em.comm(backward ? "lasp_dkv_send_recv" : "lasp_kv_send_recv", CommKind::kSendRecv,
                          Category::kRingP2P, x.state_bytes(), {exchanged});
    }
  } else if (x.r > 1) {
    const double gathered = static_cast<double>(x.r) * x.state_bytes();
    exchanged = em.comm(backward ? "lasp2_dstate_all_gather" : "lasp2_state_all_gather", CommKind::kAllGather,
                        Category::kContextGather,
                        static_cast<double>(x.r - 1) / static_cast<double>(x.r) * gathered, {state});
    // Prefix sum of the earlier chunks' states: read r states, write one.
    exchanged = em.compute("lasp2_state_prefix_sum", OpClass::kMemoryBound,
                           static_cast<double>(x.r) * x.state_bytes() / x.e, (static_cast<double>(x.r) + 1) * x.state_bytes(),
                           {exchanged});
  }
  return em.compute(backward ? "lasp_inter_bwd" : "lasp_inter", OpClass::kGemm, m * x.inter_flops(),
                    m * x.inter_bytes(), {exchanged, intra});
}

// Replaces each all-gather attention pattern of a layer segment, or with r = 1 the attention core
// alone, by the linear layer's tasks.
void splice(Segment& segment, const Shape& x, Variant variant) {
  splice_attention(segment, x.r == 1, [&x, variant](std::vector<Task>& out, Phase phase, bool backward,
                                                    const std::vector<int>& deps) {
    SpliceEmitter em(out, phase, x.ring_group);
    return emit_linear_attention(em, x, variant, backward, deps);
  });
}

constexpr StrategyTraits kLaspTraits{.name = "lasp", .uses_tensor = false, .uses_ulysses = false,
                                     .uses_ring = true, .splits_sequence = true, .in_all = true,
                                     .cli_picks_degrees = true, .linear_attention = true};
constexpr StrategyTraits kLasp2Traits{.name = "lasp2", .uses_tensor = false, .uses_ulysses = false,
                                      .uses_ring = true, .splits_sequence = true, .in_all = true,
                                      .cli_picks_degrees = true, .linear_attention = true};

class LaspStrategy : public Strategy {
 public:
  explicit LaspStrategy(Variant variant) : variant_(variant) {}
  const StrategyTraits& traits() const override {
    return variant_ == Variant::kRing ? kLaspTraits : kLasp2Traits;
  }
  const char* description() const override {
    return variant_ == Variant::kRing
               ? "LASP: linear attention, d x d KV states passed GPU to GPU in a P2P ring (softmax "
                 "layers of a hybrid: all-gather CP)"
               : "LASP-2: linear attention, one all-gather of per-chunk memory states (softmax "
                 "layers of a hybrid: all-gather CP, LASP-2H)";
  }
  JobConfig check(const ModelSpec& model, const JobConfig& input) const override {
    JobConfig job = input;
    job.strategy = name();
    resolve_framework(job, "megatron");  // Linear-MoE (LASP-2's code) is built on Megatron-Core
    if (job.ulysses_degree > 1 || job.tensor_parallel > 1) {
      throw InputError(job.ulysses_degree > 1 ? "ulysses_degree" : "tensor_model_parallel_size",
                       fmt::format("strategy {} splits the sequence over ring_degree only (got "
                                   "ulysses_degree {}, tensor_model_parallel_size {}); set both to 1",
                                   name(), job.ulysses_degree, job.tensor_parallel));
    }
    if (job.pipeline_parallel > 1) {
      throw InputError("pipeline_model_parallel_size",
                       fmt::format("strategy {} is modelled without pipeline stages (got {}); use "
                                   "pipeline_model_parallel_size 1",
                                   name(), job.pipeline_parallel));
    }
    // Its layer segments are rebuilt per attention kind (linear, softmax), not per recompute kind.
    if (job.recompute_layers > 0) {
      throw InputError("recompute", fmt::format("strategy {} is modelled with every layer recomputed or none; use "
                                                "--recompute full or none instead of full:{}",
                                                name(), job.recompute_layers));
    }
    if (job.attention_kernel != AttentionKernel::kFlash) {
      throw InputError("attention_kernel", fmt::format("strategy {} runs fused linear-attention kernels; "
                                                       "use attention_kernel flash", name()));
    }
    derive_degree(job.ring_degree, job);
    job.ring_comm = "allgather";  // the softmax layers of a hybrid (LASP-2H)
    check_and_resolve(model, job);
    return job;
  }
  LoweredStep lower(const ModelSpec& model, const JobConfig& input) const override {
    const JobConfig job = check(model, input);
    LoweredStep out = lower_hybrid(model, job);
    const LayerShard shard = make_layer_shard(model, job);
    Shape x;
    x.e = activation_bytes(job.precision);
    x.b = static_cast<double>(job.micro_batch_size);
    x.r = job.ring_degree;
    x.c = static_cast<double>(job.seq_length) / static_cast<double>(x.r);
    x.a = static_cast<double>(shard.attn_heads);
    x.k = static_cast<double>(shard.attn_kv_heads);
    x.d = static_cast<double>(model.head_dim);
    x.causal = job.causal;
    for (size_t g = 0; g < out.graph.groups.size(); ++g) {
      if (std::string_view(out.graph.groups[g].name) == "ring") x.ring_group = static_cast<int>(g);
    }
    if (x.ring_group < 0) throw Error("lasp: lowered graph has no ring group");
    // Layer segments: the linear layers get the LASP tasks; a hybrid keeps a softmax copy of
    // each segment for its softmax layers, right after.
    const int64_t linear = model.linear_attention_layers;
    std::vector<Segment> segments;
    segments.reserve(out.graph.segments.size() * 2);
    for (Segment& segment : out.graph.segments) {
      if (std::string_view(segment.name).rfind("layer", 0) != 0) {
        segments.push_back(std::move(segment));
        continue;
      }
      const int64_t softmax = segment.repeat - linear;
      Segment lin = segment;
      lin.repeat = linear;
      splice(lin, x, variant_);
      segments.push_back(std::move(lin));
      if (softmax > 0) {
        segment.repeat = softmax;
        segments.push_back(std::move(segment));
      }
    }
    out.graph.segments = std::move(segments);
    // Memory: a linear layer keeps its state for the backward (LASP's state caching) instead of
    // nothing; LASP-2's gathered states are a transient buffer, and a model without softmax
    // layers holds no gathered K,V.
    const double kv_gather_buffer = 2.0 * x.e * x.b * static_cast<double>(job.seq_length) * x.k * x.d;
    out.memory.activations += static_cast<double>(linear) * x.state_bytes();
    if (linear == model.num_layers) out.memory.buffers -= kv_gather_buffer;
    out.memory.buffers += (variant_ == Variant::kRing ? 2.0 : static_cast<double>(x.r)) * x.state_bytes();
    return out;
  }

 private:
  Variant variant_;
};

}  // namespace

std::unique_ptr<Strategy> make_lasp_strategy() { return std::make_unique<LaspStrategy>(Variant::kRing); }
std::unique_ptr<Strategy> make_lasp2_strategy() { return std::make_unique<LaspStrategy>(Variant::kAllGather); }

}  // namespace spsim::detail
