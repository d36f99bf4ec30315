// step_flops: each convention against a hand computation, and the published closed forms.
#include <gtest/gtest.h>

#include "spsim/error.h"
#include "spsim/flops.h"
#include "spsim/model.h"
#include "test_util.h"

namespace spsim {
namespace {

// h 64, a = k = 4 (d_h 16), f 256 (GeLU, 2 matrices), V 1000, L 2, no biases.
ModelSpec small_gpt() {
  ModelSpec m;
  m.name = "small";
  m.hidden_size = 64;
  m.num_layers = 2;
  m.num_attention_heads = 4;
  m.num_key_value_heads = 4;
  m.head_dim = 16;
  m.ffn_hidden_size = 256;
  m.vocab_size = 1000;
  m.gated_mlp = false;
  m.norm = NormKind::kLayerNorm;
  return m;
}

// B = 2 sequences of s = 128 tokens per step (T = 256 tokens), non-causal, no recompute.
JobConfig small_job() {
  JobConfig job;
  job.num_gpus = 1;
  job.seq_length = 128;
  job.micro_batch_size = 1;
  job.global_batch_size = 2;
  job.causal = false;
  return job;
}

// Hand computation for small_gpt() / small_job():
//   matrices per layer: q,k,v,o 4 x 64 x 64 = 16,384 + MLP 2 x 64 x 256 = 32,768 -> 49,152
//   GEMM forward per layer: 2 x 256 x 49,152 = 25,165,824
//   attention forward per layer: 4 x B s^2 a d_h = 4 x 2 x 128^2 x 64 = 8,388,608 (causal: half)
//   LM head forward: 2 x 256 x 64 x 1000 = 32,768,000
constexpr double kGemmFwd = 25'165'824;
constexpr double kAttnFwd = 8'388'608;
constexpr double kHeadFwd = 32'768'000;

TEST(StepFlops, ModelConventionByHand) {
  const StepFlops f = step_flops(small_gpt(), small_job());
  // 3 x (2 x (25,165,824 + 8,388,608) + 32,768,000) = 3 x 99,876,864
  EXPECT_DOUBLE_EQ(f.model, 299'630'592);
  EXPECT_DOUBLE_EQ(f.model, 3 * (2 * (kGemmFwd + kAttnFwd) + kHeadFwd));
  // causal_halved ignores the job's mask: 3 x (2 x (25,165,824 + 4,194,304) + 32,768,000)
  EXPECT_DOUBLE_EQ(f.causal_halved, 274'464'768);
}

// The published per-token conventions on small_gpt() (non-causal job; the conventions fix their
// own mask): matmul parameters 2 x 49,152 + LM head 64 x 1000 = 162,304; attention 12 L (a d_h) s
// = 12 x 2 x 64 x 128 = 196,608 per token; 256 tokens.
TEST(StepFlops, PublishedPerTokenConventionsByHand) {
  const StepFlops f = step_flops(small_gpt(), small_job());
  EXPECT_DOUBLE_EQ(f.nemo_noncausal, 256.0 * (6 * 162'304 + 196'608));
  EXPECT_DOUBLE_EQ(f.mbridge, 256.0 * (6 * 162'304 + 98'304));
  // PaLM's N adds the layers' LayerNorms (2 x 2h = 256 per layer): 162,304 + 512.
  EXPECT_DOUBLE_EQ(f.palm, 256.0 * (6 * 162'816 + 196'608));
  // torchtitan's count is the checkpoint's: + input embedding 64,000 (tied head counted once:
  // small_gpt() is untied, so + 64,000 for the head too, already in the matmuls) + final norm 128.
  EXPECT_DOUBLE_EQ(f.torchtitan, 256.0 * (6 * static_cast<double>(small_gpt().total_params()) + 196'608));
  EXPECT_EQ(small_gpt().total_params(), 162'816 + 64'000 + 128);
}

TEST(StepFlops, CausalJobHalvesAttention) {
  JobConfig job = small_job();
  job.causal = true;
  const StepFlops f = step_flops(small_gpt(), job);
  EXPECT_DOUBLE_EQ(f.model, 274'464'768);
  EXPECT_DOUBLE_EQ(f.causal_halved, 274'464'768);
  // The non-causal conventions do not look at the mask.
  const StepFlops g = step_flops(small_gpt(), small_job());
  EXPECT_DOUBLE_EQ(f.megatron_deepspeed, g.megatron_deepspeed);
  EXPECT_DOUBLE_EQ(f.nemo, g.nemo);
}

TEST(StepFlops, MegatronDeepSpeedByHand) {
  // 24 x 3 x B s L h^2 = 72 x 2 x 128 x 2 x 4096 = 150,994,944;
  // x (1 + 128/384 + 1000/(16 x 2 x 64) = 1 + 1/3 + 0.48828125) = 150,994,944 + 50,331,648 +
  // 73,728,000 = 275,054,592.
  EXPECT_DOUBLE_EQ(step_flops(small_gpt(), small_job()).megatron_deepspeed, 275'054'592);
  // f_ck = 4 with any recompute: x 4/3.
  JobConfig job = small_job();
  job.recompute = Recompute::kSelective;
  EXPECT_DOUBLE_EQ(step_flops(small_gpt(), job).megatron_deepspeed, 366'739'456);
  job.recompute = Recompute::kFull;
  EXPECT_DOUBLE_EQ(step_flops(small_gpt(), job).megatron_deepspeed, 366'739'456);
}

TEST(StepFlops, MegatronDeepSpeedUsesPaddedVocab) {
  ModelSpec m = small_gpt();
  m.make_vocab_size_divisible_by = 128;  // 1000 -> 1024
  // 150,994,944 x (1 + 1/3 + 1024/2048) = 150,994,944 + 50,331,648 + 75,497,472.
  EXPECT_DOUBLE_EQ(step_flops(m, small_job()).megatron_deepspeed, 276'824'064);
}

TEST(StepFlops, NemoByHand) {
  // B s L h^2 = 2 x 128 x 2 x 4096 = 2,097,152;
  // 12 + 12 x 4/4 + 18 x 256/64 + 12 x 128/64 + 6 x 1000/(2 x 64) = 12 + 12 + 72 + 24 + 46.875
  //   = 166.875 -> 349,962,240 (NeMo's llama formula assumes SwiGLU: 18f/h).
  EXPECT_DOUBLE_EQ(step_flops(small_gpt(), small_job()).nemo, 349'962'240);
}

TEST(StepFlops, NemoEqualsModelForLlamaShapesNonCausal) {
  // For SwiGLU, d_h = h/a and an unpadded vocabulary, NeMo's formula is exactly 3 x forward of
  // every GEMM + full attention: 6T(2h^2 + 2h h_kv + 3hf) L + 12 T s h L + 6 T h V.
  JobConfig job = small_job();
  job.seq_length = 4096;
  job.global_batch_size = 8;
  const StepFlops f = step_flops(test::tiny_model(), job);
  EXPECT_NEAR(f.nemo / f.model, 1.0, 1e-12);
}

TEST(StepFlops, HardwareByHand) {
  JobConfig job = small_job();
  // Flash backward 2.5x: L x (3 x 25,165,824 + 3.5 x 8,388,608) + 3 x 32,768,000
  //   = 2 x (75,497,472 + 29,360,128) + 98,304,000 = 308,019,200.
  EXPECT_DOUBLE_EQ(step_flops(small_gpt(), job).hardware, 308'019'200);
  // Full recompute re-runs each layer's forward: + 2 x (25,165,824 + 8,388,608).
  job.recompute = Recompute::kFull;
  EXPECT_DOUBLE_EQ(step_flops(small_gpt(), job).hardware, 308'019'200 + 67'108'864);
  // Selective re-runs the attention core: + 2 x 8,388,608.
  job.recompute = Recompute::kSelective;
  EXPECT_DOUBLE_EQ(step_flops(small_gpt(), job).hardware, 308'019'200 + 16'777'216);
  // A standard attention kernel's backward is 2x: hardware == model without recompute.
  job.recompute = Recompute::kNone;
  job.attention_kernel = AttentionKernel::kStandard;
  const StepFlops f = step_flops(small_gpt(), job);
  EXPECT_DOUBLE_EQ(f.hardware, f.model);
  // Causal flash: attention terms halve: 2 x (75,497,472 + 3.5 x 4,194,304) + 98,304,000.
  job.attention_kernel = AttentionKernel::kFlash;
  job.causal = true;
  EXPECT_DOUBLE_EQ(step_flops(small_gpt(), job).hardware, 2 * (75'497'472 + 14'680'064.0) +
                                                              98'304'000);
}

TEST(StepFlops, KorthikantiEq7ForGpt175b) {
  // Korthikanti et al. 2205.05198 eq. 7: 72 B L s h^2 (1 + s/(6h) + V/(12 h L)), attention
  // non-causal, f = 4h, biases not counted. GPT-175B (h 12288, L 96, V 51200), s 2048, B 1536.
  const ModelSpec m = load_model("gpt-175b");
  JobConfig job;
  job.num_gpus = 64;
  job.seq_length = 2048;
  job.global_batch_size = 1536;
  job.tensor_parallel = 8;
  job.causal = false;
  const double B = 1536, L = 96, s = 2048, h = 12288, V = 51200;
  const double eq7 = 72 * B * L * s * h * h * (1 + s / (6 * h) + V / (12 * h * L));
  EXPECT_NEAR(step_flops(m, job).model / eq7, 1.0, 1e-12);
}

TEST(StepFlops, GlobalBatchFromDataParallel) {
  JobConfig job = small_job();
  job.global_batch_size = 0;
  job.num_gpus = 8;
  job.tensor_parallel = 2;
  job.ulysses_degree = 2;  // D = 8 / (2 x 2) = 2, B = 1 x 2
  const double expected = step_flops(small_gpt(), small_job()).model;
  EXPECT_DOUBLE_EQ(step_flops(small_gpt(), job).model, expected);
  job.data_parallel = 2;   // resolved explicitly: same B
  EXPECT_DOUBLE_EQ(step_flops(small_gpt(), job).model, expected);
  job.data_parallel = 0;
  job.num_gpus = 6;
  EXPECT_THROW_MSG(step_flops(small_gpt(), job), InputError,
                   "must be a multiple of tensor x ulysses x ring x pipeline = 4 (got 6)");
}

TEST(StepFlops, ConventionOrderingAtLongSequence) {
  // Invariants for a causal Llama job at 128k with full recompute: the non-causal conventions
  // exceed the causal model count; hardware exceeds model.
  JobConfig job;
  job.num_gpus = 8;
  job.seq_length = 131072;
  job.ulysses_degree = 8;
  job.recompute = Recompute::kFull;
  const StepFlops f = step_flops(test::llama3_8b(), job);
  EXPECT_GT(f.hardware, f.model);
  EXPECT_GT(f.nemo, f.model);
  EXPECT_DOUBLE_EQ(f.causal_halved, f.model);
  EXPECT_GT(f.megatron_deepspeed, f.nemo);  // f_ck = 4 and MHA/f = 4h assumptions
}

}  // namespace
}  // namespace spsim
