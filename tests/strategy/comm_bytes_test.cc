// Communication bytes per GPU per layer, read off the lowered TaskGraph, against the hand-computed
// vectors of the cost-model spec (/work/shared/reference/sequence-parallelism.md §2.2-2.3) and
// against hand computations of our own (GQA replication, USP, hybrids, ZeRO).
//
// Common setting unless said otherwise: Llama-3-8B (h 4096, a 32, k 8, d_h 128, h_kv 1024,
// f 14336, L 32), b = 1, s = 131072, bf16 (e = 2). Every value below is exact in double.
#include "spsim/strategy.h"

#include "spsim/collective.h"
#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

using test::bwd_bytes;
using test::fwd_bytes;
using test::long_job;
using test::lower;

ModelSpec llama3_8b_mha() {
  ModelSpec m = test::llama3_8b();
  m.name = "Llama-3-8B-MHA";
  m.num_key_value_heads = 32;  // the spec's "same but MHA (k = 32)" row
  return m;
}

const CommGroup& group(const TaskGraph& graph, const std::string& name) {
  for (const auto& g : graph.groups) {
    if (name == g.name) return g;
  }
  ADD_FAILURE() << "no group " << name;
  static const CommGroup none;
  return none;
}

// ---------------------------------------------------------------------------------------------
// Ulysses

TEST(UlyssesBytes, SpecVectorU8Forward) {
  // Spec §2.3: 2·1·16384·(8192 + 2048)·7/8 = 293,601,280 (Q and O: h each, K and V: h_kv each).
  JobConfig job = long_job("ulysses", 8);
  job.ulysses_degree = 8;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kUlyssesA2A), 293601280.0);
  const Segment& fwd = test::segment(step.graph, "layer_fwd");
  EXPECT_EQ(test::count_of(fwd, Category::kUlyssesA2A, CommKind::kAllToAll), 4);
  // Q (= O) all-to-all: 2·16384·(4 heads x 8 ranks x 128)·7/8 = 117,440,512;
  // K (= V): 2·16384·(1 x 8 x 128)·7/8 = 29,360,128.
  for (const auto& task : fwd.tasks) {
    if (std::string(task.name) == "a2a_q" || std::string(task.name) == "a2a_o") {
      EXPECT_DOUBLE_EQ(task.bytes, 117440512.0) << task.name;
    } else if (std::string(task.name) == "a2a_k" || std::string(task.name) == "a2a_v") {
      EXPECT_DOUBLE_EQ(task.bytes, 29360128.0) << task.name;
    }
  }
  // No other kind of sequence/tensor communication in pure Ulysses.
  EXPECT_EQ(fwd_bytes(step, Category::kTensorParallel), 0.0);
  EXPECT_EQ(fwd_bytes(step, Category::kRingP2P), 0.0);
  EXPECT_EQ(group(step.graph, "ulysses").size, 8);
  EXPECT_EQ(group(step.graph, "ulysses").stride, 1);
}

TEST(UlyssesBytes, BackwardMirrorsForward) {
  // dO, dQ, dK, dV: the same four buffers, V_uly_bwd = V_uly_fwd = 293,601,280.
  JobConfig job = long_job("ulysses", 8);
  const LoweredStep step = lower(test::llama3_8b(), job);  // u derived from 8 GPUs
  EXPECT_EQ(step.job.ulysses_degree, 8);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kUlyssesA2A), 293601280.0);
  EXPECT_EQ(test::count_of(test::segment(step.graph, "layer_bwd"), Category::kUlyssesA2A,
                           CommKind::kAllToAll),
            4);
}

TEST(UlyssesBytes, FullRecomputeAddsTheForwardAllToAllsToBackward) {
  // Checkpointed layer: the forward (4 a2a) re-runs in backward: 2 x 293,601,280 = 587,202,560.
  JobConfig job = long_job("ulysses", 8);
  job.recompute = Recompute::kFull;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kUlyssesA2A), 293601280.0);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kUlyssesA2A), 587202560.0);
  EXPECT_EQ(test::count_of(test::segment(step.graph, "layer_bwd"), Category::kUlyssesA2A,
                           CommKind::kAllToAll),
            8);
}

TEST(UlyssesBytes, SelectiveRecomputeDoesNotRepeatCommunication) {
  JobConfig job = long_job("ulysses", 8);
  job.recompute = Recompute::kSelective;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kUlyssesA2A), 293601280.0);
}

TEST(UlyssesBytes, MhaSpecVector) {
  // Spec §2.3 MHA row: 4·e·b·s·h·(u-1)/u² = 4·2·131072·4096·7/64 = 469,762,048.
  JobConfig job = long_job("ulysses", 8);
  const LoweredStep step = lower(llama3_8b_mha(), job);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kUlyssesA2A), 469762048.0);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kUlyssesA2A), 469762048.0);
}

TEST(UlyssesBytes, GqaKvReplicationWhenUExceedsKvHeads) {
  // u = 16 > k = 8: ALST replicates each KV head u/k = 2 times before the all-to-all, so K and V
  // travel as if k_eff = u = 16 (h_kv_eff = 16·128 = 2048). s/u = 8192 tokens:
  //   2·8192·(2·4096 + 2·2048)·15/16 = 2·8192·12288·15/16 = 188,743,680
  // (without replication it would be 2·8192·(8192 + 2048)·15/16 = 157,286,400).
  JobConfig job = long_job("ulysses", 16);
  job.ulysses_degree = 16;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kUlyssesA2A), 188743680.0);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kUlyssesA2A), 188743680.0);
  // Per task: Q 2·8192·(2 heads x 16 x 128)·15/16 = 62,914,560; K 2·8192·(1 x 16 x 128)·15/16
  // = 31,457,280.
  for (const auto& task : test::segment(step.graph, "layer_fwd").tasks) {
    if (std::string(task.name) == "a2a_k") {
      EXPECT_DOUBLE_EQ(task.bytes, 31457280.0);
    }
    if (std::string(task.name) == "a2a_q") {
      EXPECT_DOUBLE_EQ(task.bytes, 62914560.0);
    }
  }
}

TEST(UlyssesBytes, GqaReplicationAtU32) {
  // u = 32 = a: one query head and one (replicated, factor 4) KV head per GPU. s/u = 4096:
  //   2·4096·(2·4096 + 2·32·128)·31/32 = 2·4096·16384·31/32 = 130,023,424.
  JobConfig job = long_job("ulysses", 32);
  job.ulysses_degree = 32;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kUlyssesA2A), 130023424.0);
}

TEST(UlyssesBytes, WithTensorParallelInside) {
  // t = 2 (Megatron-SP inside), u = 4, 8 GPUs. Each TP rank holds a/t = 16 heads (k/t = 4 KV)
  // of s/u = 32768 tokens before the all-to-all:
  //   Q: 2·32768·(16·128)·3/4 = 100,663,296; K: 2·32768·(4·128)·3/4 = 25,165,824
  //   a2a fwd = 2·(100,663,296 + 25,165,824) = 251,658,240.
  // TP+SP over the s/u tokens: 4 x 1/2 x 2·32768·4096 = 536,870,912 forward, 6 x in backward.
  JobConfig job = long_job("ulysses", 8);
  job.ulysses_degree = 4;
  job.tensor_parallel = 2;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kUlyssesA2A), 251658240.0);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kTensorParallel), 536870912.0);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kTensorParallel), 805306368.0);
  EXPECT_EQ(group(step.graph, "tp").size, 2);
  EXPECT_EQ(group(step.graph, "ulysses").stride, 2);  // Ulysses just outside TP
}

// ---------------------------------------------------------------------------------------------
// Megatron TP (+SP)

TEST(MegatronBytes, SpecVectorTpSpT8) {
  // Spec §2.3: 4·(7/8)·2·131072·4096 = 3,758,096,384 forward (2 AG + 2 RS of M = e·b·s·h);
  // backward 6·(7/8)·M = 5,637,144,576 (2 conjugate AG + 2 conjugate RS + 2 re-gathers of Y).
  JobConfig job = long_job("megatron-sp", 8);
  job.tensor_parallel = 8;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kTensorParallel), 3758096384.0);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kTensorParallel), 5637144576.0);
  const Segment& fwd = test::segment(step.graph, "layer_fwd");
  EXPECT_EQ(test::count_of(fwd, Category::kTensorParallel, CommKind::kAllGather), 2);
  EXPECT_EQ(test::count_of(fwd, Category::kTensorParallel, CommKind::kReduceScatter), 2);
  EXPECT_EQ(test::count_of(fwd, Category::kTensorParallel, CommKind::kAllReduce), 0);
  const Segment& bwd = test::segment(step.graph, "layer_bwd");
  EXPECT_EQ(test::count_of(bwd, Category::kTensorParallel, CommKind::kAllGather), 4);
  EXPECT_EQ(test::count_of(bwd, Category::kTensorParallel, CommKind::kReduceScatter), 2);
  // One collective's buffer: (7/8)·2·131072·4096 = 939,524,096.
  EXPECT_DOUBLE_EQ(test::bytes_of(fwd, Category::kTensorParallel, CommKind::kAllGather),
                   2 * 939524096.0);
}

TEST(MegatronBytes, DerivesTFromGpuCount) {
  JobConfig job = long_job("megatron-sp", 8);
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_EQ(step.job.tensor_parallel, 8);
  EXPECT_EQ(step.job.data_parallel, 1);
}

TEST(MegatronBytes, PlainTpAllReduce) {
  // No SP: 2 all-reduces forward, 2 backward, each 2·(7/8)·M = 1,879,048,192:
  // forward 3,758,096,384, backward 3,758,096,384 (Korthikanti: 4 all-reduces per layer, the same
  // bandwidth as TP+SP's 4 AG + 4 RS); total 8·(t-1)/t·e·b·s·h = 7,516,192,768.
  JobConfig job = long_job("megatron-tp", 8);
  job.tensor_parallel = 8;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_FALSE(step.job.sequence_parallel);
  const Segment& fwd = test::segment(step.graph, "layer_fwd");
  EXPECT_EQ(test::count_of(fwd, Category::kTensorParallel, CommKind::kAllReduce), 2);
  EXPECT_EQ(test::count_of(fwd, Category::kTensorParallel, CommKind::kAllGather), 0);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kTensorParallel), 3758096384.0);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kTensorParallel), 3758096384.0);
}

TEST(MegatronBytes, GqaDoesNotShrinkTpTraffic) {
  // Spec §6.6: TP-SP volume depends on h only.
  JobConfig job = long_job("megatron-sp", 8);
  const double gqa = fwd_bytes(lower(test::llama3_8b(), job), Category::kTensorParallel);
  const double mha = fwd_bytes(lower(llama3_8b_mha(), job), Category::kTensorParallel);
  EXPECT_DOUBLE_EQ(gqa, mha);
}

TEST(MegatronBytes, FullRecomputeRerunsForwardCollectives) {
  // Backward = forward re-run (4) + backward (6) = 10 x 939,524,096 = 9,395,240,960.
  JobConfig job = long_job("megatron-sp", 8);
  job.recompute = Recompute::kFull;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kTensorParallel), 9395240960.0);
}

// ---------------------------------------------------------------------------------------------
// Ring

TEST(RingBytes, SpecVectorR8) {
  // Spec §2.3: KV block = 2·e·b·c·h_kv = 2·2·16384·1024 = 67,108,864; r-1 = 7 sends forward:
  // 469,762,048. TE backward: step 0 KV, 6 middle steps KV + dKV, one final dKV send:
  // 14 blocks = 939,524,096; TE total 1,409,286,144.
  JobConfig job = long_job("ring", 8);
  job.ring_degree = 8;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kRingP2P), 469762048.0);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kRingP2P), 939524096.0);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kRingP2P) + bwd_bytes(step, Category::kRingP2P),
                   1409286144.0);
  const Segment& fwd = test::segment(step.graph, "layer_fwd");
  EXPECT_EQ(test::count_of(fwd, Category::kRingP2P, CommKind::kSendRecv), 7);
  for (const auto& task : fwd.tasks) {
    if (task.kind == TaskKind::kCollective) {
      EXPECT_DOUBLE_EQ(task.bytes, 67108864.0);
    }
  }
  int attention_steps = 0;
  for (const auto& task : fwd.tasks) attention_steps += std::string(task.name) == "ring_attn_step";
  EXPECT_EQ(attention_steps, 8);
  EXPECT_EQ(fwd_bytes(step, Category::kUlyssesA2A), 0.0);
}

TEST(RingBytes, MhaSpecVector) {
  // k = 32: block 2·2·16384·4096 = 268,435,456; 7 sends = 1,879,048,192.
  JobConfig job = long_job("ring", 8);
  const LoweredStep step = lower(llama3_8b_mha(), job);
  EXPECT_EQ(step.job.ring_degree, 8);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kRingP2P), 1879048192.0);
}

TEST(RingBytes, VolumeDoesNotShrinkWithR) {
  // 2·e·b·s·h_kv·(r-1)/r: r = 4 gives 2·2·131072·1024·3/4 = 402,653,184 (less than r = 8, not
  // 1/2 of it: the per-GPU volume does not fall like 1/r).
  JobConfig job = long_job("ring", 4);
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kRingP2P), 402653184.0);
}

TEST(RingBytes, BasicVariantSameBytesSkewedWork) {
  // Unbalanced causal ring: same traffic; attention step k >= 1 runs only on ring positions i >= k.
  JobConfig job = long_job("ring", 8);
  job.ring_variant = "basic";
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kRingP2P), 469762048.0);
  int step_index = 0;
  for (const auto& task : test::segment(step.graph, "layer_fwd").tasks) {
    if (std::string(task.name) != "ring_attn_step") continue;
    if (step_index == 0) {
      EXPECT_TRUE(task.work_scale.empty());
    } else {
      ASSERT_EQ(task.work_scale.size(), 8u);
      for (int i = 0; i < 8; ++i) EXPECT_EQ(task.work_scale[i], step_index <= i ? 1.0 : 0.0);
    }
    ++step_index;
  }
  EXPECT_EQ(step_index, 8);
}

TEST(RingBytes, ZigzagStepsHaveHalfAFullBlockOfFlops) {
  // Every zigzag step has area c²/2: 4·b·c²·heads·d_h·½ = 4·16384²·32·128·½ = 2,199,023,255,552.
  JobConfig job = long_job("ring", 8);
  const LoweredStep step = lower(test::llama3_8b(), job);
  for (const auto& task : test::segment(step.graph, "layer_fwd").tasks) {
    if (std::string(task.name) == "ring_attn_step") {
      EXPECT_DOUBLE_EQ(task.flops, 2199023255552.0);
      EXPECT_TRUE(task.work_scale.empty());
    }
  }
}

TEST(RingBytes, AllGatherVariant) {
  // TE cp_comm_type all_gather: forward AG of K,V = (7/8)·2·2·131072·1024 = 469,762,048 (same
  // volume as p2p); backward re-gather + reduce-scatter of dK,dV = 939,524,096. No P2P.
  JobConfig job = long_job("ring", 8);
  job.ring_comm = "allgather";
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_EQ(fwd_bytes(step, Category::kRingP2P), 0.0);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kContextGather), 469762048.0);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kContextGather), 939524096.0);
  const Segment& bwd = test::segment(step.graph, "layer_bwd");
  EXPECT_EQ(test::count_of(bwd, Category::kContextGather, CommKind::kAllGather), 1);
  EXPECT_EQ(test::count_of(bwd, Category::kContextGather, CommKind::kReduceScatter), 1);
}

TEST(RingBytes, FullRecomputeResendsForwardKv) {
  // Backward = forward re-run (7 blocks) + TE backward (14 blocks) = 21 x 67,108,864.
  JobConfig job = long_job("ring", 8);
  job.recompute = Recompute::kFull;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kRingP2P), 21 * 67108864.0);
}

// ---------------------------------------------------------------------------------------------
// USP

TEST(UspBytes, UlyssesFourByRingFour) {
  // u = 4, r = 4, P = 16 GPUs. Each GPU holds s/P = 8192 tokens before the a2a.
  //   a2a fwd = e·b·(s/P)·(2h + 2h_kv)·(u-1)/u = 2·8192·(8192 + 2048)·3/4 = 125,829,120
  //   ring fwd = 2·e·b·s·h_kv·(r-1)/(r·u) = 2·2·131072·1024·3/16 = 100,663,296
  //            (block: s/r = 32768 tokens of k/u = 2 KV heads: 2·2·32768·256 = 33,554,432, x3)
  //   backward: a2a x1 = 125,829,120, ring x2 (TE) = 201,326,592.
  JobConfig job = long_job("usp", 16);
  job.ulysses_degree = 4;
  job.ring_degree = 4;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kUlyssesA2A), 125829120.0);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kRingP2P), 100663296.0);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kUlyssesA2A), 125829120.0);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kRingP2P), 201326592.0);
  // Placement rule: Ulysses on contiguous ranks, ring strided by u.
  EXPECT_EQ(group(step.graph, "ulysses").size, 4);
  EXPECT_EQ(group(step.graph, "ulysses").stride, 1);
  EXPECT_EQ(group(step.graph, "ring").size, 4);
  EXPECT_EQ(group(step.graph, "ring").stride, 4);
}

TEST(UspBytes, UlyssesEightByRingTwo) {
  // u = 8 (one NVSwitch node), r = 2: s/P = 8192.
  //   a2a fwd = 2·8192·10240·7/8 = 146,800,640; ring fwd = 2·2·131072·1024·1/16 = 33,554,432;
  //   ring bwd (r = 2: one KV send, then the final dKV send) = 67,108,864.
  JobConfig job = long_job("usp", 16);
  job.ulysses_degree = 8;
  job.ring_degree = 2;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kUlyssesA2A), 146800640.0);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kRingP2P), 33554432.0);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kRingP2P), 67108864.0);
  EXPECT_EQ(group(step.graph, "ring").stride, 8);
}

TEST(UspBytes, DegenerateUspMatchesPureSchemes) {
  // usp with r = 1 is Ulysses; usp with u = 1 is ring: byte for byte the same per-layer traffic.
  JobConfig uly = long_job("usp", 8);
  uly.ulysses_degree = 8;
  EXPECT_DOUBLE_EQ(fwd_bytes(lower(test::llama3_8b(), uly), Category::kUlyssesA2A), 293601280.0);
  JobConfig ring = long_job("usp", 8);
  ring.ring_degree = 8;
  EXPECT_DOUBLE_EQ(fwd_bytes(lower(test::llama3_8b(), ring), Category::kRingP2P), 469762048.0);
}

// ---------------------------------------------------------------------------------------------
// Data parallelism and ZeRO. Llama-3-8B per layer: attention 4096·(4096 + 2·1024) + 4096·4096
// = 41,943,040; SwiGLU 3·4096·14336 = 176,160,768; two RMSNorms 8192: Ψ_layer = 218,112,000.
// Embedding + untied LM head + final norm: 2·128256·4096 + 4096 = 1,050,677,248.

double category_bytes_in(const TaskGraph& graph, const std::string& seg_name, Category category) {
  double total = 0;
  for (const auto& seg : graph.segments) {
    if (seg_name == seg.name) total += test::bytes_of(seg, category);
  }
  return total;
}

TEST(ZeroBytes, Zero3GathersParamsForwardAndBackward) {
  // Ulysses u = 8, D = 1: ZeRO group = DP x SP = 8. Per layer, forward and backward each gather
  // (7/8)·Ψ_layer·2 = 381,696,000 bytes; gradients reduce-scatter twice that: DeepSpeed reduces
  // in fp32 when the job splits the sequence (seq_parallel_communication_data_type).
  JobConfig job = long_job("ulysses", 8);
  job.zero_stage = 3;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_EQ(group(step.graph, "zero").size, 8);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kZeroParams), 381696000.0);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kZeroParams), 381696000.0);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kDataParallel), 763392000.0);
  EXPECT_EQ(test::count_of(test::segment(step.graph, "layer_bwd"), Category::kDataParallel,
                           CommKind::kReduceScatter),
            1);
  // Total ZeRO-3 traffic per layer: (D'-1)/D'·Ψ·(2 e + e_grad) (spec §2.2: 3·(D'-1)/D'·Ψ·e when
  // gradients travel in the parameters' dtype).
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kZeroParams) + bwd_bytes(step, Category::kZeroParams) +
                       bwd_bytes(step, Category::kDataParallel),
                   7.0 / 8 * 218112000 * (2 * 2 + 4));
  // The embedding's parameters are gathered once in forward: (7/8)·1,050,677,248·2 = 1,838,685,184.
  EXPECT_DOUBLE_EQ(category_bytes_in(step.graph, "embedding_fwd", Category::kZeroParams),
                   1838685184.0);
  // ZeRO-3 needs no post-optimizer gather.
  EXPECT_EQ(category_bytes_in(step.graph, "optimizer", Category::kZeroParams), 0.0);
}

TEST(ZeroBytes, Zero0AllReducesGradients) {
  // ZeRO-0 under Ulysses, fp32 gradient traffic (DeepSpeed's seq_parallel_communication_data_type):
  // all-reduce 2·(7/8)·Ψ_layer·4 = 1,526,784,000 per layer; embedding 2·(7/8)·4·1,050,677,248
  // = 7,354,740,736.
  JobConfig job = long_job("ulysses", 8);
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kDataParallel), 1526784000.0);
  EXPECT_EQ(test::count_of(test::segment(step.graph, "layer_bwd"), Category::kDataParallel,
                           CommKind::kAllReduce),
            1);
  EXPECT_DOUBLE_EQ(category_bytes_in(step.graph, "embedding_bwd", Category::kDataParallel),
                   7354740736.0);
  EXPECT_EQ(fwd_bytes(step, Category::kZeroParams), 0.0);
}

TEST(ZeroBytes, Zero1And2ReduceScatterThenGatherUpdatedParams) {
  // DeepSpeed ZeRO-1/2 all-reduce their gradient buckets (use_multi_rank_bucket_allreduce) and
  // keep their shard: 2·(7/8)·Ψ_layer·4 = 1,526,784,000 per layer (fp32 under Ulysses); after the
  // optimizer an all-gather of all local parameters: (7/8)·8,030,261,248·2 = 14,052,957,184.
  for (int stage : {1, 2}) {
    JobConfig job = long_job("ulysses", 8);
    job.zero_stage = stage;
    const LoweredStep step = lower(test::llama3_8b(), job);
    EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kDataParallel), 1526784000.0) << stage;
    EXPECT_DOUBLE_EQ(category_bytes_in(step.graph, "optimizer", Category::kZeroParams),
                     14052957184.0)
        << stage;
    EXPECT_EQ(fwd_bytes(step, Category::kZeroParams), 0.0) << stage;
  }
}

TEST(ZeroBytes, DistributedOptimizerAndFsdpReduceScatter) {
  // Megatron's distributed optimizer (ZeRO-1) reduce-scatters the fp32 main grads once per step:
  // (7/8)·Ψ_layer·4 = 763,392,000; FSDP2 (ZeRO-3) reduce-scatters fp32 gradients: the same bytes.
  JobConfig job = long_job("ring", 8);
  job.zero_stage = 1;
  LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_EQ(test::count_of(test::segment(step.graph, "layer_bwd"), Category::kDataParallel,
                           CommKind::kReduceScatter), 1);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kDataParallel), 763392000.0);
  job.framework = "nemo";  // bf16 reduction: half the bytes
  EXPECT_DOUBLE_EQ(bwd_bytes(lower(test::llama3_8b(), job), Category::kDataParallel), 381696000.0);
}

TEST(ZeroBytes, UlyssesZeroGroupIsDataTimesSequenceParallel) {
  // u = 4, D = 2 on 8 GPUs: ZeRO group = 8 (DeepSpeed partitions over DP x SP), stride 1.
  JobConfig job = long_job("ulysses", 8);
  job.ulysses_degree = 4;
  job.zero_stage = 3;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_EQ(step.job.data_parallel, 2);
  EXPECT_EQ(group(step.graph, "zero").size, 8);
  EXPECT_EQ(group(step.graph, "dp").size, 2);
  EXPECT_EQ(group(step.graph, "dp").stride, 4);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kZeroParams), 381696000.0);
}

TEST(ZeroBytes, MegatronReducesGradientsOverDpOnlyWithPsiOverT) {
  // megatron-sp t = 4, D = 2: gradient group = D = 2, stride t = 4. Ψ_layer/t = 54,528,000:
  // ZeRO-1 reduce-scatter of fp32 main grads (1/2)·54,528,000·4 = 109,056,000 per layer.
  JobConfig job = long_job("megatron-sp", 8);
  job.tensor_parallel = 4;
  job.zero_stage = 1;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_EQ(step.job.data_parallel, 2);
  EXPECT_EQ(group(step.graph, "zero").size, 2);
  EXPECT_EQ(group(step.graph, "zero").stride, 4);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kDataParallel), 109056000.0);
}

TEST(ZeroBytes, NoGradientTrafficWithoutReplicas) {
  // megatron-sp t = 8 on 8 GPUs: every rank holds a different shard; nothing to reduce.
  JobConfig job = long_job("megatron-sp", 8);
  job.zero_stage = 3;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_EQ(bwd_bytes(step, Category::kDataParallel), 0.0);
  EXPECT_EQ(fwd_bytes(step, Category::kZeroParams), 0.0);
}

TEST(ZeroBytes, GradientSyncOnlyInTheLastMicroBatch) {
  // global batch 4, b = 1, D = 1 -> 4 micro-batches; DDP no_sync: the reduction runs once (fp32
  // under Ulysses: 2·(7/8)·Ψ_layer·4).
  JobConfig job = long_job("ulysses", 8);
  job.global_batch_size = 4;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_EQ(step.graph.micro_batches, 4);
  EXPECT_EQ(test::bytes_of(test::segment(step.graph, "layer_bwd", When::kAllButLastMicroBatch),
                           Category::kDataParallel),
            0.0);
  EXPECT_DOUBLE_EQ(test::bytes_of(test::segment(step.graph, "layer_bwd", When::kLastMicroBatch),
                                  Category::kDataParallel),
                   1526784000.0);
  // The sequence-parallel traffic is the same in every micro-batch.
  EXPECT_DOUBLE_EQ(test::bytes_of(test::segment(step.graph, "layer_bwd", When::kAllButLastMicroBatch),
                                  Category::kUlyssesA2A),
                   293601280.0);
}

TEST(ZeroBytes, Fp32DoublesGradientBytes) {
  // fp32: 4-byte grads: all-reduce 2·(7/8)·Ψ_layer·4 = 1,526,784,000; activations too:
  // Ulysses fwd 2 x 293,601,280.
  JobConfig job = long_job("ulysses", 8);
  job.precision = Precision::kFp32;
  const LoweredStep step = lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(bwd_bytes(step, Category::kDataParallel), 1526784000.0);
  EXPECT_DOUBLE_EQ(fwd_bytes(step, Category::kUlyssesA2A), 587202560.0);
}

TEST(CommBytes, MatchesBytesSentPerGpuConvention) {
  // The lowering's per-task bytes are bytes_sent_per_gpu of the full buffer: one Megatron AG of
  // M = 2·131072·4096 over 8 ranks is (7/8)·M.
  JobConfig job = long_job("megatron-sp", 8);
  const LoweredStep step = lower(test::llama3_8b(), job);
  for (const auto& task : test::segment(step.graph, "layer_fwd").tasks) {
    if (task.kind == TaskKind::kCollective && task.comm == CommKind::kAllGather) {
      EXPECT_DOUBLE_EQ(task.bytes, bytes_sent_per_gpu(CommKind::kAllGather, 2.0 * 131072 * 4096, 8));
    }
  }
}

}  // namespace
}  // namespace spsim
