// Mixture-of-experts layers as Megatron-Core runs them by default (layer_ops.cc): expert
// parallelism 1, expert TP = TP, the allgather dispatcher, one GEMM per expert. Hand vectors on
// Mixtral-8x7B (h 4096, 8 experts of F = 14336, top-2, SwiGLU, 32 layers, 32 query and 8 KV heads
// of 128).
#include <string>

#include <gtest/gtest.h>

#include "spsim/error.h"
#include "spsim/flops.h"
#include "spsim/job.h"
#include "spsim/model.h"
#include "spsim/strategy.h"
#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

constexpr double kH = 4096, kF = 14336, kExperts = 8, kTopK = 2;

ModelSpec mixtral() { return load_model("mixtral-8x7b"); }

const OpCost& op_named(const std::vector<OpCost>& ops, const std::string& name) {
  for (const auto& op : ops) {
    if (name == op.name) return op;
  }
  ADD_FAILURE() << "no op " << name;
  static const OpCost none;
  return none;
}

// Megatron-SP t = 2 over one 4,096-token sequence: the GEMMs see the TP group's 4,096 tokens,
// the router and the norms this GPU's 2,048.
LayerShard tp2_shard() {
  LayerShard shard;
  shard.micro_batch = 1;
  shard.dense_tokens = 4096;
  shard.norm_tokens = 2048;
  shard.tensor_parallel = 2;
  shard.attn_heads = 16;
  shard.attn_kv_heads = 4;
  shard.attn_q_tokens = 4096;
  shard.attn_kv_tokens = 4096;
  shard.attn_mask_fraction = 0.5;
  return shard;
}

TEST(MoeLayer, RoutedExpertsAndRoutingByHand) {
  const std::vector<OpCost> ops = layer_ops(mixtral(), tp2_shard());
  ASSERT_EQ(ops.size(), 14u);
  // N = 4,096 tokens x top-2 = 8,192 rows reach the experts; each expert's fc1 is [h, 2F/t].
  const double n = 4096 * kTopK;
  const OpCost& up = op_named(ops, "mlp_up");
  EXPECT_DOUBLE_EQ(up.fwd_flops, 2 * n * kH * 2 * kF / 2);
  EXPECT_DOUBLE_EQ(up.bwd_flops, 2 * up.fwd_flops);
  EXPECT_EQ(up.kernels, 8);  // SequentialMLP: one GEMM per expert
  // Its bytes: the N rows in, all 8 experts' weights, the N x 2F/t output.
  EXPECT_DOUBLE_EQ(up.fwd_bytes, 2 * (n * kH + kExperts * kH * 2 * kF / 2 + n * 2 * kF / 2));
  const OpCost& down = op_named(ops, "mlp_down");
  EXPECT_DOUBLE_EQ(down.fwd_flops, 2 * n * kF / 2 * kH);
  EXPECT_EQ(down.kernels, 8);
  // The router: [2,048 x 4,096] x [4,096 x 8], on this GPU's own tokens.
  const OpCost& router = op_named(ops, "moe_router");
  EXPECT_DOUBLE_EQ(router.fwd_flops, 2 * 2048 * kH * kExperts);
  // Saved for the backward: the permuted rows (fc1's input), fc1's output, the probabilities, fc2's
  // input; the router's input, [2,048 x 2] fp32 softmax and two int64 index tensors; the
  // permutation's int64 row indices twice.
  EXPECT_DOUBLE_EQ(up.saved_bytes, 2 * n * kH);
  EXPECT_DOUBLE_EQ(op_named(ops, "mlp_act").saved_bytes, 2 * 2 * n * kF / 2 + 2 * n);
  EXPECT_DOUBLE_EQ(down.saved_bytes, 2 * n * kF / 2);
  EXPECT_DOUBLE_EQ(router.saved_bytes, 2 * 2048 * kH + 2048 * kTopK * (4 + 8));
  EXPECT_DOUBLE_EQ(op_named(ops, "moe_permute").saved_bytes + op_named(ops, "moe_unpermute").saved_bytes, 8 * n);
  EXPECT_EQ(op_named(ops, "mlp_act").kernels, 8);  // each expert's MLP runs its own activation
  // Backward traffic: the split's concatenated input gradients (2N rows), the zero-fill and
  // index_add into the 4,096 gathered rows; the unpermute's gather of N rows.
  EXPECT_DOUBLE_EQ(op_named(ops, "moe_permute").bwd_bytes, 2 * (3 * n + 2 * 4096) * kH);
  EXPECT_DOUBLE_EQ(op_named(ops, "moe_unpermute").bwd_bytes, 2 * 2 * n * kH);
  // Full recompute keeps the layer input alone, whatever the experts hold.
  LayerShard full = tp2_shard();
  full.recompute = Recompute::kFull;
  double saved = 0;
  for (const auto& op : layer_ops(mixtral(), full)) saved += op.saved_bytes;
  EXPECT_DOUBLE_EQ(saved, 2 * 2048 * kH);
}

TEST(MoeLayer, ExpertWidthIsNotTheDenseWidth) {
  // Qwen3-30B-A3B: 128 experts of 768 (its dense intermediate_size 6144 is unused), top-8.
  const ModelSpec qwen = load_model("qwen3-30b-a3b");
  LayerShard shard = tp2_shard();
  shard.attn_kv_heads = 2;
  const std::vector<OpCost> ops = layer_ops(qwen, shard);
  const double n = 4096 * 8.0, h = 2048;
  EXPECT_DOUBLE_EQ(op_named(ops, "mlp_up").fwd_flops, 2 * n * h * 2 * 768 / 2);
  EXPECT_DOUBLE_EQ(op_named(ops, "mlp_down").fwd_flops, 2 * n * 768 / 2 * h);
  EXPECT_EQ(op_named(ops, "mlp_down").kernels, 128);
  // Without TP the layer has no dispatch collective: each GPU routes and gathers nothing.
  JobConfig ring = test::long_job("ring", 8);
  ring.seq_length = 32768;
  const LoweredStep step = test::lower(qwen, ring);
  for (const auto& task : test::segment(step.graph, "layer_fwd").tasks) {
    EXPECT_NE(std::string(task.name), "moe_dispatch_all_gather");
  }
}

TEST(MoeLayer, LoweredLayerGathersTokensMapAndProbabilities) {
  JobConfig job = test::long_job("megatron-sp", 8);
  job.tensor_parallel = 8;
  job.seq_length = 8192;
  job.framework = "megatron";
  const LoweredStep step = test::lower(mixtral(), job);
  const Segment& fwd = test::segment(step.graph, "layer_fwd");
  const Task* gather = nullptr;
  const Task* up = nullptr;
  for (const auto& task : fwd.tasks) {
    if (std::string(task.name) == "moe_dispatch_all_gather") gather = &task;
    if (std::string(task.name) == "mlp_up") up = &task;
  }
  ASSERT_NE(gather, nullptr);
  ASSERT_NE(up, nullptr);
  // (7/8) of the gathered [8,192 x 4,096] bf16 tokens, [8,192 x 8] bool map and bf16 probabilities.
  EXPECT_DOUBLE_EQ(gather->bytes, 7.0 / 8 * (2 * 8192 * kH + 8192 * kExperts * 3));
  EXPECT_EQ(gather->calls, 3);
  EXPECT_EQ(up->kernels, 8);
  bool backward_reduces_probs = false;
  for (const auto& task : test::segment(step.graph, "layer_bwd").tasks) {
    if (std::string(task.name) == "moe_dispatch_reduce_scatter") {
      backward_reduces_probs = true;
      EXPECT_DOUBLE_EQ(task.bytes, 7.0 / 8 * (2 * 8192 * kH + 2 * 8192 * kExperts));
    }
    if (std::string(task.name) == "mlp_up") {
      EXPECT_EQ(task.kernels, 16);  // dgrad and wgrad per expert
    }
  }
  EXPECT_TRUE(backward_reduces_probs);
  // Every expert on every GPU, split 8 ways; the router whole: a layer's parameters on this GPU.
  const ModelSpec m = mixtral();
  const double router = kExperts * kH;
  const double layer_local = (static_cast<double>(m.layer_params(0)) - router) / 8 + router;
  EXPECT_DOUBLE_EQ(step.memory.params,
                   2 * (32 * layer_local + static_cast<double>(m.embedding_params()) / 8));
}

TEST(MoeLayer, ModelFlopsCountTheActiveExperts) {
  // The model convention counts a MoE layer as a dense MLP of k x F (Megatron's
  // num_floating_point_operations); the executed ("hardware") count adds the router's GEMM.
  const ModelSpec moe = mixtral();
  ModelSpec dense = moe;
  dense.moe = MoeSpec{};
  dense.ffn_hidden_size = static_cast<int64_t>(kTopK * kF);
  JobConfig job;
  job.num_gpus = 8;
  job.tensor_parallel = 8;
  job.seq_length = 4096;
  job.micro_batch_size = 1;
  job.global_batch_size = 1;
  const StepFlops a = step_flops(moe, job), b = step_flops(dense, job);
  EXPECT_DOUBLE_EQ(a.model, b.model);
  EXPECT_DOUBLE_EQ(a.hardware - b.hardware, 3 * 32 * 2 * 4096 * kH * kExperts);
}

TEST(MoeLayer, WhatIsNotCostedIsRefused) {
  auto lower_with = [](const std::string& model, auto&& edit) {
    JobConfig job = test::long_job("megatron-sp", 8);
    job.tensor_parallel = 8;
    job.seq_length = 8192;
    job.framework = "megatron";
    edit(job);
    return test::lower(load_model(model), job);
  };
  auto none = [](JobConfig&) {};
  EXPECT_THROW_MSG(lower_with("deepseek-v3", none), InputError, "multi-head latent attention");
  EXPECT_THROW_MSG(lower_with("qwen2-57b-a14b", none), InputError, "shared experts");
  EXPECT_THROW_MSG(lower_with("mixtral-8x7b",
                              [](JobConfig& j) {
                                j.strategy = "ring";
                                j.tensor_parallel = 1;
                                j.framework = "deepspeed";
                              }),
                   InputError, "--framework megatron or nemo");
  EXPECT_THROW_MSG(lower_with("mixtral-8x7b", [](JobConfig& j) { j.precision = Precision::kFp8; }), InputError,
                   "FP8 mixture-of-experts");
  EXPECT_THROW_MSG(lower_with("mixtral-8x7b", [](JobConfig& j) { j.strategy = "megatron-tp"; }), InputError,
                   "need sequence parallelism");
  EXPECT_THROW_MSG(lower_with("mixtral-8x7b", [](JobConfig& j) { j.zero_stage = 3; }), InputError,
                   "Megatron-FSDP");
  EXPECT_THROW_MSG(lower_with("mixtral-8x7b",
                              [](JobConfig& j) {
                                j.strategy = "colai-sp";
                                j.tensor_parallel = 1;
                                j.framework = "";  // its default, DeepSpeed
                              }),
                   InputError, "ColAI-SP runs under Colossal-AI");
  // Expert TP = TP splits each expert's columns: an expert width t does not divide is refused
  // (the dense intermediate_size, unused, is not checked).
  ModelSpec odd = mixtral();
  odd.moe.expert_ffn_size = 14337;
  odd.ffn_hidden_size = 14337;
  JobConfig tp8 = test::long_job("megatron-sp", 8);
  tp8.tensor_parallel = 8;
  tp8.seq_length = 8192;
  EXPECT_THROW_MSG(test::lower(odd, tp8), InputError, "moe_intermediate_size 14337");
  // Costed: Mixtral and Qwen3-30B-A3B (128 experts of 768, top-8) on the ring.
  JobConfig ring = test::long_job("ring", 8);
  ring.seq_length = 32768;
  for (const char* name : {"mixtral-8x7b", "qwen3-30b-a3b"}) {
    const LoweredStep step = test::lower(load_model(name), ring);
    EXPECT_GT(step.memory.params, 0.0) << name;
  }
}

TEST(MoeLayer, LaunchSettingsCarryTheExperts) {
  // --emit megatron writes the MoE arguments of what spsim costs; the other formats refuse.
  const auto mg = test::run_spsim("run -m mixtral-8x7b -s megatron-sp -t 8 --gpus 16 --seq 32K --zero 1 --emit megatron");
  ASSERT_EQ(mg.exit_code, 0) << mg.err;
  for (const char* arg : {"--num-experts 8", "--moe-router-topk 2", "--moe-ffn-hidden-size 14336",
                          "--moe-token-dispatcher-type allgather", "--expert-model-parallel-size 1"}) {
    EXPECT_NE(mg.out.find(arg), std::string::npos) << arg << "\n" << mg.out;
  }
  const auto nemo = test::run_spsim("run -m mixtral-8x7b -s megatron-sp -t 8 --gpus 16 --seq 32K --emit nemo");
  EXPECT_EQ(nemo.exit_code, 2);
  EXPECT_NE(nemo.err.find("use --emit megatron"), std::string::npos) << nemo.err;
}

}  // namespace
}  // namespace spsim
