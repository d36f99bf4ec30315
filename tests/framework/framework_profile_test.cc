// Framework profiles: the rules each framework enforces, and what a profile changes in the
// lowered step (gradient bytes and schedule, collective calls, FP8 casts, the loss kernels, the
// 16-bit LM head, Megatron's selective recompute), each by hand on Llama-3-8B.
#include <string_view>

#include "spsim/collective.h"
#include "spsim/engine.h"
#include "spsim/framework.h"
#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

using test::long_job;
using test::lower;

const Task* find_task(const Segment& seg, std::string_view name) {
  for (const auto& task : seg.tasks) {
    if (name == task.name) return &task;
  }
  return nullptr;
}

TEST(FrameworkRules, EachFrameworkRefusesWhatItCannotRun) {
  JobConfig job = long_job("ring", 8);
  job.zero_stage = 2;
  EXPECT_THROW_MSG(lower(test::llama3_8b(), job), InputError, "no ZeRO-2");
  job.framework = "fsdp";  // FSDP2 without resharding after forward is ZeRO-2
  EXPECT_NO_THROW(lower(test::llama3_8b(), job));
  JobConfig ds = long_job("ulysses", 16);
  ds.ulysses_degree = 8;
  ds.pipeline_parallel = 2;
  ds.zero_stage = 2;
  ds.global_batch_size = 2;
  EXPECT_THROW_MSG(lower(test::llama3_8b(), ds), InputError, "pipeline parallelism");
  JobConfig fsdp = long_job("ulysses", 8);
  fsdp.framework = "fsdp";
  EXPECT_THROW_MSG(lower(test::llama3_8b(), fsdp), InputError, "does not run strategy ulysses");
  JobConfig typo = long_job("ring", 8);
  typo.framework = "megatorn";
  EXPECT_THROW_MSG(lower(test::llama3_8b(), typo), InputError, "did you mean \"megatron\"");
  // TE's a2a context parallelism needs kv_heads % cp == 0: Megatron does not replicate KV heads.
  JobConfig a2a = long_job("ulysses", 16);
  a2a.framework = "megatron";
  EXPECT_THROW_MSG(lower(test::llama3_8b(), a2a), InputError, "megatron does not replicate KV heads");
  EXPECT_THROW_MSG(lower(test::llama3_8b(), a2a), InputError, "use --framework deepspeed");
}

// torchtitan under pipeline parallelism: PyTorch pipelining keeps each stage's gradients until
// the last micro-batch and torchtitan keeps the parameters gathered (ZeRO-1), or regathers them
// per micro-batch (ZeRO-3); ZeRO-2 does not exist there, and ZeRO-1 only there.
TEST(FrameworkRules, TorchtitanUnderPipelineParallelismIsZero1OrZero3) {
  JobConfig job = long_job("ring", 16);
  job.framework = "fsdp";
  job.ring_degree = 4;
  job.pipeline_parallel = 2;
  job.global_batch_size = 4;
  job.zero_stage = 2;
  EXPECT_THROW_MSG(lower(test::llama3_8b(), job), InputError, "no ZeRO-2; use --zero 1");
  job.zero_stage = 1;
  const LoweredStep zero1 = lower(test::llama3_8b(), job);
  job.zero_stage = 0;
  const LoweredStep zero0 = lower(test::llama3_8b(), job);
  job.zero_stage = 3;
  const LoweredStep zero3 = lower(test::llama3_8b(), job);
  // ZeRO-1: gradients and parameters as without sharding, optimizer states sharded.
  EXPECT_DOUBLE_EQ(zero1.memory.grads, zero0.memory.grads);
  EXPECT_DOUBLE_EQ(zero1.memory.params, zero0.memory.params);
  EXPECT_LT(zero1.memory.optimizer, zero0.memory.optimizer);
  EXPECT_LT(zero3.memory.params, zero1.memory.params);
  JobConfig flat = long_job("ring", 8);
  flat.framework = "fsdp";
  flat.zero_stage = 1;
  EXPECT_THROW_MSG(lower(test::llama3_8b(), flat), InputError, "under pipeline parallelism only");
}

TEST(FrameworkRules, TheResolvedJobSaysWhichFramework) {
  EXPECT_EQ(lower(test::llama3_8b(), long_job("ulysses", 8)).job.framework, "deepspeed");
  EXPECT_EQ(lower(test::llama3_8b(), long_job("ring", 8)).job.framework, "megatron");
  JobConfig dp = long_job("dp", 8);
  dp.seq_length = 8192;
  const LoweredStep step = lower(test::llama3_8b(), dp);
  EXPECT_EQ(step.job.framework, "megatron");
  EXPECT_EQ(step.job.data_parallel, 8);
  EXPECT_EQ(step.job.attention_impl, "cudnn");
  dp.tensor_parallel = 2;
  EXPECT_THROW_MSG(lower(test::llama3_8b(), dp), InputError, "strategy dp splits neither");
}

TEST(FrameworkProfile, DeepSpeedZero2ReducesEveryMicroBatchWithAllReduceBuckets) {
  // u = 8 on 8 GPUs, 4 micro-batches: every backward reduces (DeepSpeed ZeRO-2), as an
  // all-reduce (use_multi_rank_bucket_allreduce); Megatron ZeRO-1 only in the last micro-batch.
  JobConfig job = long_job("ulysses", 8);
  job.zero_stage = 2;
  job.global_batch_size = 4;
  const LoweredStep ds = lower(test::llama3_8b(), job);
  const Segment& bwd = test::segment(ds.graph, "layer_bwd", When::kEveryMicroBatch);
  EXPECT_EQ(test::count_of(bwd, Category::kDataParallel, CommKind::kAllReduce), 1);
  JobConfig ring = long_job("ring", 8);
  ring.zero_stage = 1;
  ring.global_batch_size = 4;
  const LoweredStep mg = lower(test::llama3_8b(), ring);
  EXPECT_EQ(test::count_of(test::segment(mg.graph, "layer_bwd", When::kAllButLastMicroBatch),
                           Category::kDataParallel, CommKind::kReduceScatter), 0);
  EXPECT_EQ(test::count_of(test::segment(mg.graph, "layer_bwd", When::kLastMicroBatch),
                           Category::kDataParallel, CommKind::kReduceScatter), 1);
}

// Where a layer's backward puts the ZeRO-3 gather of the next layer's parameters, per mode, and
// which gather its first kernel waits for (the previous layer's: Task::prev_instance_dep).
TEST(FrameworkProfile, Zero3GatherOrderFollowsTheFrameworksPrefetch) {
  auto index_of = [](const Segment& seg, std::string_view name) {
    for (size_t i = 0; i < seg.tasks.size(); ++i) {
      if (name == seg.tasks[i].name) return static_cast<int>(i);
    }
    return -1;
  };
  struct Case {
    const char* framework;
    const char* mode;      // JobConfig::backward_prefetch ("" = the framework's)
    const char* expect;    // pre | post | sync
  };
  for (const Case& k : {Case{"fsdp", "", "pre"}, Case{"deepspeed", "", "post"}, Case{"megatron", "", "pre"},
                        Case{"fsdp", "post", "post"}, Case{"deepspeed", "sync", "sync"},
                        Case{"deepspeed", "pre", "pre"}}) {
    JobConfig job = long_job(std::string_view(k.framework) == "deepspeed" ? "ulysses" : "ring", 8);
    job.framework = k.framework;
    job.zero_stage = 3;
    job.recompute = Recompute::kFull;
    job.backward_prefetch = k.mode;
    const LoweredStep step = lower(test::llama3_8b(), job);
    const Segment& bwd = test::segment(step.graph, "layer_bwd");
    const Segment& fwd = test::segment(step.graph, "layer_fwd");
    const int gather = index_of(bwd, "zero3_param_all_gather");
    const int rs = index_of(bwd, "dp_grad_reduce_scatter");
    const int last_norm = [&] {
      int found = -1;
      for (size_t i = 0; i < bwd.tasks.size(); ++i) {
        if (std::string_view(bwd.tasks[i].name) == "input_norm") found = static_cast<int>(i);
      }
      return found;
    }();
    SCOPED_TRACE(std::string(k.framework) + " " + k.mode);
    ASSERT_GE(gather, 0);
    ASSERT_GT(rs, 0);
    // The layer's first kernel (the recomputed input norm) waits for the previous layer's gather.
    const std::string expect = k.expect;
    if (expect == "pre") {
      EXPECT_EQ(gather, 0);  // issued as the backward starts, before any kernel
      EXPECT_EQ(bwd.tasks[0].deps[0], -1);
      EXPECT_EQ(bwd.tasks[1].prev_instance_dep, gather);
      // At most one layer ahead: it waits until the previous layer's backward began.
      EXPECT_EQ(bwd.tasks[0].prev_instance_dep, 1);
    } else {
      EXPECT_EQ(bwd.tasks[0].prev_instance_dep, gather);
      EXPECT_EQ(bwd.tasks[gather].deps[0], last_norm);  // once the gradients are computed
      // post: ahead of the reduce-scatter on the data stream; sync: behind it.
      EXPECT_EQ(gather < rs, expect == "post");
    }
    // The forward's gather runs one layer ahead (it waits until the previous layer's first kernel
    // ran), except a synchronous one, which waits for the whole layer before.
    const int fwd_gather = index_of(fwd, "zero3_param_all_gather");
    ASSERT_EQ(fwd_gather, 0);
    EXPECT_EQ(fwd.tasks[0].prev_instance_dep,
              expect == "sync" ? static_cast<int>(fwd.tasks.size()) - 1 : 1);
  }
}

// The dtype of the data-parallel gradient traffic. Llama-3-8B's layer is 218,112,000 parameters.
// Megatron reduces its fp32 main grads (4 bytes); DeepSpeed casts to communication_data_type, the
// model's bf16 (2 bytes) even when it accumulates in fp32, and fp32 (4 bytes) whenever the job
// splits the sequence (seq_parallel_communication_data_type). Without ZeRO every layer's
// gradients are all-reduced: 2 (n-1)/n of them per GPU.
TEST(FrameworkProfile, GradientTrafficDtypeFollowsTheFramework) {
  constexpr double kLayer = 218112000;
  struct Case {
    const char* framework;
    const char* strategy;
    int64_t ulysses, ring, dp;
    const char* grad_reduce_dtype;
    double bytes_per_element;
  };
  for (const Case& k : {Case{"deepspeed", "dp", 1, 1, 8, "", 2}, Case{"deepspeed", "dp", 1, 1, 8, "fp32", 2},
                        Case{"deepspeed", "ulysses", 8, 1, 1, "", 4}, Case{"deepspeed", "ring", 1, 8, 1, "", 2},
                        Case{"deepspeed", "usp", 2, 4, 1, "", 4}, Case{"megatron", "ring", 1, 8, 1, "", 4},
                        Case{"megatron", "ring", 1, 8, 1, "bf16", 2}}) {
    JobConfig job = long_job(k.strategy, 8);
    job.seq_length = 8192;
    job.framework = k.framework;
    job.ulysses_degree = k.ulysses;
    job.ring_degree = k.ring;
    job.data_parallel = k.dp;
    // ZeRO-1 (DeepSpeed all-reduces its buckets; fp32 accumulation there runs BF16_Optimizer,
    // whose reduction casts to the communication dtype too: engine.allreduce_bucket).
    job.zero_stage = 1;
    job.grad_reduce_dtype = k.grad_reduce_dtype;
    const LoweredStep step = lower(test::llama3_8b(), job);
    const Task* ar = find_task(test::segment(step.graph, "layer_bwd"), std::string_view(k.framework) == "megatron"
                                                                         ? "dp_grad_reduce_scatter"
                                                                         : "dp_grad_all_reduce");
    ASSERT_NE(ar, nullptr) << k.framework << " " << k.strategy;
    // All-reduce 2 (n-1)/n of the buffer; Megatron's distributed optimizer reduce-scatters (n-1)/n.
    const double passes = std::string_view(k.framework) == "megatron" ? 1.0 : 2.0;
    EXPECT_DOUBLE_EQ(ar->bytes, passes * 7.0 / 8.0 * kLayer * k.bytes_per_element)
        << k.framework << " " << k.strategy << " grad_reduce_dtype=" << k.grad_reduce_dtype;
  }
  // Without ZeRO DeepSpeed refuses a 16-bit model with fp32 gradient accumulation.
  JobConfig mix = long_job("dp", 8);
  mix.seq_length = 8192;
  mix.framework = "deepspeed";
  mix.grad_reduce_dtype = "fp32";
  EXPECT_THROW_MSG(lower(test::llama3_8b(), mix), InputError, "without ZeRO");
  // The pipeline engine's tied-weight all-reduce sends the accumulated gradient as it is: bf16
  // under Ulysses, although the DP reduction is fp32 (a tied 8B Llama on two stages).
  ModelSpec tied = test::llama3_8b();
  tied.tied_embeddings = true;
  JobConfig pp = long_job("ulysses", 8);
  pp.seq_length = 8192;
  pp.ulysses_degree = 2;
  pp.pipeline_parallel = 2;
  pp.global_batch_size = 4;
  const LoweredStep piped = lower(tied, pp);
  bool found = false;
  for (const auto& seg : piped.graph.segments) {
    for (const auto& task : seg.tasks) {
      if (std::string_view(task.name) != "tied_embedding_all_reduce") continue;
      found = true;
      EXPECT_DOUBLE_EQ(task.bytes, 2.0 * 128256 * 4096);  // the tied [V, h] weight's gradient
    }
  }
  EXPECT_TRUE(found);
}

TEST(FrameworkProfile, CollectiveCallsFollowTheFrameworksGranularity) {
  // ZeRO-3 parameter gathers: DeepSpeed fetches Llama's 7 weight matrices (q, k, v, o, gate, up,
  // down) one by one; FSDP2 gathers the layer's flat parameter once.
  JobConfig job = long_job("ulysses", 8);
  job.zero_stage = 3;
  const LoweredStep deepspeed_zero3 = lower(test::llama3_8b(), job);
  const Task* ds = find_task(test::segment(deepspeed_zero3.graph, "layer_fwd"), "zero3_param_all_gather");
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(ds->calls, 7);
  JobConfig fsdp = long_job("ring", 8);
  fsdp.framework = "fsdp";
  fsdp.zero_stage = 3;
  const LoweredStep fsdp_zero3 = lower(test::llama3_8b(), fsdp);
  const Task* ft = find_task(test::segment(fsdp_zero3.graph, "layer_fwd"), "zero3_param_all_gather");
  ASSERT_NE(ft, nullptr);
  EXPECT_EQ(ft->calls, 1);
  // Megatron's buckets: max(4e7, 1e6 x 8) parameters: a 218,112,000-parameter layer is 6 calls.
  JobConfig mg = long_job("ring", 8);
  mg.zero_stage = 1;
  const LoweredStep megatron_zero1 = lower(test::llama3_8b(), mg);
  const Task* rs = find_task(test::segment(megatron_zero1.graph, "layer_bwd"), "dp_grad_reduce_scatter");
  ASSERT_NE(rs, nullptr);
  EXPECT_EQ(rs->calls, 6);
  // Each call pays the collective's latency: 6 calls of an 8-rank ring on one node cost 6 x 7
  // steps x 3.4 us more than one, for the same bytes.
  const Topology h100 = load_topology("dgx-h100");
  GroupPlacement node;
  node.size = 8;
  node.ranks_per_node = 8;
  EXPECT_NEAR(collective_time_s(CommKind::kReduceScatter, 1e9, node, h100, 6) -
                  collective_time_s(CommKind::kReduceScatter, 1e9, node, h100, 1),
              5 * 7 * 3.4e-6, 1e-12);
}

TEST(FrameworkProfile, Fp8CastsByHand) {
  // Llama-3-8B, ring r = 8 at 128K: 16,384 tokens per GPU, h = q = 4096, kv = 1024, f = 14336.
  // Delayed scaling (megatron): forward casts of out_proj's and mlp_down's inputs (qkv's and
  // mlp_up's come from TE's fused norm kernels): 16384 x (4096 + 14336) elements x (2 + 2) bytes
  // = 1,207,959,552; backward casts of the four output gradients: 16384 x (6144 + 4096 + 28672 +
  // 4096) x 4 = 2,818,572,288.
  JobConfig job = long_job("ring", 8);
  job.precision = Precision::kFp8;
  const LoweredStep delayed = lower(test::llama3_8b(), job);
  const Task* fwd = find_task(test::segment(delayed.graph, "layer_fwd"), "fp8_cast");
  const Task* bwd = find_task(test::segment(delayed.graph, "layer_bwd"), "fp8_cast");
  ASSERT_NE(fwd, nullptr);
  ASSERT_NE(bwd, nullptr);
  EXPECT_DOUBLE_EQ(fwd->hbm_bytes, 1207959552.0);
  EXPECT_EQ(fwd->kernels, 2);
  EXPECT_DOUBLE_EQ(bwd->hbm_bytes, 2818572288.0);
  // Current scaling reads each tensor twice (2 x 2 + 2 = 6 bytes) and fuses nothing into the
  // norm: forward 16384 x (4096 + 4096 + 4096 + 14336) x 6 = 2,617,245,696.
  job.fp8_recipe = "current";
  const LoweredStep current_scaling = lower(test::llama3_8b(), job);
  const Task* cur = find_task(test::segment(current_scaling.graph, "layer_fwd"), "fp8_cast");
  ASSERT_NE(cur, nullptr);
  EXPECT_DOUBLE_EQ(cur->hbm_bytes, 2617245696.0);
  EXPECT_EQ(cur->kernels, 4);
  // bf16 jobs quantize nothing.
  EXPECT_EQ(find_task(test::segment(lower(test::llama3_8b(), long_job("ring", 8)).graph, "layer_fwd"), "fp8_cast"),
            nullptr);
}

TEST(FrameworkProfile, TheLmHeadRunsIn16BitInFp8Jobs) {
  JobConfig job = long_job("ring", 8);
  job.precision = Precision::kFp8;
  const LoweredStep step = lower(test::llama3_8b(), job);
  const Task* head = find_task(test::segment(step.graph, "head"), "lm_head");
  ASSERT_NE(head, nullptr);
  EXPECT_TRUE(head->high_precision);
  const Topology h100 = load_topology("dgx-h100");
  // Timed as a bf16 GEMM, not at the fp8 peak.
  Task bf16 = *head;
  bf16.high_precision = false;
  EXPECT_DOUBLE_EQ(compute_time_s(*head, h100, Precision::kFp8), compute_time_s(bf16, h100, Precision::kBf16));
  EXPECT_GT(compute_time_s(*head, h100, Precision::kFp8), compute_time_s(bf16, h100, Precision::kFp8));
}

TEST(FrameworkProfile, LossKernelsFollowTheFrameworksCrossEntropy) {
  // 16,384 tokens x 128,256 logits per GPU (r = 8, t = 1). Megatron-LM's unfused cross entropy:
  // 15.812 ms forward for 8192 x 131072 logits on H100 at 0.77 x 3.35 TB/s = 37.99 bytes a logit;
  // NeMo's TE fused kernel 2.968 ms = 7.13 bytes a logit (framework.h).
  const double logits = 16384.0 * 128256.0;
  const double per = 0.77 * 3.35e12 / (8192.0 * 131072.0);
  JobConfig job = long_job("ring", 8);
  const LoweredStep megatron_loss = lower(test::llama3_8b(), job);
  const Task* mg = find_task(test::segment(megatron_loss.graph, "head"), "cross_entropy");
  ASSERT_NE(mg, nullptr);
  EXPECT_NEAR(mg->hbm_bytes, logits * 15.812e-3 * per, 1e-3);
  job.framework = "nemo";
  const LoweredStep nemo_loss = lower(test::llama3_8b(), job);
  const Task* nemo = find_task(test::segment(nemo_loss.graph, "head"), "cross_entropy");
  ASSERT_NE(nemo, nullptr);
  EXPECT_NEAR(nemo->hbm_bytes, logits * 2.968e-3 * per, 1e-3);
  EXPECT_NEAR(2.968e-3 * per * 8192.0 * 131072.0 / 1e9, 7.13 * 8192.0 * 131072.0 / 1e9, 0.01 * 1073.7);
}

TEST(FrameworkProfile, MegatronSelectiveRecomputeReRunsFlashAttention) {
  // recompute_modules ["core_attn"]: the attention forward runs again in the backward, before its
  // backward kernel (one more attention task, not a backward one).
  JobConfig job = long_job("megatron-sp", 8);
  job.tensor_parallel = 8;
  job.recompute = Recompute::kSelective;
  const LoweredStep selective = lower(test::llama3_8b(), job);
  const Segment& bwd = test::segment(selective.graph, "layer_bwd");
  int forward_calls = 0, backward_calls = 0;
  for (const auto& task : bwd.tasks) {
    if (task.op_class != OpClass::kAttention) continue;
    (task.backward_kernel ? backward_calls : forward_calls) += 1;
  }
  EXPECT_EQ(forward_calls, 1);
  EXPECT_EQ(backward_calls, 1);
  job.recompute = Recompute::kNone;
  forward_calls = 0;
  const LoweredStep no_recompute = lower(test::llama3_8b(), job);
  for (const auto& task : test::segment(no_recompute.graph, "layer_bwd").tasks) {
    if (task.op_class == OpClass::kAttention && !task.backward_kernel) ++forward_calls;
  }
  EXPECT_EQ(forward_calls, 0);
}

TEST(FrameworkProfile, AttentionImplementationComesFromTheFrameworkOrTheJob) {
  // DeepSpeed's HF models call flash-attn 2; TE prefers cuDNN; a launcher can force either.
  auto impl_of = [](const JobConfig& job) {
    const LoweredStep lowered = lower(test::llama3_8b(), job);
    for (const auto& task : test::segment(lowered.graph, "layer_fwd").tasks) {
      if (task.op_class == OpClass::kAttention) return task.attention_impl;
    }
    return AttentionImpl::kCudnn;
  };
  EXPECT_EQ(impl_of(long_job("ulysses", 8)), AttentionImpl::kFlash2);
  EXPECT_EQ(impl_of(long_job("ring", 8)), AttentionImpl::kCudnn);
  JobConfig forced = long_job("ring", 8);
  forced.attention_impl = "flash2";
  EXPECT_EQ(impl_of(forced), AttentionImpl::kFlash2);
}

TEST(FrameworkProfile, TransformerEngineKeepsAndGathersFp8GemmInputsQuantized) {
  // Llama-3-8B, megatron-sp t = 8 at 128K: one SP all-gather moves 7/8 of 131072 x 4096 elements,
  // 2 bytes each in bf16 and under torchtitan's FP8 (torchao, dtype-agnostic TP), 1 under TE's.
  JobConfig job = long_job("megatron-sp", 8);
  job.tensor_parallel = 8;
  const double elements = 7.0 / 8.0 * 131072.0 * 4096.0;
  const LoweredStep bf16 = lower(test::llama3_8b(), job);
  job.precision = Precision::kFp8;
  const LoweredStep te = lower(test::llama3_8b(), job);
  job.framework = "fsdp";
  const LoweredStep torchao = lower(test::llama3_8b(), job);
  const Task* gather_bf16 = find_task(test::segment(bf16.graph, "layer_fwd"), "tp_all_gather");
  const Task* gather_te = find_task(test::segment(te.graph, "layer_fwd"), "tp_all_gather");
  const Task* gather_torchao = find_task(test::segment(torchao.graph, "layer_fwd"), "tp_all_gather");
  ASSERT_TRUE(gather_bf16 && gather_te && gather_torchao);
  EXPECT_DOUBLE_EQ(gather_bf16->bytes, 2 * elements);
  EXPECT_DOUBLE_EQ(gather_te->bytes, elements);
  EXPECT_DOUBLE_EQ(gather_torchao->bytes, 2 * elements);
  // Saved activations: TE keeps qkv's, out_proj's, mlp_up's and mlp_down's inputs in 1 byte
  // instead of 2: per layer 16384 local tokens x 4096 (qkv, mlp_up) + 131072 tokens x
  // (4096 + 14336) / 8 (out_proj, mlp_down) = 436,207,616 bytes less, over 32 layers.
  const double per_layer = 16384.0 * 4096 * 2 + 131072.0 * (4096 + 14336) / 8;
  EXPECT_DOUBLE_EQ(per_layer, 436207616.0);
  JobConfig bf16_job = job;
  bf16_job.framework = "megatron";
  bf16_job.precision = Precision::kBf16;
  EXPECT_NEAR(lower(test::llama3_8b(), bf16_job).memory.activations - te.memory.activations, 32 * per_layer, 1.0);
}

}  // namespace
}  // namespace spsim
