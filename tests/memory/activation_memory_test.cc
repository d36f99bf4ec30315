// Activation memory against Korthikanti et al. 2022 (arXiv 2205.05198) Table 2 / §4 and the spec
// (sequence-parallelism.md §4), per op (layer_ops) and through the strategies' lowering.
//
// GPT-3 175B shape: h = 12288, a = 96, f = 4h, s = 2048, b = 1, LayerNorm, GeLU, dropout on,
// 16-bit activations. sbh = 2048·12288 = 25,165,824 and 5as/h = 5·96·2048/12288 = 80 (the
// paper's own check).
#include <numeric>

#include "memory/activation_memory.h"
#include "spsim/framework.h"
#include "spsim/memory.h"
#include "spsim/model.h"
#include "spsim/strategy.h"
#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

ModelSpec gpt3_175b() {
  ModelSpec m;
  m.name = "GPT-3-175B";
  m.hidden_size = 12288;
  m.num_layers = 96;
  m.num_attention_heads = 96;
  m.num_key_value_heads = 96;
  m.head_dim = 128;
  m.ffn_hidden_size = 4 * 12288;
  m.vocab_size = 51200;
  m.gated_mlp = false;
  m.norm = NormKind::kLayerNorm;
  m.hidden_dropout = 0.1;
  m.attention_dropout = 0.1;
  return m;
}

constexpr double kS = 2048, kH = 12288, kSbh = kS * kH;

// One layer of GPT-3 on one GPU of a TP group of t (SP: norms on s/t tokens).
LayerShard gpt_shard(int64_t t, bool sp, Recompute recompute, AttentionKernel kernel) {
  LayerShard shard;
  shard.micro_batch = 1;
  shard.dense_tokens = 2048;
  shard.norm_tokens = sp ? 2048 / t : 2048;
  shard.tensor_parallel = t;
  shard.attn_heads = 96 / t;
  shard.attn_kv_heads = 96 / t;
  shard.attn_q_tokens = 2048;
  shard.attn_kv_tokens = 2048;
  shard.attn_mask_fraction = 1.0;  // the paper's standard kernel materialises the full matrix
  shard.precision = Precision::kBf16;
  shard.recompute = recompute;
  shard.attention_kernel = kernel;
  return shard;
}

double saved(const std::vector<OpCost>& ops) {
  double total = 0;
  for (const auto& op : ops) total += op.saved_bytes;
  return total;
}

TEST(KorthikantiActivations, NoParallelism) {
  // sbh(34 + 5as/h) = 25,165,824 x 114 = 2,868,903,936 bytes.
  const auto ops = layer_ops(gpt3_175b(), gpt_shard(1, false, Recompute::kNone, AttentionKernel::kStandard));
  EXPECT_DOUBLE_EQ(saved(ops), kSbh * 114);
}

TEST(KorthikantiActivations, PerOpBreakdown) {
  // §4.1: attention block 11sbh + 5as²b, MLP 19sbh, two LayerNorms 4sbh.
  const auto ops = layer_ops(gpt3_175b(), gpt_shard(1, false, Recompute::kNone, AttentionKernel::kStandard));
  std::map<std::string, double> by_name;
  for (const auto& op : ops) by_name[op.name] = op.saved_bytes;
  EXPECT_DOUBLE_EQ(by_name["input_norm"] + by_name["post_attn_norm"], 4 * kSbh);
  // QKV input 2sbh + Q,K,V 6sbh + softmax out 2as²b + mask as²b + dropout out 2as²b + proj input
  // 2sbh + attention-dropout mask sbh = 11sbh + 5as²b.
  EXPECT_DOUBLE_EQ(by_name["qkv_proj"] + by_name["attention_core"] + by_name["out_proj"] +
                       by_name["attn_residual"],
                   11 * kSbh + 5 * 96 * kS * kS);
  // MLP input 2sbh, GeLU input 8sbh, fc2 input 8sbh, dropout mask sbh = 19sbh.
  EXPECT_DOUBLE_EQ(by_name["mlp_up"] + by_name["mlp_act"] + by_name["mlp_down"] + by_name["mlp_residual"],
                   19 * kSbh);
}

TEST(KorthikantiActivations, TensorParallel) {
  // sbh(10 + 24/t + 5as/(ht)), t = 8: sbh(10 + 3 + 10) = 23 sbh.
  const auto ops = layer_ops(gpt3_175b(), gpt_shard(8, false, Recompute::kNone, AttentionKernel::kStandard));
  EXPECT_DOUBLE_EQ(saved(ops), 23 * kSbh);
}

TEST(KorthikantiActivations, TensorPlusSequenceParallel) {
  // sbh(34/t + 5as/(ht)), t = 8: sbh(4.25 + 10) = 14.25 sbh.
  const auto ops = layer_ops(gpt3_175b(), gpt_shard(8, true, Recompute::kNone, AttentionKernel::kStandard));
  EXPECT_DOUBLE_EQ(saved(ops), 14.25 * kSbh);
}

TEST(KorthikantiActivations, SelectiveRecomputeRemovesTheScoreTerm) {
  // TP + selective: sbh(10 + 24/t) = 13 sbh; TP + SP + selective: 34 sbh/t = 4.25 sbh.
  EXPECT_DOUBLE_EQ(saved(layer_ops(gpt3_175b(), gpt_shard(8, false, Recompute::kSelective,
                                                          AttentionKernel::kStandard))),
                   13 * kSbh);
  EXPECT_DOUBLE_EQ(saved(layer_ops(gpt3_175b(), gpt_shard(8, true, Recompute::kSelective,
                                                          AttentionKernel::kStandard))),
                   4.25 * kSbh);
  // No TP: 34 sbh.
  EXPECT_DOUBLE_EQ(saved(layer_ops(gpt3_175b(), gpt_shard(1, false, Recompute::kSelective,
                                                          AttentionKernel::kStandard))),
                   34 * kSbh);
}

TEST(KorthikantiActivations, FullRecomputeKeepsOnlyTheLayerInput) {
  // 2sbh per layer (the input); with SP the input is already sharded: 2sbh/t.
  EXPECT_DOUBLE_EQ(saved(layer_ops(gpt3_175b(), gpt_shard(1, false, Recompute::kFull,
                                                          AttentionKernel::kStandard))),
                   2 * kSbh);
  EXPECT_DOUBLE_EQ(saved(layer_ops(gpt3_175b(), gpt_shard(8, false, Recompute::kFull,
                                                          AttentionKernel::kStandard))),
                   2 * kSbh);
  EXPECT_DOUBLE_EQ(saved(layer_ops(gpt3_175b(), gpt_shard(8, true, Recompute::kFull,
                                                          AttentionKernel::kStandard))),
                   2 * kSbh / 8);
}

TEST(KorthikantiActivations, FlashAttentionDropsTheScoreTerm) {
  // Flash: 34 sbh + the fp32 log-sum-exp 4·a·s·b = 4·96·2048 = 786,432 bytes.
  EXPECT_DOUBLE_EQ(saved(layer_ops(gpt3_175b(), gpt_shard(1, false, Recompute::kNone,
                                                          AttentionKernel::kFlash))),
                   34 * kSbh + 4.0 * 96 * 2048);
}

// ---------------------------------------------------------------------------------------------
// Through the lowering (memory.activations = L x per-layer saved + the embedding's + the larger of
// the loss phase, the head's saved tensors and the loss's transient ones, and a layer's backward,
// its re-run tensors, workspace and gradients: the head is freed before the layers' backward).

TEST(LoweredActivations, MegatronStandardKernelMatchesTpSpFormulaWithCausalMask) {
  // Megatron-SP t = 8 on GPT-3, standard kernel, causal (the default): Megatron's fused
  // upper-triangular softmax still stores the full s x s matrix, so the per-layer term is the
  // paper's (sbh/t)(34 + 5as/h) = 14.25 sbh. The embedding-dropout mask s·h/t, and the loss phase
  // on top: final norm + LM-head input 2 x 2·(s/t)·h (SP-sharded), and Megatron's cross entropy
  // over s·V_pad/t logits (V padded to 51200, already a multiple of 128·8): its fp32 softmax (4 B)
  // beside the bf16 logits (2 B). It exceeds a layer's backward (the output gradient 2·(s/t)·h and
  // the GELU backward's 2·s·4h/t: 31,457,280 bytes against 91,226,112).
  JobConfig job = test::long_job("megatron-sp", 8);
  job.seq_length = 2048;
  job.attention_kernel = AttentionKernel::kStandard;
  const LoweredStep step = test::lower(gpt3_175b(), job);
  const double head = 2 * 2 * (kS / 8) * kH + (4 + 2) * kS * 51200 / 8 + (kS / 8) * kH;
  EXPECT_DOUBLE_EQ(step.memory.activations, 96 * 14.25 * kSbh + head);
}

TEST(LoweredActivations, UlyssesIsOneUthOfSingleGpuForLlama) {
  // Llama-3-8B (no dropout, flash, SwiGLU) per token on one GPU: norms 2h + 2h, QKV input 2h,
  // Q,K,V 2(h + 2h_kv) = 3h... i.e. 10h + 3h + 6f (SwiGLU keeps gate+up 4f, down input 2f)
  // = 13·4096 + 6·14336 = 139,264 bytes, plus the fp32 LSE 4·a = 128: 139,392 bytes/token.
  // Ulysses u = 8 (k/u = 1 KV head, no replication): exactly 1/8 of the s = 131072 tokens:
  // 16384 x 139,392 = 2,283,798,528 per layer. The loss phase (DeepSpeed's Hugging Face models
  // run torch's cross entropy: 4 B kept and 8 B more at its backward a logit): 2·2·16384·4096 +
  // 12·16384·128256 = 25,484,591,104. Total 32 x 2,283,798,528 + 25,484,591,104 = 98,566,144,000.
  JobConfig job = test::long_job("ulysses", 8);
  const LoweredStep step = test::lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(step.memory.activations, 98566144000.0);
}

TEST(LoweredActivations, FullRecomputeHoldsInputsPlusOneLayer) {
  // Full recompute, Ulysses u = 8: 32 layer inputs 2·16384·4096 = 134,217,728 each and the larger
  // of two moments. The loss phase (25,484,591,104, as above) with torch's cross entropy:
  // 32·134,217,728 + 25,484,591,104 = 29,779,558,400.
  // ZeRO-3, so DeepSpeed's gradients are resident at every moment and the peak's activations are
  // the layers' own (the other lifetimes' moments: GradientsMadeInTheBackwardMeetTheLayersTheyFree).
  JobConfig job = test::long_job("ulysses", 8);
  job.zero_stage = 3;
  job.recompute = Recompute::kFull;
  EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), job).memory.activations, 29779558400.0);
  // With Liger's fused loss (a 512-token bf16 chunk 2·512·128256 = 131,334,144, grad_input and the
  // final norm's input 2 x 134,217,728, grad_weight 2·128256·4096 = 1,050,673,152: 1,450,442,752)
  // the layer's backward is the peak: the one layer being recomputed (2,283,798,528) less its
  // input, which the re-run reads from the checkpoint rather than copying (2,149,580,800), the
  // held output gradient (134,217,728) and the SwiGLU backward's dAct and dUp less the freed
  // activation output (2·16384·2·14336 = 939,524,096): 3,223,322,624.
  // 32·134,217,728 + 3,223,322,624 = 7,518,289,920.
  // (Before the gradients it was 15,252,586,496 with one input counted twice, which made full:31
  // need less than full.)
  job.loss = "fused";
  EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), job).memory.activations, 7518289920.0);
}

// flash-attn 2's backward allocates, per call (csrc/flash_attn/flash_api.cpp mha_bwd): the fp32
// dQ accumulator, dK/dV expanded to the query heads under GQA, the dQ/dK/dV it returns, and
// softmax_d; it reads dO. Ulysses u = 8 on Llama-3-8B at 128K: 4 query heads and 1 KV head of all
// 131,072 tokens, d 128:
//   dq_accum 4·131072·4·128 = 268,435,456; dK, dV expanded 2·2·131072·4·128 = 268,435,456;
//   dQ, dK, dV 2·131072·(4 + 2)·128 = 201,326,592; dO 2·131072·4·128 = 134,217,728;
//   softmax_d 4·131072·4 = 2,097,152; total 874,512,384.
// It is allocated after the layer's MLP backward freed the MLP's tensors, so it raises the peak
// only by what exceeds them and the MLP backward's own moment: with the MLP whole (6·T·f = 1.4 GB
// at T = 16,384) not at all. With a tiled MLP of 16 tiles the held MLP is post-norm and mlp_up
// inputs 2·2·T·h = 268,435,456 plus one tile of intermediates 6·T·f/16 = 88,080,384, and the MLP's
// moment is TiledMLP's whole x_grad 2·T·h = 134,217,728 plus one tile's dAct and dUp less the freed
// activation output 4·T·f/16 = 58,720,256, so the peak rises by
// 874,512,384 - 356,515,840 - 192,937,984 = 325,058,560. (At 4 tiles the MLP's moment, 369,098,752,
// exceeds the workspace's 253,755,392.) A one-token loss chunk keeps the loss phase below, and so
// does a 32,000-token vocabulary: ZeRO-3's gathered LM head is then smaller than a layer.
TEST(LoweredActivations, FlashAttention2BackwardWorkspaceCountsBeyondTheFreedMlp) {
  EXPECT_DOUBLE_EQ(detail::flash_attention_backward_workspace(1, 131072, 131072, 4, 1, 128, 2), 874512384.0);
  EXPECT_DOUBLE_EQ(detail::flash_attention_backward_workspace(1, 131072, 131072, 4, 4, 128, 2),
                   874512384.0 - 268435456.0 + 2.0 * 131072 * 6 * 128);  // MHA: nothing expanded
  auto activations = [](const char* impl, int64_t tiles) {
    JobConfig job = test::long_job("ulysses", 8);
    job.framework = "deepspeed";
    job.zero_stage = 3;  // gradients resident: the peak's activations are the layers' own
    job.recompute = Recompute::kFull;
    job.attention_impl = impl;
    job.tiled_mlp = tiles;
    job.loss = "chunked:16384";
    ModelSpec model = test::llama3_8b();
    model.vocab_size = 32000;
    return test::lower(model, job).memory.activations;
  };
  EXPECT_DOUBLE_EQ(activations("flash2", 0), activations("cudnn", 0));
  EXPECT_DOUBLE_EQ(activations("flash2", 4), activations("cudnn", 4));
  EXPECT_DOUBLE_EQ(activations("flash2", 16) - activations("cudnn", 16), 874512384.0 - 356515840.0 - 192937984.0);
}

// All-gather CP as yunchang and TE run it calls the kernel once on the gathered K/V: a ring rank's
// 16,384 queries (r 8, 32 heads) against up to all 131,072 keys (8 KV heads), so dK/dV and their
// GQA expansion are sized by the keys: dq_accum 4·16384·32·128 = 268,435,456; expanded
// 2·2·131072·32·128 = 2,147,483,648; dQ, dK, dV 2·(16384·32 + 2·131072·8)·128 = 671,088,640; dO
// 134,217,728; softmax_d 2,097,152: 3,223,322,624, less the 16-tile MLP's 356,515,840 and its moment
// 192,937,984 (above). The p2p ring's call is 16,384 against 16,384 (874,512,384). Linear-attention
// layers (LASP) call no flash kernel. (A 32,000-token vocabulary keeps the loss phase below, above.)
TEST(LoweredActivations, FlashWorkspaceFollowsTheCallsKeysAndOnlySoftmaxLayers) {
  EXPECT_DOUBLE_EQ(detail::flash_attention_backward_workspace(1, 16384, 131072, 32, 8, 128, 2), 3223322624.0);
  auto excess = [](const ModelSpec& model, JobConfig job) {
    job.framework = "deepspeed";
    job.zero_stage = 3;  // gradients resident: the peak's activations are the layers' own
    job.recompute = Recompute::kFull;
    job.tiled_mlp = 16;
    job.loss = "chunked:16384";
    job.attention_impl = "flash2";
    const double flash = test::lower(model, job).memory.activations;
    job.attention_impl = "cudnn";
    return flash - test::lower(model, job).memory.activations;
  };
  JobConfig ring = test::long_job("ring", 8);
  ring.ring_degree = 8;
  ModelSpec llama = test::llama3_8b();
  llama.vocab_size = 32000;
  EXPECT_DOUBLE_EQ(excess(llama, ring), 874512384.0 - 356515840.0 - 192937984.0);
  ring.ring_comm = "allgather";
  EXPECT_DOUBLE_EQ(excess(llama, ring), 3223322624.0 - 356515840.0 - 192937984.0);
  ModelSpec linear = load_model("linear-llama3-1b");
  linear.ffn_hidden_size = 256;  // an MLP small enough that a flash workspace would show
  JobConfig lasp = test::long_job("lasp", 8);
  lasp.ring_degree = 8;
  lasp.tiled_mlp = 0;
  lasp.attention_impl = "flash2";
  const double flash = test::lower(linear, lasp).memory.activations;
  lasp.attention_impl = "cudnn";
  EXPECT_DOUBLE_EQ(flash, test::lower(linear, lasp).memory.activations);
}

TEST(LoweredActivations, SelectiveRecomputeHoldsTheScoresOfTheLayerInBackward) {
  // D4 (robustness study): selective recompute with a standard kernel dropped the score terms of
  // every layer and added nothing for the one re-materialised in the backward, so plans needing
  // 190 GiB "fit" in 141. Tiny model (L = 4, a = 16, no dropout), one GPU, s = 1024, full mask,
  // bf16: one layer's scores are s x s x a x 2 B = 1024 x 1024 x 16 x 2 = 33,554,432 bytes.
  // Without recompute every layer keeps them; with selective only the layer in backward holds
  // them, so the difference is (L - 1) x 33,554,432 = 100,663,296 (it was 4 x). A one-token loss
  // chunk keeps the loss phase below the layer's backward, where the scores are held, and so does
  // an 8,000-token vocabulary: ZeRO-3's gathered LM head (8,192,000) is smaller than a layer.
  auto activations = [](const char* strategy, int64_t gpus, AttentionKernel kernel, Recompute recompute) {
    JobConfig job = test::long_job(strategy, gpus);
    job.zero_stage = 3;  // gradients resident at every moment
    job.seq_length = 1024;
    job.loss = "chunked:1024";
    job.causal = false;
    job.attention_kernel = kernel;
    job.recompute = recompute;
    ModelSpec tiny = test::tiny_model();
    tiny.vocab_size = 8000;
    return test::lower(tiny, job).memory.activations;
  };
  const auto standard = AttentionKernel::kStandard;
  EXPECT_DOUBLE_EQ(activations("ulysses", 1, standard, Recompute::kNone) -
                       activations("ulysses", 1, standard, Recompute::kSelective),
                   3 * 33554432.0);
  // ColAI-SP keeps the c x s scores by design (c = s/r): r = 2 gives 512 x 1024 x 16 x 2 =
  // 16,777,216 bytes per layer, so (L - 1) x 16,777,216 = 50,331,648.
  EXPECT_DOUBLE_EQ(activations("colai-sp", 2, standard, Recompute::kNone) -
                       activations("colai-sp", 2, standard, Recompute::kSelective),
                   3 * 16777216.0);
  // Flash recomputes the scores anyway: selective and none keep the same bytes.
  EXPECT_DOUBLE_EQ(activations("ulysses", 1, AttentionKernel::kFlash, Recompute::kNone),
                   activations("ulysses", 1, AttentionKernel::kFlash, Recompute::kSelective));
}

// What each loss keeps and holds beyond that, per logit, with 16-bit (2 B) logits: Megatron's
// vocab-parallel and native losses an fp32 softmax and the bf16 logits or gradient beside it; TE's
// Triton kernel an fp32 gradient and the same; flash-attn's the logits and a new gradient; torch's
// F.cross_entropy log_softmax's fp32 output and, in its backward, nll_loss's dense gradient and
// log_softmax's input gradient. In fp32 training Megatron's .float() is the logits themselves.
TEST(LossMemory, EachLossHoldsWhatItsCodeAllocates) {
  auto is = [](LossImpl impl, double e, double saved, double transient) {
    const LossMemory m = loss_memory_per_logit(impl, e);
    EXPECT_DOUBLE_EQ(m.saved, saved) << static_cast<int>(impl);
    EXPECT_DOUBLE_EQ(m.transient, transient) << static_cast<int>(impl);
  };
  is(LossImpl::kFp32Copy, 2, 4, 2);
  is(LossImpl::kMegatronNative, 2, 4, 2);
  is(LossImpl::kFused, 2, 4, 2);
  is(LossImpl::kFlashAttn, 2, 2, 2);
  is(LossImpl::kTorchCrossEntropy, 2, 4, 8);
  is(LossImpl::kTorchLossParallel, 2, 4, 12);
  is(LossImpl::kFp32Copy, 4, 4, 0);
  is(LossImpl::kTorchCrossEntropy, 4, 4, 8);
}

TEST(LoweredActivations, TorchtitanLossPhaseHoldsTwelveBytesALogit) {
  // torchtitan (fsdp), Llama-3-8B, 8-way FSDP at 32K with full recompute (tt2412 Table 2's FSDP 8
  // row in bf16): 32 layer inputs 2·32768·4096 = 268,435,456 each; the loss phase holds the final
  // norm's and the LM head's inputs (2 x 268,435,456) and torch's cross entropy over
  // 32,768 x 128,256 logits at 12 B: 50,432,311,296. A layer's re-run (about 4.8 GB) is less.
  JobConfig job = test::long_job("dp", 8);
  job.framework = "fsdp";
  job.seq_length = 32768;
  job.zero_stage = 3;
  job.recompute = Recompute::kFull;
  const double loss_phase = 2 * 268435456.0 + 12.0 * 32768 * 128256;
  EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), job).memory.activations, 32 * 268435456.0 + loss_phase);
  // Megatron's loss at 6 B a logit halves it.
  job.framework = "megatron";
  job.zero_stage = 1;
  EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), job).memory.activations,
                   32 * 268435456.0 + 2 * 268435456.0 + 6.0 * 32768 * 128256);
}

// When gradients exist. Ulysses u = 8 under DeepSpeed, Llama-3-8B (8,030,261,248 parameters) at
// 128K, full recompute, Liger's fused loss, one micro-batch. The moments, from the vectors of
// FullRecomputeHoldsInputsPlusOneLayer: the loss, 32·134,217,728 + 1,450,442,752 =
// 5,745,410,048; the first layer's backward, 7,518,289,920; the last layer's, 134,217,728 +
// 3,223,322,624 = 3,357,540,352; the embedding's, nothing saved.
TEST(LoweredActivations, GradientsMadeInTheBackwardMeetTheLayersTheyFree) {
  JobConfig job = test::long_job("ulysses", 8);
  job.recompute = Recompute::kFull;
  job.loss = "fused";
  auto expect_peak = [](const JobConfig& plan, double activations, double grads) {
    const MemoryEstimate memory = test::lower(test::llama3_8b(), plan).memory;
    EXPECT_DOUBLE_EQ(memory.activations, activations);
    EXPECT_DOUBLE_EQ(memory.grads, grads);
  };
  // ZeRO-1 (param.grad made by autograd, kept whole, freed after the step): 2·8,030,261,248 =
  // 16,060,522,496 bytes in all. The first layer's backward holds the head's (LM head and final
  // norm, 525,340,672 parameters) and its own (218,112,000): 1,486,905,344 beside 7,518,289,920.
  // The last layer's holds all but the input embedding's (2·128,256·4,096 = 1,050,673,152):
  // 15,009,849,344 beside 3,357,540,352, 18,367,389,696 in all. After the backward the reduction's
  // partition, 16,060,522,496 / 8 = 2,007,565,312, joins all of them: 18,068,087,808, less.
  job.zero_stage = 1;
  expect_peak(job, 3357540352.0, 15009849344.0);
  // At 32K the layers hold a quarter as much: the reduction after the backward is the peak.
  JobConfig short_job = job;
  short_job.seq_length = 32768;
  expect_peak(short_job, 0.0, 18068087808.0);
  // ZeRO-0: FP16_Optimizer's step holds each gradient (2 B), its fp32 copy and the flat fp32 one
  // (4 + 4): 16,060,522,496 + 8·8,030,261,248 = 80,302,612,480 with the activations freed.
  job.zero_stage = 0;
  expect_peak(job, 0.0, 80302612480.0);
  // ZeRO-2: the partition, 2,007,565,312, allocated whole at the first reduction, meets the first
  // layer's backward (9.5 GB, more than the loss's 5.7).
  job.zero_stage = 2;
  expect_peak(job, 7518289920.0, 2007565312.0);
  // A second micro-batch's backward allocates a new partition beside the first one's sum:
  // 7,518,289,920 + 2·2,007,565,312, more than the loss's 5,745,410,048 + 2,007,565,312.
  job.global_batch_size = 2;
  expect_peak(job, 7518289920.0, 4015130624.0);
  // With torch's cross entropy the loss, 29,779,558,400, is the peak: in one micro-batch before any
  // gradient, in two beside the first one's sum.
  job.loss = "standard";
  expect_peak(job, 29779558400.0, 2007565312.0);
  job.global_batch_size = 0;
  expect_peak(job, 29779558400.0, 0.0);
  // ZeRO-3's flat gradient partition is allocated once (stage3.py): resident in one micro-batch.
  job.zero_stage = 3;
  EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), job).memory.grads, 2007565312.0);
  // DeepSpeed's pipeline engine at ZeRO-0 runs BF16_Optimizer (engine.py:2014-2018), whose flat
  // gradient buffer is allocated once beside the 16-bit param.grad it zeroes but keeps: resident
  // in a step of one micro-batch too, two 16-bit gradients for each of the stage's parameters.
  JobConfig pp = test::long_job("ulysses", 8);
  pp.ulysses_degree = 4;
  pp.pipeline_parallel = 2;
  pp.seq_length = 32768;
  const MemoryEstimate stage = test::lower(test::llama3_8b(), pp).memory;
  EXPECT_GT(stage.grads, 0.0);
  EXPECT_DOUBLE_EQ(stage.grads, 2.0 * stage.params);
  // At ZeRO-1 with 16-bit accumulation it runs the ZeRO optimizer: param.grad only. With fp32
  // accumulation BF16_Optimizer again (engine.py:1994-1996): the fp32 flat buffer and the 16-bit
  // param.grad, 4 + 2 bytes a parameter.
  pp.zero_stage = 1;
  const MemoryEstimate zero1 = test::lower(test::llama3_8b(), pp).memory;
  EXPECT_DOUBLE_EQ(zero1.grads, zero1.params);
  pp.grad_reduce_dtype = "fp32";
  const MemoryEstimate bf16_optimizer = test::lower(test::llama3_8b(), pp).memory;
  EXPECT_DOUBLE_EQ(bf16_optimizer.grads, 3.0 * bf16_optimizer.params);
  // FP8 plans keep a bf16 model: BF16_Optimizer at ZeRO-0 as bf16. fp16 runs FP16_Optimizer and
  // fp32 no wrapper, which keep param.grad only.
  pp.grad_reduce_dtype = "";
  pp.zero_stage = 0;
  for (const Precision precision : {Precision::kFp8, Precision::kFp16, Precision::kFp32}) {
    pp.precision = precision;
    const MemoryEstimate m = test::lower(test::llama3_8b(), pp).memory;
    EXPECT_DOUBLE_EQ(m.grads, (precision == Precision::kFp8 ? 2.0 : 1.0) * m.params) << to_string(precision);
  }
  // fp32 training keeps DeepSpeed's lifetime (no BF16_Optimizer): ZeRO-0 in one micro-batch with
  // Liger's loss peaks at the last layer's backward, with every fp32 gradient but the input
  // embedding's, 4·(8,030,261,248 − 525,336,576) = 30,019,698,688 (no fp32 cast at the step: the
  // plain optimizer steps on them).
  JobConfig fp32 = test::long_job("ulysses", 8);
  fp32.recompute = Recompute::kFull;
  fp32.loss = "fused";
  fp32.precision = Precision::kFp32;
  const MemoryEstimate full = test::lower(test::llama3_8b(), fp32).memory;
  EXPECT_DOUBLE_EQ(full.grads, 4.0 * (8030261248.0 - 525336576.0));
  EXPECT_GT(full.activations, 0.0);
  // Megatron's grad buffer is resident: a ring of 8 under Megatron holds every fp32 gradient at
  // its peak (ZeRO-1 shards only the optimizer): 4·8,030,261,248.
  JobConfig ring = test::long_job("ring", 8);
  ring.zero_stage = 1;
  EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), ring).memory.grads, 4.0 * 8030261248.0);
}

TEST(LoweredActivations, TorchtitanUnderTensorParallelismRunsItsLossParallel) {
  // torchtitan with TP 8 (megatron-sp under fsdp), Llama-3-8B at 32K, full recompute: each GPU
  // holds 32,768 tokens x 16,032 of the vocabulary (128,256 / 8), and its loss-parallel cross
  // entropy 16 B a logit at its backward (4 kept + 12): 8,405,385,216; the final norm's and the LM
  // head's inputs are kept sequence-sharded (2 x 2·4096·4096; the head gathers its input again in
  // the backward). Layer inputs 32 x 2·4096·4096 = 1,073,741,824.
  JobConfig job = test::long_job("megatron-sp", 8);
  job.framework = "fsdp";
  job.tensor_parallel = 8;
  job.seq_length = 32768;
  job.recompute = Recompute::kFull;
  const LoweredStep step = test::lower(test::llama3_8b(), job);
  const double loss = 16.0 * 32768 * (128256.0 / 8);
  EXPECT_DOUBLE_EQ(step.memory.activations,
                   32 * 2.0 * 4096 * 4096 + 2 * 2.0 * 4096 * 4096 + loss);
  // DeepSpeed under TP keeps the Hugging Face model's own loss (12 B a logit): Ulysses 4 x TP 2
  // holds the same 8,192 tokens x 64,128 logits a GPU and 4,096-token sequence-sharded inputs.
  JobConfig ds = test::long_job("ulysses", 8);
  ds.framework = "deepspeed";
  ds.ulysses_degree = 4;
  ds.tensor_parallel = 2;
  ds.seq_length = 32768;
  ds.recompute = Recompute::kFull;
  ds.zero_stage = 3;  // gradients resident at every moment
  EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), ds).memory.activations,
                   32 * 2.0 * 4096 * 4096 + 2 * 2.0 * 4096 * 4096 + 12.0 * 8192 * 64128);
}

// A layer's backward beyond its saved tensors, Megatron-SP t = 4 on the tiny model (h 1024,
// SwiGLU), 1,024 tokens, bf16, flash, no recompute: the held output gradient 2·256·1024 = 524,288,
// and the MLP's larger moment. With f = 4096 the activation's backward (dAct and dUp less the freed
// output: 1024·(2·3 - 2)·4096/4 = 4,194,304) beats the up-projection's dgrad (1024·(2·1024 -
// 2·4096/4) = 0). With f = 1024 (f < h t/3) the dgrad's [T, h] beside dUp wins:
// 1024·(2·1024 - 2·1024/4) = 1,572,864 against 1,048,576.
TEST(LayerActivations, TheMlpBackwardsLargerMomentIsHeld) {
  LayerShard shard;
  shard.micro_batch = 1;
  shard.dense_tokens = 1024;
  shard.norm_tokens = 256;
  shard.tensor_parallel = 4;
  shard.attn_heads = 4;
  shard.attn_kv_heads = 1;
  shard.attn_q_tokens = 1024;
  shard.attn_kv_tokens = 1024;
  shard.attn_mask_fraction = 0.5;
  shard.precision = Precision::kBf16;
  ModelSpec model = test::tiny_model();
  EXPECT_DOUBLE_EQ(detail::layer_activations(model, shard, layer_ops(model, shard), 0).recomputed,
                   524288.0 + 4194304.0);
  model.ffn_hidden_size = 1024;
  EXPECT_DOUBLE_EQ(detail::layer_activations(model, shard, layer_ops(model, shard), 0).recomputed,
                   524288.0 + 1572864.0);
}

TEST(LoweredActivations, FullRecomputeNeverNeedsMoreThanSelective) {
  // The study's 2,928 grid rows: full recompute stores less per layer than selective, so its
  // activations cannot be larger. Llama-3-8B, Ulysses u = 8, s = 64K, standard kernel, full mask.
  ModelSpec model = test::llama3_8b();
  JobConfig job = test::long_job("ulysses", 8);
  job.seq_length = 65536;
  job.causal = false;
  job.attention_kernel = AttentionKernel::kStandard;
  job.recompute = Recompute::kSelective;
  const double selective = test::lower(model, job).memory.activations;
  job.recompute = Recompute::kFull;
  const double full = test::lower(model, job).memory.activations;
  EXPECT_LE(full, selective);
}

TEST(LoweredActivations, MoreGpusNeverIncreasePerGpuActivations) {
  // Fixed global batch (1 sequence of 128K), more sequence/tensor-parallel GPUs.
  const ModelSpec model = test::llama3_8b();
  struct Series {
    const char* strategy;
    std::vector<std::pair<int64_t, int64_t>> degrees;  // (u or t, r)
  };
  const Series series[] = {
      {"ulysses", {{1, 1}, {2, 1}, {4, 1}, {8, 1}, {16, 1}, {32, 1}}},
      {"ring", {{1, 1}, {1, 2}, {1, 4}, {1, 8}, {1, 16}, {1, 32}, {1, 64}}},
      {"megatron-sp", {{2, 1}, {4, 1}, {8, 1}}},
      {"megatron-tp", {{2, 1}, {4, 1}, {8, 1}}},
      {"usp", {{2, 2}, {4, 2}, {8, 2}, {8, 4}, {8, 8}}},
  };
  for (const auto& s : series) {
    double previous = std::numeric_limits<double>::infinity();
    for (const auto& [x, r] : s.degrees) {
      JobConfig job = test::long_job(s.strategy, x * r);
      job.global_batch_size = 1;
      job.zero_stage = 3;  // gradients resident: the peak's activations are the layers' own
      if (std::string(s.strategy).rfind("megatron", 0) == 0) {
        job.tensor_parallel = x;
      } else {
        job.ulysses_degree = x;
        job.ring_degree = r;
      }
      const LoweredStep step = test::lower(model, job);
      EXPECT_LE(step.memory.activations, previous) << s.strategy << " " << x << "x" << r;
      EXPECT_GT(step.memory.activations, 0.0);
      previous = step.memory.activations;
    }
  }
}

TEST(LoweredActivations, SpeedupOfMemoryIsExactWhenShardsDivide) {
  // Ulysses u = 2 vs u = 4 (k = 8 divides both): every saved tensor halves.
  JobConfig two = test::long_job("ulysses", 2);
  JobConfig four = test::long_job("ulysses", 4);
  const double a2 = test::lower(test::llama3_8b(), two).memory.activations;
  const double a4 = test::lower(test::llama3_8b(), four).memory.activations;
  EXPECT_DOUBLE_EQ(a2, 2 * a4);
}

}  // namespace
}  // namespace spsim
