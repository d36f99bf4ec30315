// torchtitan's op-level selective activation checkpointing (--recompute op): what a layer keeps,
// what its backward re-runs, the FLOP it adds, and the framework rules around it, by hand on
// Llama-3-8B (h = 4096, 32 heads of 128, 8 KV heads: kv width 1024, f = 14336, SwiGLU) at
// b = 1, s = 8192, bf16, on one GPU of a data-parallel job.
#include <string_view>

#include "spsim/flops.h"
#include "spsim/model.h"
#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

constexpr double kT = 8192, kH = 4096, kQ = 4096, kKv = 1024, kF = 14336, kHeads = 32;

LayerShard shard(Recompute recompute) {
  LayerShard s;
  s.micro_batch = 1;
  s.dense_tokens = s.norm_tokens = s.attn_q_tokens = s.attn_kv_tokens = 8192;
  s.tensor_parallel = 1;
  s.attn_heads = 32;
  s.attn_kv_heads = 8;
  s.attn_mask_fraction = 0.5;
  s.precision = Precision::kBf16;
  s.recompute = recompute;
  s.attention_kernel = AttentionKernel::kFlash;
  return s;
}

double sum(const std::vector<OpCost>& ops, double OpCost::*field) {
  double total = 0;
  for (const auto& op : ops) total += op.*field;
  return total;
}

const OpCost& op_named(const std::vector<OpCost>& ops, std::string_view name) {
  for (const auto& op : ops) {
    if (name == op.name) return op;
  }
  ADD_FAILURE() << "no op " << name;
  return ops.front();
}

JobConfig torchtitan_job(Recompute recompute) {
  JobConfig job = test::long_job("dp", 8);
  job.seq_length = 8192;
  job.framework = "fsdp";
  job.zero_stage = 3;
  job.recompute = recompute;
  return job;
}

TEST(OpLevelCheckpointing, KeepsTheBlockInputSdpaAndEveryOtherMatmulOutput) {
  // The block input, wq's output (q width), wv's (kv width), the SDPA output (q width), w1's (f)
  // and w2's (h), 2 bytes each, and the fp32 log-sum-exp per head and token:
  // 2·8192·(4096 + 4096 + 1024 + 4096 + 14336 + 4096) + 4·8192·32 = 521,142,272 bytes.
  const auto ops = layer_ops(test::llama3_8b(), shard(Recompute::kOp));
  EXPECT_DOUBLE_EQ(sum(ops, &OpCost::saved_bytes),
                   2 * kT * (kH + kQ + kKv + kQ + kF + kH) + 4 * kT * kHeads);
  EXPECT_DOUBLE_EQ(sum(ops, &OpCost::saved_bytes), 521142272.0);
  // Less than without recompute (139,392 bytes a token, activation_memory_test.cc), more than
  // full recompute (the input alone).
  EXPECT_LT(sum(ops, &OpCost::saved_bytes), 139392.0 * kT);
  EXPECT_GT(sum(ops, &OpCost::saved_bytes), 2 * kT * kH);
}

TEST(OpLevelCheckpointing, BackwardReRunsWkWoW3AndTheElementwiseOpsNotSdpa) {
  const auto none = layer_ops(test::llama3_8b(), shard(Recompute::kNone));
  const auto op = layer_ops(test::llama3_8b(), shard(Recompute::kOp));
  ASSERT_EQ(none.size(), op.size());
  // GEMMs re-run: wk (h x kv), wo (q x h), w3 (h x f), 2 FLOP a multiply-add on every token:
  // 2·8192·(4096·1024 + 4096·4096 + 4096·14336) = 1,305,670,057,984.
  const double gemm_rerun = 2 * kT * (kH * kKv + kQ * kH + kH * kF);
  EXPECT_DOUBLE_EQ(gemm_rerun, 1305670057984.0);
  double elementwise_fwd = 0;
  for (const auto& o : none) {
    if (o.op_class == OpClass::kMemoryBound) elementwise_fwd += o.fwd_flops;
  }
  EXPECT_DOUBLE_EQ(sum(op, &OpCost::bwd_flops) - sum(none, &OpCost::bwd_flops), gemm_rerun + elementwise_fwd);
  // Per op: wk's share of the fused QKV GEMM, all of wo, half of the gate+up GEMM,
  // none of w2; SDPA's backward is the plain flash backward.
  auto extra = [&](std::string_view name) {
    return op_named(op, name).bwd_flops - op_named(none, name).bwd_flops;
  };
  EXPECT_DOUBLE_EQ(extra("qkv_proj"), 2 * kT * kH * kKv);
  EXPECT_DOUBLE_EQ(extra("out_proj"), 2 * kT * kQ * kH);
  EXPECT_DOUBLE_EQ(extra("mlp_up"), 2 * kT * kH * kF);
  EXPECT_DOUBLE_EQ(extra("mlp_down"), 0.0);
  EXPECT_DOUBLE_EQ(extra("attention_core"), 0.0);
  EXPECT_DOUBLE_EQ(extra("mlp_act"), op_named(none, "mlp_act").fwd_flops);
  // The forward is unchanged.
  EXPECT_DOUBLE_EQ(sum(op, &OpCost::fwd_flops), sum(none, &OpCost::fwd_flops));
}

TEST(OpLevelCheckpointing, HardwareFlopsCountTheReRunMatmuls) {
  JobConfig none = torchtitan_job(Recompute::kNone);
  none.global_batch_size = 8;
  JobConfig op = none;
  op.recompute = Recompute::kOp;
  // 32 layers x 2 x (8 x 8192 tokens) x (h·kv + q·h + h·f).
  const double rerun = 32 * 2 * (8 * kT) * (kH * kKv + kQ * kH + kH * kF);
  EXPECT_DOUBLE_EQ(step_flops(test::llama3_8b(), op).hardware - step_flops(test::llama3_8b(), none).hardware,
                   rerun);
  EXPECT_DOUBLE_EQ(step_flops(test::llama3_8b(), op).model, step_flops(test::llama3_8b(), none).model);
}

TEST(OpLevelCheckpointing, SitsBetweenNoRecomputeAndFullInMemoryAndTime) {
  const LoweredStep none = test::lower(test::llama3_8b(), torchtitan_job(Recompute::kNone));
  const LoweredStep op = test::lower(test::llama3_8b(), torchtitan_job(Recompute::kOp));
  const LoweredStep full = test::lower(test::llama3_8b(), torchtitan_job(Recompute::kFull));
  EXPECT_LT(op.memory.activations, none.memory.activations);
  EXPECT_GT(op.memory.activations, full.memory.activations);
  EXPECT_EQ(op.job.recompute, Recompute::kOp);
}

TEST(OpLevelCheckpointing, OnlyTorchtitanRunsItAndOnlyWhereThePolicyIsDescribed) {
  JobConfig megatron = torchtitan_job(Recompute::kOp);
  megatron.framework = "megatron";
  EXPECT_THROW_MSG(test::lower(test::llama3_8b(), megatron), InputError, "has no --recompute op");
  // torchtitan has no core-attention-only policy like Megatron's selective.
  EXPECT_THROW_MSG(test::lower(test::llama3_8b(), torchtitan_job(Recompute::kSelective)), InputError,
                   "has no --recompute selective (its modes: none, full, op)");
  JobConfig fp8 = torchtitan_job(Recompute::kOp);
  fp8.precision = Precision::kFp8;
  EXPECT_THROW_MSG(test::lower(test::llama3_8b(), fp8), InputError, "_scaled_mm");
  JobConfig tp = torchtitan_job(Recompute::kOp);
  tp.strategy = "megatron-sp";
  tp.tensor_parallel = 2;
  EXPECT_THROW_MSG(test::lower(test::llama3_8b(), tp), InputError, "--tp > 1");
  JobConfig cp = torchtitan_job(Recompute::kOp);
  cp.strategy = "ring";
  cp.ring_degree = 2;
  EXPECT_THROW_MSG(test::lower(test::llama3_8b(), cp), InputError, "context parallelism");
  EXPECT_THROW_MSG(parse_recompute("ops", "--recompute"), InputError, "use none, selective, full or op");
  // Biases turn mm into addmm (not counted, not saved), a GeLU MLP has two matrices: not the block
  // the policy was read for.
  ModelSpec biased = test::llama3_8b();
  biased.qkv_bias = true;
  EXPECT_THROW_MSG(test::lower(biased, torchtitan_job(Recompute::kOp)), InputError, "torchtitan's Llama block");
  ModelSpec gelu = test::llama3_8b();
  gelu.gated_mlp = false;
  EXPECT_THROW_MSG(test::lower(gelu, torchtitan_job(Recompute::kOp)), InputError, "torchtitan's Llama block");
}

}  // namespace
}  // namespace spsim
