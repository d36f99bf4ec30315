// PyTorch's context parallelism as torchtitan runs it (--framework fsdp, --cp-comm-type allgather
// and p2p, torchtitan's "alltoall"):
// hand-computed task counts and bytes of one layer against _attention.py
// (_templated_ring_attention, _SDPAMerger, _templated_ring_attention_backward), and the
// TransformerEngine all-gather CP of Megatron left as it was.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/des_test_util.h"
#include "engine/analytic_engine.h"
#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

// Llama-3-8B, b = 1, s = 128K, r = 4: each GPU holds c = 32768 tokens. torchtitan repeats K,V to
// the 32 query heads before SDPA, so Q, out, K and V each hold N = 32768 x 32 x 128 = 134,217,728
// elements and the logsumexp L = 32768 x 32 = 1,048,576.
JobConfig torch_cp_job(const std::string& framework) {
  JobConfig job = test::long_job("ring", 4);
  job.ring_degree = 4;
  job.ring_comm = "allgather";
  job.framework = framework;
  return job;
}

constexpr double kN = 134217728.0, kL = 1048576.0;

std::vector<const Task*> named(const Segment& seg, const std::string& name) {
  std::vector<const Task*> out;
  for (const auto& task : seg.tasks) {
    if (name == task.name) out.push_back(&task);
  }
  return out;
}

// `seg` has one task called `name`, of these bytes and kernels.
void expect_one(const Segment& seg, const std::string& name, double bytes, int kernels) {
  const auto tasks = named(seg, name);
  ASSERT_EQ(tasks.size(), 1u) << name;
  EXPECT_EQ(tasks[0]->op_class, OpClass::kMemoryBound) << name;
  EXPECT_DOUBLE_EQ(tasks[0]->hbm_bytes, bytes) << name;
  EXPECT_EQ(tasks[0]->kernels, kernels) << name;
}

double attention_flops(const Segment& seg) {
  double flops = 0;
  for (const auto& task : seg.tasks) {
    if (task.kind == TaskKind::kCompute && task.op_class == OpClass::kAttention) flops += task.flops;
  }
  return flops;
}

const Segment& last_bwd(const LoweredStep& step) {
  const Segment* last = nullptr;
  for (const auto& seg : step.graph.segments) {
    if (std::string(seg.name) == "layer_bwd" && seg.when != When::kAllButLastMicroBatch) last = &seg;
  }
  EXPECT_NE(last, nullptr);
  return *last;
}

TEST(TorchContextParallel, ForwardRunsOneSdpaPerChunkAndMergesInFp32) {
  const LoweredStep step = test::lower(test::llama3_8b(), torch_cp_job("fsdp"));
  const Segment& fwd = test::segment(step.graph, "layer_fwd");
  // r = 4 SDPA calls: step 0 the causal diagonal, then three non-causal half-chunk calls.
  const auto calls = named(fwd, "cp_sdpa_step");
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_TRUE(calls[0]->causal_kernel);
  for (size_t i = 1; i < calls.size(); ++i) {
    EXPECT_FALSE(calls[i]->causal_kernel);
    EXPECT_DOUBLE_EQ(calls[i]->flops, calls[0]->flops);  // c²/2 each
  }
  // One all-gather of the repeated K,V: (3/4) x 2 x 2 B x 131072 x 32 x 128.
  EXPECT_EQ(test::count_of(fwd, Category::kContextGather, CommKind::kAllGather), 1);
  EXPECT_DOUBLE_EQ(test::bytes_of(fwd, Category::kContextGather), 1610612736.0);
  EXPECT_EQ(test::bytes_of(fwd, Category::kRingP2P), 0.0);
  // key/value.contiguous() + cat: 3 bf16 copies, 2 x 2 x N + 2 x 2 x 2N = 16N.
  expect_one(fwd, "cp_kv_copy", 16 * kN, 3);
  // Merges: step 0 out.to(fp32) = (2 + 4) N; steps 1..3: to(fp32) 6N + out ops (12 + 8 + 12) N
  // + 4L + lse ops (3 x 12 + 2 x 8) L = 38N + 56L, 9 kernels. Then out.to(bf16) 6N.
  const auto merges = named(fwd, "cp_sdpa_merge");
  ASSERT_EQ(merges.size(), 4u);
  EXPECT_EQ(merges[0]->op_class, OpClass::kMemoryBound);
  EXPECT_DOUBLE_EQ(merges[0]->hbm_bytes, 6 * kN);
  EXPECT_EQ(merges[0]->kernels, 1);
  for (size_t i = 1; i < merges.size(); ++i) {
    EXPECT_DOUBLE_EQ(merges[i]->hbm_bytes, 38 * kN + 56 * kL);
    EXPECT_EQ(merges[i]->kernels, 9);
  }
  // Steps 1 and 2 still concatenate K,V for the rotater: 8N each.
  const auto cats = named(fwd, "cp_kv_cat");
  ASSERT_EQ(cats.size(), 2u);
  EXPECT_DOUBLE_EQ(cats[0]->hbm_bytes, 8 * kN);
  expect_one(fwd, "cp_out_cast", 6 * kN, 1);
}

TEST(TorchContextParallel, BackwardAccumulatesInFp32AndPassesDkvRoundTheRing) {
  const LoweredStep step = test::lower(test::llama3_8b(), torch_cp_job("fsdp"));
  const Segment& bwd = last_bwd(step);
  EXPECT_EQ(named(bwd, "cp_sdpa_step").size(), 4u);
  // K,V gathered again; dK,dV sent in fp32 after each of the 4 steps (permute_tensor): 8N each.
  EXPECT_EQ(test::count_of(bwd, Category::kContextGather, CommKind::kAllGather), 1);
  EXPECT_EQ(test::count_of(bwd, Category::kContextGather, CommKind::kReduceScatter), 0);
  EXPECT_DOUBLE_EQ(test::bytes_of(bwd, Category::kContextGather), 1610612736.0);
  EXPECT_EQ(test::count_of(bwd, Category::kRingP2P, CommKind::kSendRecv), 4);
  EXPECT_DOUBLE_EQ(test::bytes_of(bwd, Category::kRingP2P), 4 * 8 * kN);
  // zeros_like x 3 fp32 (12N) + 2 contiguous copies (8N) + the K,V cat (8N).
  expect_one(bwd, "cp_kv_copy", 28 * kN, 6);
  // fp32 += bf16 is 10 B an element. Step 0: dK, dV, dQ whole (30N) + dK,dV cat (16N) = 46N.
  // Steps 1..3: dK, dV halves (10N) re-concatenated (2 x 8N), dQ (10N), cat (16N) = 52N. Then
  // dQ and dK,dV .to(bf16): 6 x 3N.
  const auto acc = named(bwd, "cp_grad_accumulate");
  ASSERT_EQ(acc.size(), 4u);
  EXPECT_DOUBLE_EQ(acc[0]->hbm_bytes, 46 * kN);
  EXPECT_EQ(acc[0]->kernels, 4);
  for (size_t i = 1; i < acc.size(); ++i) {
    EXPECT_DOUBLE_EQ(acc[i]->hbm_bytes, 52 * kN);
    EXPECT_EQ(acc[i]->kernels, 6);
  }
  EXPECT_EQ(named(bwd, "cp_kv_cat").size(), 2u);
  expect_one(bwd, "cp_grad_cast", 18 * kN, 2);
}

TEST(TorchContextParallel, SameAttentionWorkAsOneKernel) {
  // The load-balanced chunks cover the causal area of (s/r x s) exactly: r·c²/2 = c·s/2.
  const LoweredStep torch = test::lower(test::llama3_8b(), torch_cp_job("fsdp"));
  const LoweredStep te = test::lower(test::llama3_8b(), torch_cp_job("megatron"));
  const Segment& torch_fwd = test::segment(torch.graph, "layer_fwd");
  const Segment& te_fwd = test::segment(te.graph, "layer_fwd");
  EXPECT_NEAR(attention_flops(torch_fwd), attention_flops(te_fwd), 1e-9 * attention_flops(te_fwd));
  EXPECT_NEAR(attention_flops(last_bwd(torch)), attention_flops(last_bwd(te)),
              1e-9 * attention_flops(last_bwd(te)));
}

TEST(TorchContextParallel, MegatronAllGatherStaysOneKernel) {
  // TransformerEngine's all-gather CP: one attention kernel, K,V of the 8 KV heads gathered,
  // dK,dV reduce-scattered; none of PyTorch's per-step tasks.
  const LoweredStep step = test::lower(test::llama3_8b(), torch_cp_job("megatron"));
  const Segment& fwd = test::segment(step.graph, "layer_fwd");
  EXPECT_EQ(named(fwd, "attention_core").size(), 1u);
  EXPECT_TRUE(named(fwd, "cp_sdpa_step").empty());
  EXPECT_TRUE(named(fwd, "cp_sdpa_merge").empty());
  EXPECT_DOUBLE_EQ(test::bytes_of(fwd, Category::kContextGather), 0.75 * 2 * 2 * 131072.0 * 1024);
  const Segment& bwd = last_bwd(step);
  EXPECT_EQ(test::count_of(bwd, Category::kContextGather, CommKind::kReduceScatter), 1);
  EXPECT_EQ(test::bytes_of(bwd, Category::kRingP2P), 0.0);
}

TEST(TorchContextParallel, WithoutLoadBalancingLaterStepsAreFullBlocksOnTheLaterRanks) {
  // enable_load_balance off (basic): step i >= 1 is a full c x c non-causal block that rank j
  // computes only if i <= j (_is_causal_behavior SKIP otherwise); dK, dV added whole.
  JobConfig job = torch_cp_job("fsdp");
  job.ring_variant = "basic";
  const LoweredStep step = test::lower(test::llama3_8b(), job);
  const auto calls = named(test::segment(step.graph, "layer_fwd"), "cp_sdpa_step");
  ASSERT_EQ(calls.size(), 4u);
  EXPECT_DOUBLE_EQ(calls[1]->flops, 2 * calls[0]->flops);
  EXPECT_EQ(calls[2]->work_scale, (std::vector<double>{0, 0, 1, 1}));
  const auto acc = named(last_bwd(step), "cp_grad_accumulate");
  ASSERT_EQ(acc.size(), 4u);
  EXPECT_DOUBLE_EQ(acc[3]->hbm_bytes, 46 * kN);  // as step 0: 30N of adds + 16N dK,dV cat
}

TEST(TorchContextParallel, AllToAllRotaterSendsEachBlock) {
  // --cp-comm-type p2p is torchtitan's "alltoall" rotate method: no all-gather; K,V (2 x 2 B x N)
  // permuted to the next rank before steps 0..2, in both directions, plus the backward's 4 dK,dV.
  JobConfig job = torch_cp_job("fsdp");
  job.ring_comm = "p2p";
  const LoweredStep step = test::lower(test::llama3_8b(), job);
  const Segment& fwd = test::segment(step.graph, "layer_fwd");
  EXPECT_EQ(test::bytes_of(fwd, Category::kContextGather), 0.0);
  EXPECT_EQ(test::count_of(fwd, Category::kRingP2P, CommKind::kSendRecv), 3);
  EXPECT_DOUBLE_EQ(test::bytes_of(fwd, Category::kRingP2P), 3 * 4 * kN);
  EXPECT_EQ(named(fwd, "cp_sdpa_merge").size(), 4u);
  const Segment& bwd = last_bwd(step);
  EXPECT_EQ(test::count_of(bwd, Category::kRingP2P, CommKind::kSendRecv), 7);
  EXPECT_DOUBLE_EQ(test::bytes_of(bwd, Category::kRingP2P), 3 * 4 * kN + 4 * 8 * kN);
}

TEST(TorchContextParallel, NoStripedSplit) {
  JobConfig job = torch_cp_job("fsdp");
  job.ring_variant = "stripe";
  EXPECT_THROW_MSG(test::lower(test::llama3_8b(), job), InputError, "no striped split");
}

TEST(TorchContextParallel, DesMatchesAnalytic) {
  // One node, nothing shared by two flows of one class: the two engines agree within 2 %.
  Topology topology = test::des_topology();
  topology.max_nodes = 0;
  JobConfig job = torch_cp_job("fsdp");
  job.num_gpus = 8;
  job.ring_degree = 8;
  const LoweredStep lowered = test::lower(test::llama3_8b(), job);
  const double analytic = analytic_step(lowered.graph, topology).step_time_s;
  const StepResult des = test::run_des(lowered.graph, topology);
  EXPECT_NEAR(des.step_time_s, analytic, 0.02 * analytic);
}

}  // namespace
}  // namespace spsim
