// ColAI-SP: ring self-attention (Li et al. 2021, arXiv 2105.13120, "Sequence Parallelism: Long
// Sequence Training from System Perspective"; the Colossal-AI baseline of the Ulysses paper).
// Implementation followed: hpcaitech/ColossalAI colossalai/legacy/nn/layer/parallel_sequence/
// _operation.py (RingQK, RingAV). Each GPU holds c = s/r tokens of Q, K, V with every head.
//
// Forward:  RingQK: QK^T of the local block, then r-1 blocking ring_forward of K, one c x c block
//           of scores each -> the c x s score matrix per head is materialised (s^2/r per head);
//           softmax; RingAV: P V of the local block, then r-1 ring_forward of V.
// Backward: RingAV: dV = P^T dO over the full s, all-reduced over the ring group (full-s buffer,
//           then sliced), then r-1 ring_forward of V for dP; softmax backward; RingQK: dK = dS^T Q
//           over the full s, all-reduced, then r-1 ring_forward of K for dQ.
// No FlashAttention fusion and no causal skipping: every block is computed and masked after, so
// the attention FLOP are 4 b c s a d_h forward whatever the mask, backward 2x. Each ring_forward
// blocks before its matmul, so nothing overlaps.
//
// The layer is lowered by the shared hybrid lowering as an all-gather context-parallel ring with a
// standard (score-keeping) kernel and a full mask, then its attention tasks are replaced by the
// ColAI-SP sequence above; the engines see only ordinary tasks.
#include <fmt/format.h>

#include <string_view>
#include <vector>

#include "spsim/error.h"
#include "spsim/limits.h"
#include "strategy/lowering.h"
#include "strategy/plugins.h"

namespace spsim::detail {

namespace {

// Per-GPU sizes of one layer's ring self-attention.
struct Shape {
  double e = 2, b = 1, s = 0, c = 0, a = 0, k = 0, d = 0;
  int64_t r = 1;
  int ring_group = -1;
  double kv_chunk() const { return e * b * c * k * d; }              // one K (or V) block
  double full_grad() const { return e * b * s * k * d; }             // dK (or dV) over all s
  double scores() const { return b * a * c * s; }                   // c x s per head
  double block_flops() const { return 2.0 * b * a * c * c * d; }    // one c x c x d matmul
};

class Emitter : public SpliceEmitter {
 public:
  Emitter(std::vector<Task>& tasks, Phase phase, const Shape& shape)
      : SpliceEmitter(tasks, phase, shape.ring_group), x_(shape) {}

  // r blocks of `name`, the first on the local chunk, each later one after a blocking ring_forward
  // of a K or V chunk. Returns the last block.
  int ring_blocks(const char* name, const char* send, double block_bytes, std::vector<int> deps) {
    int last = compute(name, OpClass::kGemm, x_.block_flops(), block_bytes, deps);
    for (int64_t i = 1; i < x_.r; ++i) {
      const int recv = comm(send, CommKind::kSendRecv, Category::kRingP2P, x_.kv_chunk(), {last});
      last = compute(name, OpClass::kGemm, x_.block_flops(), block_bytes, {recv});
    }
    return last;
  }

  // Softmax (with scale and mask) over the c x s scores: forward reads scores, writes P; backward
  // reads P and dP, writes dS. A few FLOP per element; HBM-bound.
  int softmax(double rw, int dep) {
    return compute(phase() == Phase::kForward ? "colai_softmax" : "colai_softmax_bwd",
                   OpClass::kMemoryBound, 5.0 * x_.scores(), rw * x_.e * x_.scores(), {dep});
  }

 private:
  const Shape& x_;
};

// Block HBM bytes: read a c x d block of Q (or dO) and the K/V chunk, read/write c x c scores.
double block_bytes(const Shape& x) { return x.e * x.b * (x.c * x.a * x.d + x.c * x.k * x.d + x.c * x.c * x.a); }
// Full-s gradient GEMM (P^T dO or dS^T Q): read c x s scores and c x d, write s x d.
double full_bytes(const Shape& x) { return x.e * x.b * (x.a * x.c * x.s + x.a * x.c * x.d + x.s * x.k * x.d); }

int emit_forward(Emitter& em, const Shape& x, const std::vector<int>& deps) {
  const int qk = em.ring_blocks("colai_qk_block", "colai_ring_k", block_bytes(x), deps);
  const int soft = em.softmax(2.0, qk);
  return em.ring_blocks("colai_av_block", "colai_ring_v", block_bytes(x), {soft});
}

int emit_backward(Emitter& em, const Shape& x, const std::vector<int>& deps) {
  const double ar = 2.0 * static_cast<double>(x.r - 1) / static_cast<double>(x.r) * x.full_grad();
  const double full_flops = 2.0 * x.b * x.a * x.s * x.c * x.d;
  int last = em.compute("colai_dv_full", OpClass::kGemm, full_flops, full_bytes(x), deps);
  last = em.comm("colai_dv_all_reduce", CommKind::kAllReduce, Category::kContextGather, ar, {last});
  last = em.ring_blocks("colai_dp_block", "colai_ring_v", block_bytes(x), {last});
  last = em.softmax(3.0, last);
  last = em.compute("colai_dk_full", OpClass::kGemm, full_flops, full_bytes(x), {last});
  last = em.comm("colai_dk_all_reduce", CommKind::kAllReduce, Category::kContextGather, ar, {last});
  return em.ring_blocks("colai_dq_block", "colai_ring_k", block_bytes(x), {last});
}

// Replaces each all-gather attention pattern of a layer segment by the ColAI-SP tasks.
void splice(Segment& segment, const Shape& x) {
  splice_attention(segment, false, [&x](std::vector<Task>& out, Phase phase, bool backward,
                                        const std::vector<int>& deps) {
    Emitter em(out, phase, x);
    return backward ? emit_backward(em, x, deps) : emit_forward(em, x, deps);
  });
}

constexpr StrategyTraits kTraits{.name = "colai-sp", .uses_tensor = false, .uses_ulysses = false,
                                 .uses_ring = true, .splits_sequence = true, .in_all = false,
                                 .cli_picks_degrees = false};

// The job the shared lowering runs: an all-gather ring with a score-keeping kernel and a full
// mask (every block is computed); its attention tasks are then replaced.
JobConfig as_hybrid(JobConfig job) {
  job.ring_comm = "allgather";
  job.ring_variant = "basic";
  job.causal = false;
  job.attention_kernel = AttentionKernel::kStandard;
  return job;
}

class ColaiSpStrategy : public Strategy {
 public:
  const StrategyTraits& traits() const override { return kTraits; }
  const char* description() const override {
    return "ColAI-SP ring self-attention (Li et al. 2021): K then V ring-passed, blocking, no flash "
           "fusion, s^2/r score matrix in memory (Colossal-AI baseline of the Ulysses paper)";
  }
  JobConfig check(const ModelSpec& model, const JobConfig& input) const override {
    JobConfig job = input;
    job.strategy = name();
    resolve_framework(job, "deepspeed");
    // Its spliced layer segments cannot continue one another (attention_splice.cc).
    if (job.recompute_layers > 0) {
      throw InputError("recompute", fmt::format("strategy colai-sp is modelled with every layer recomputed or none; "
                                                "use --recompute full or none instead of full:{}",
                                                job.recompute_layers));
    }
    if (job.ulysses_degree > 1 || job.tensor_parallel > 1) {
      throw InputError(job.ulysses_degree > 1 ? "ulysses_degree" : "tensor_model_parallel_size",
                       fmt::format("strategy colai-sp splits only the sequence, over ring_degree "
                                   "(got ulysses_degree {}, tensor_model_parallel_size {}); set "
                                   "both to 1",
                                   job.ulysses_degree, job.tensor_parallel));
    }
    derive_degree(job.ring_degree, job);
    if (job.ring_degree > kMaxColaiSpRingDegree) {
      throw InputError("ring_degree",
                       fmt::format("colai-sp is simulated block by block (about 10 tasks per ring "
                                   "step and layer), so its ring_degree is at most {} (got {}, README "
                                   "\"Limits and errors\"); use ring or usp for larger rings",
                                   kMaxColaiSpRingDegree, job.ring_degree));
    }
    JobConfig hybrid = as_hybrid(job);
    check_and_resolve(model, hybrid);
    // What the step reports: the user's mask and variant, and its own ring exchange (p2p).
    hybrid.causal = job.causal;
    hybrid.ring_comm = "p2p";
    hybrid.ring_variant = job.ring_variant;
    return hybrid;
  }
  LoweredStep lower(const ModelSpec& model, const JobConfig& input) const override {
    const JobConfig job = check(model, input);
    LoweredStep out = lower_hybrid(model, as_hybrid(job));
    out.job = job;

    const int64_t r = out.job.ring_degree;
    if (r == 1) return out;  // one GPU: plain standard attention, nothing to pass around
    Shape x;
    x.e = activation_bytes(job.precision);
    x.b = static_cast<double>(job.micro_batch_size);
    x.s = static_cast<double>(job.seq_length);
    x.r = r;
    x.c = x.s / static_cast<double>(r);
    x.a = static_cast<double>(model.num_attention_heads);
    x.k = static_cast<double>(model.num_key_value_heads);
    x.d = static_cast<double>(model.head_dim);
    for (size_t g = 0; g < out.graph.groups.size(); ++g) {
      if (std::string_view(out.graph.groups[g].name) == "ring") x.ring_group = static_cast<int>(g);
    }
    if (x.ring_group < 0) throw Error("colai-sp: lowered graph has no ring group");
    PipelinePlan& plan = out.pipeline;
    std::vector<TaskGraph*> graphs = {&out.graph, &plan.chunk_fwd, &plan.chunk_bwd,
                                      &plan.tail_with_dp, &plan.tail_without_dp};
    for (PipelinePlan::OtherChunk& other : plan.other_chunks) {
      graphs.push_back(&other.fwd);
      graphs.push_back(&other.bwd);
    }
    for (TaskGraph* graph : graphs) {
      for (auto& segment : graph->segments) {
        if (std::string_view(segment.name).rfind("layer", 0) == 0) splice(segment, x);
      }
    }
    // Buffers: drop the hybrid's gathered K,V (2 e b s k d_h) and add ColAI-SP's: dP and dS of
    // the c x s scores live together in the backward, the full-s dK/dV all-reduce buffer, and
    // one received K/V chunk. Saved activations already hold P (standard kernel, full mask).
    out.memory.buffers += -2.0 * x.e * x.b * x.s * x.k * x.d + 2.0 * x.e * x.scores() +
                          x.full_grad() + x.kv_chunk();
    return out;
  }
};

}  // namespace

std::unique_ptr<Strategy> make_colai_sp_strategy() { return std::make_unique<ColaiSpStrategy>(); }

}  // namespace spsim::detail
