// What the gradient reduction and ZeRO-3's gathers hold beside the activations (the estimate's
// `buffers`): DeepSpeed's resident reduce bucket, and the LM head that ZeRO-3 gathers whole for
// the loss. Llama-3-8B: a layer is 218,112,000 parameters; the LM head
// with the final norm 128,256 x 4096 + 4096 = 525,340,672.
#include "memory/layer_buffers.h"
#include "spsim/job.h"
#include "spsim/long_context.h"
#include "spsim/memory.h"
#include "spsim/model.h"
#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

constexpr double kLayer = 218112000.0;
constexpr double kHead = 525340672.0;

// Ulysses u = 8 at 128K, the standard loss (its logits make the loss phase the peak).
JobConfig ulysses8(const char* framework, int zero_stage) {
  JobConfig job = test::long_job("ulysses", 8);
  job.ulysses_degree = 8;
  job.framework = framework;
  job.zero_stage = zero_stage;
  return job;
}

// DeepSpeed's Ulysses all-to-all outputs: 2 B x 16,384 tokens x (4 + 2 x 1) heads x 8 x 128.
constexpr double kUlyssesBuffers = 2.0 * 16384 * 6 * 8 * 128;
// The 5e8-element bf16 bucket, and one MLP weight's gradient (h x f) before it is copied in.
constexpr double kBucket = 2.0 * 5e8;
// ZeRO-3 allocates its bucket in the communication dtype, fp32 when the job splits the sequence.
constexpr double kFp32Bucket = 4.0 * 5e8;
constexpr double kWeightGrad = 2.0 * 4096 * 14336;

// A one-token loss chunk: the peak is a layer's backward.
JobConfig at_backward(JobConfig job) {
  job.loss = "chunked:16384";
  return job;
}

TEST(ReduceBuffers, DeepSpeedZeroOneAndTwoBucketLivesInTheBackward) {
  // ZeRO-0: each layer's gradients reduced from their own buffer (2 B x a layer), at every moment.
  EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), ulysses8("deepspeed", 0)).memory.buffers,
                   kUlyssesBuffers + 2.0 * kLayer);
  // ZeRO-1/2: the bucket (contiguous_gradients) exists from a backward's first gradient hook to its
  // epilogue, so the loss (the peak with the standard loss) has none.
  for (int stage : {1, 2}) {
    EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), ulysses8("deepspeed", stage)).memory.buffers, kUlyssesBuffers)
        << stage;
  }
  // At a layer's backward: the bucket, however small the model; ZeRO-2 also the weight gradient
  // autograd made before copying it in (ZeRO-1 keeps its gradients, counted as gradients).
  EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), at_backward(ulysses8("deepspeed", 1))).memory.buffers,
                   kUlyssesBuffers + kBucket);
  const MemoryEstimate zero2 = test::lower(test::llama3_8b(), at_backward(ulysses8("deepspeed", 2))).memory;
  EXPECT_DOUBLE_EQ(zero2.buffers, kUlyssesBuffers + kBucket + kWeightGrad);
  EXPECT_DOUBLE_EQ(zero2.buffers_of_the_peak, kBucket + kWeightGrad);
  EXPECT_DOUBLE_EQ(test::lower(test::tiny_model(), at_backward(ulysses8("deepspeed", 1))).memory.buffers -
                       test::lower(test::tiny_model(), at_backward(ulysses8("deepspeed", 0))).memory.buffers,
                   kBucket - 2.0 * (1024.0 * (2048 + 512) + 3.0 * 1024 * 4096 + 2 * 1024));
  // ZeRO-1's reduction after the backward, its peak with few activations (data parallelism, full
  // recompute, a small loss chunk): the whole 16-bit gradients and this rank's partition, and no
  // bucket beside them, since copying into it frees autograd's tensors (Llama-3-8B: 8,030,261,248
  // parameters, 8 ranks).
  JobConfig dp = test::long_job("dp", 8);
  dp.framework = "deepspeed";
  dp.zero_stage = 1;
  dp.seq_length = 4096;
  dp.loss = "chunked:64";
  dp.recompute = Recompute::kFull;
  const MemoryEstimate reduced = test::lower(test::llama3_8b(), dp).memory;
  EXPECT_DOUBLE_EQ(reduced.grads, 2.0 * 8030261248.0 * (1 + 1.0 / 8));
  EXPECT_DOUBLE_EQ(reduced.buffers, 0.0);
  EXPECT_DOUBLE_EQ(reduced.activations, 0.0);
  // ZeRO-1 with gradient accumulation keeps it from the first micro-batch to the boundary.
  JobConfig accumulating = ulysses8("deepspeed", 1);
  accumulating.global_batch_size = 2;
  EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), accumulating).memory.buffers, kUlyssesBuffers + kBucket);
  // bf16 with fp32 gradient accumulation at ZeRO-1 runs BF16_Optimizer: no bucket, a layer's
  // fp32 gradients reduced at a time.
  JobConfig bf16_optimizer = at_backward(ulysses8("deepspeed", 1));
  bf16_optimizer.grad_reduce_dtype = "fp32";
  EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), bf16_optimizer).memory.buffers, kUlyssesBuffers + 4.0 * kLayer);
  // Megatron's buckets are views into its resident gradient buffer: nothing of their own.
  EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), ulysses8("megatron", 1)).memory.buffers,
                   test::lower(test::llama3_8b(), ulysses8("megatron", 0)).memory.buffers);
}

TEST(ReduceBuffers, ZeroThreeLossHoldsTheWholeLmHead) {
  // DeepSpeed's prefetcher fills the gathered set up to stage3_max_live_parameters (1e9 elements),
  // which holds the LM head (and what else is live) at the loss and a layer at its backward: 2 GB
  // at both; the bucket, allocated at initialisation in the communication dtype (fp32 under
  // Ulysses: stage3.py:731-735); the all-to-all buffers. No weight gradient at the loss; one at the
  // backward.
  const LoweredStep z3 = test::lower(test::llama3_8b(), ulysses8("deepspeed", 3));
  EXPECT_DOUBLE_EQ(z3.memory.buffers, kUlyssesBuffers + 2.0 * 1e9 + kFp32Bucket);
  EXPECT_DOUBLE_EQ(z3.memory.buffers_of_the_peak, 0.0);
  EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), at_backward(ulysses8("deepspeed", 3))).memory.buffers,
                   kUlyssesBuffers + 2.0 * 1e9 + kFp32Bucket + kWeightGrad);
  // Without sequence parallelism the communication dtype is the model's: a bf16 bucket.
  JobConfig plain = test::long_job("dp", 8);
  plain.framework = "deepspeed";
  plain.zero_stage = 3;
  plain.seq_length = 4096;
  EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), plain).memory.buffers, 2.0 * 1e9 + kBucket);
  // The live set is capped by the parameters on the GPU: the tiny model's 4 layers of 15,206,400
  // and its 32,000 x 1024 embedding and LM head with the final norm, all gathered (one GPU
  // offloading its parameters, DeepSpeed ZeRO-3), at every moment.
  JobConfig one = test::long_job("dp", 1);
  one.framework = "deepspeed";
  one.zero_stage = 3;
  one.seq_length = 1024;
  set_offload(one, "optimizer,params", "--offload");
  const double tiny_params = 4 * 15206400.0 + 2 * 32000.0 * 1024 + 1024;
  const MemoryEstimate tiny = test::lower(test::tiny_model(), one).memory;
  EXPECT_DOUBLE_EQ(tiny.buffers - tiny.buffers_of_the_peak - kBucket, 2.0 * tiny_params);
  // FSDP2 prefetches the next block whole: two layers' bf16 parameters beside its fp32 reduce buffer.
  detail::LayerBufferInputs two;
  two.zero3_gathers = true;
  two.layer_params = kLayer;
  EXPECT_DOUBLE_EQ(detail::layer_buffers(two), 2.0 * 2 * kLayer);
  two.zero3_prefetch_params = 5e7;
  EXPECT_DOUBLE_EQ(detail::layer_buffers(two), 2.0 * (kLayer + 5e7));
  two.zero3_prefetch_params = 1e12;  // a bucket larger than a layer prefetches one layer
  EXPECT_DOUBLE_EQ(detail::layer_buffers(two), 2.0 * 2 * kLayer);
  two.zero3_live_params = 1e9;  // the live set the prefetcher fills, when larger
  EXPECT_DOUBLE_EQ(detail::layer_buffers(two), 2.0 * 1e9);
  // A layer larger than the live set is held whole with 5e7 elements of the next; the loss's head
  // beyond the live set adds what exceeds it.
  detail::LayerBufferInputs big;
  big.zero3_gathers = true;
  big.layer_params = 3e9;
  big.zero3_prefetch_params = 5e7;
  big.zero3_live_params = 1e9;
  EXPECT_DOUBLE_EQ(detail::layer_buffers(big), 2.0 * (3e9 + 5e7));
  big.layer_params = 4e8;
  EXPECT_DOUBLE_EQ(detail::head_buffers_beyond_layer(big, 1.2e9), 2.0 * (1.2e9 + 5e7 - 1e9));

  // FSDP2 at the loss: the LM head (with the final norm) in place of the layer in use.
  detail::LayerBufferInputs in;
  in.zero3_gathers = true;
  in.reduces_gradients = true;
  in.layer_params = kLayer;
  EXPECT_DOUBLE_EQ(detail::head_buffers_beyond_layer(in, kHead), (kHead - kLayer) * 2);
  in.param_bytes = 4;  // fp32 training gathers fp32 parameters
  EXPECT_DOUBLE_EQ(detail::head_buffers_beyond_layer(in, kHead), (kHead - kLayer) * 4);
  // A head smaller than a layer adds nothing.
  EXPECT_DOUBLE_EQ(detail::head_buffers_beyond_layer(in, kLayer / 2), 0.0);
  // No ZeRO-3 gathers: the head stays resident, nothing is gathered for the loss.
  in.zero3_gathers = false;
  EXPECT_DOUBLE_EQ(detail::head_buffers_beyond_layer(in, kHead), 0.0);
}

TEST(ReduceBuffers, FsdpKeepsATiedEmbeddingGatheredThroughTheStep) {
  // torchtitan shards a tied tok_embeddings, norm and lm_head as one unit that is not resharded
  // after the forward: Qwen3-4B's 151,936 x 2560 + 2560 parameters, 2 bytes each, are gathered at
  // every moment (here a layer's backward, the peak), against an untied model with a negligible
  // head (64 rows, smaller than a layer: nothing gathered for the loss either).
  ModelSpec tied = load_model("qwen3-4b");
  ASSERT_TRUE(tied.tied_embeddings);
  ModelSpec untied = tied;
  untied.tied_embeddings = false;
  untied.vocab_size = 64;
  JobConfig job = test::long_job("ring", 8);
  job.ring_degree = 2;
  job.seq_length = 65536;
  job.framework = "fsdp";
  job.zero_stage = 3;
  job.loss = "chunked:64";
  job.recompute = Recompute::kFull;
  EXPECT_DOUBLE_EQ(test::lower(tied, job).memory.buffers - test::lower(untied, job).memory.buffers,
                   2.0 * (151936.0 * 2560 + 2560));
  // DeepSpeed's ZeRO-3 releases the tied weight after each use: the same buffers as untied
  // (the loss's gathered head aside, which a one-token loss chunk keeps below the peak).
  job.framework = "deepspeed";
  job.strategy = "ulysses";
  job.ring_degree = 1;
  job.ulysses_degree = 2;
  job.loss = "chunked:32768";
  EXPECT_DOUBLE_EQ(test::lower(tied, job).memory.buffers, test::lower(untied, job).memory.buffers);
}

}  // namespace
}  // namespace spsim
