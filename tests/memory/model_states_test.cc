// Model-state memory (parameters, gradients, mixed-precision Adam) sharded by ZeRO stage, and
// fits_in_memory. Mixed precision: 2 + 2 + 12 bytes per parameter (ZeRO paper §3.1, USP Table 2:
// P = 2Ψ, G = 2Ψ, OS = 6P = 12Ψ); fp32: 4 + 4 + 8.
#include "spsim/memory.h"

#include "spsim/engine.h"
#include "spsim/report.h"
#include "spsim/strategy.h"
#include "spsim/topology.h"
#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

// Llama-3-8B: 32 x 218,112,000 + 1,050,677,248 = 8,030,261,248 parameters.
constexpr double kLlamaParams = 8030261248.0;

TEST(ModelStates, ZeroStagesShardOneMoreTermEach) {
  // Ψ = 1e9 local parameters, ZeRO group 8.
  struct Case { int stage; double params, grads, optimizer; };
  const Case cases[] = {
      {0, 2e9, 2e9, 12e9},
      {1, 2e9, 2e9, 12e9 / 8},
      {2, 2e9, 2e9 / 8, 12e9 / 8},
      {3, 2e9 / 8, 2e9 / 8, 12e9 / 8},
  };
  for (const auto& c : cases) {
    MemoryEstimate m;
    add_model_states(m, 1e9, c.stage, 8, Precision::kBf16, 2);
    EXPECT_DOUBLE_EQ(m.params, c.params) << "stage " << c.stage;
    EXPECT_DOUBLE_EQ(m.grads, c.grads) << "stage " << c.stage;
    EXPECT_DOUBLE_EQ(m.optimizer, c.optimizer) << "stage " << c.stage;
  }
}

TEST(ModelStates, Fp32KeepsNoMasterCopy) {
  MemoryEstimate m;
  add_model_states(m, 1e9, 0, 1, Precision::kFp32, 4);
  EXPECT_DOUBLE_EQ(m.params, 4e9);
  EXPECT_DOUBLE_EQ(m.grads, 4e9);
  EXPECT_DOUBLE_EQ(m.optimizer, 8e9);
  MemoryEstimate fp8;
  add_model_states(fp8, 1e9, 0, 1, Precision::kFp8, 2);  // fp8 training: bf16 weights, fp32 Adam
  EXPECT_DOUBLE_EQ(fp8.params + fp8.grads + fp8.optimizer, 16e9);
}

TEST(ModelStates, GroupOfOneShardsNothing) {
  MemoryEstimate m;
  add_model_states(m, 1e9, 3, 1, Precision::kBf16, 2);
  EXPECT_DOUBLE_EQ(m.params + m.grads + m.optimizer, 16e9);
}

TEST(ModelStates, PeakIsTheSumAndLargestTermIsNamed) {
  MemoryEstimate m;
  m.params = 1;
  m.grads = 2;
  m.optimizer = 3;
  m.activations = 10;
  m.buffers = 4;
  m.reserve = 5;
  EXPECT_DOUBLE_EQ(m.peak(), 25);
  EXPECT_EQ(m.largest_term(), "activations");
  m.optimizer = 11;
  EXPECT_EQ(m.largest_term(), "optimizer");
}

TEST(ModelStates, UlyssesShardsOverDataTimesSequenceParallel) {
  // Ulysses u = 4, D = 2, ZeRO-3: group 8. params 2·8,030,261,248/8 = 2,007,565,312 bytes, grads
  // the same, optimizer 12·8,030,261,248/8 = 12,045,391,872.
  JobConfig job = test::long_job("ulysses", 8);
  job.ulysses_degree = 4;
  job.zero_stage = 3;
  const LoweredStep step = test::lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(step.memory.params, 2 * kLlamaParams / 8);
  EXPECT_DOUBLE_EQ(step.memory.grads, 2 * kLlamaParams / 8);
  EXPECT_DOUBLE_EQ(step.memory.optimizer, 12 * kLlamaParams / 8);
}

TEST(ModelStates, RingAndUspShardOverEverySequenceRank) {
  // ZeRO-1 over DP x SP (Megatron CP reduces gradients over the DP x CP group too).
  JobConfig ring = test::long_job("ring", 8);
  ring.zero_stage = 1;
  EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), ring).memory.optimizer, 12 * kLlamaParams / 8);
  JobConfig usp = test::long_job("usp", 16);
  usp.ulysses_degree = 8;
  usp.ring_degree = 2;
  usp.zero_stage = 2;
  usp.framework = "deepspeed";  // yunchang USP on DeepSpeed ZeRO-2 (Megatron has no ZeRO-2)
  usp.global_batch_size = 2;  // accumulation: the gradient partition is resident at the peak
  const LoweredStep step = test::lower(test::llama3_8b(), usp);
  EXPECT_DOUBLE_EQ(step.memory.grads, 2 * kLlamaParams / 16);
  EXPECT_DOUBLE_EQ(step.memory.params, 2 * kLlamaParams);
}

TEST(ModelStates, MegatronSplitsByTAndShardsOverDp) {
  // megatron-sp t = 4, D = 2, ZeRO-1: Ψ/t = 2,007,565,312 local parameters; params 2 bytes each
  // = 4,015,130,624; Megatron-LM keeps fp32 main grads for the whole local model (the distributed
  // optimizer shards only the optimizer: 6 + 12/d bytes per parameter) = 8,030,261,248;
  // optimizer 12·Ψ/t/2 = 12,045,391,872.
  JobConfig job = test::long_job("megatron-sp", 8);
  job.tensor_parallel = 4;
  job.zero_stage = 1;
  const LoweredStep step = test::lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(step.memory.params, 2 * kLlamaParams / 4);
  EXPECT_DOUBLE_EQ(step.memory.grads, 4 * kLlamaParams / 4);
  EXPECT_DOUBLE_EQ(step.memory.optimizer, 12 * kLlamaParams / 8);
  // NeMo's performance recipes reduce gradients in bf16: 2 bytes.
  job.framework = "nemo";
  EXPECT_DOUBLE_EQ(test::lower(test::llama3_8b(), job).memory.grads, 2 * kLlamaParams / 4);
}

TEST(ModelStates, ReserveComesFromTheJob) {
  JobConfig job = test::long_job("ulysses", 8);
  job.framework_reserve_bytes = kDefaultFrameworkReserveBytes;
  const LoweredStep step = test::lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(step.memory.reserve, 3.0 * 1024 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(step.memory.peak(), step.memory.params + step.memory.grads +
                                           step.memory.optimizer + step.memory.activations +
                                           step.memory.buffers + step.memory.reserve);
}

TEST(ModelStates, UlyssesBuffersHoldTheAllToAllOutputs) {
  // u = 8, ZeRO-0, D = 1: a2a outputs Q,K,V: 2·16384·(4 + 2·1)·8·128 = 201,326,592 bytes; one
  // layer's gradient bucket 218,112,000·2 = 436,224,000 (the group of 8 reduces gradients).
  JobConfig job = test::long_job("ulysses", 8);
  const LoweredStep step = test::lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(step.memory.buffers, 201326592.0 + 436224000.0);
}

TEST(ModelStates, RingBuffersDoubleBufferKvAndFp32Accumulators) {
  // r = 8: 2 KV blocks 2·67,108,864 + fp32 out 4·16384·32·128 = 268,435,456 + fp32 lse
  // 4·16384·32 = 2,097,152; one layer's gradient bucket in Megatron-LM's fp32 main grads
  // 218,112,000·4 = 872,448,000.
  JobConfig job = test::long_job("ring", 8);
  const LoweredStep step = test::lower(test::llama3_8b(), job);
  EXPECT_DOUBLE_EQ(step.memory.buffers, 134217728.0 + 268435456.0 + 2097152.0 + 872448000.0);
}

TEST(FitsInMemory, AgainstHbmCapacity) {
  const Topology h100 = load_topology("dgx-h100");
  const auto engine = make_engine("analytic");
  // Llama-3-8B, 128K, u = 8, no recompute, ZeRO-0: 16 x 8.03e9 = 128 GB of model states alone
  // exceeds 80 GiB.
  JobConfig big = test::long_job("ulysses", 8);
  const RunReport no = evaluate(test::llama3_8b(), h100, big, *engine);
  EXPECT_FALSE(no.fits_in_memory);
  EXPECT_GT(no.lowered.memory.peak(), h100.gpu.hbm_bytes);
  // ZeRO-3 (16 x 8.03e9 / 8 = 16.1 GB) + full recompute (29.8 GB of activations, most of it the
  // loss phase: torch's cross entropy under DeepSpeed holds 12 B a logit of 16,384 x 128,256,
  // 25.2 GB): fits in 80 GiB, not in 40.
  JobConfig small = big;
  small.zero_stage = 3;
  small.recompute = Recompute::kFull;
  small.framework_reserve_bytes = kDefaultFrameworkReserveBytes;
  const RunReport yes = evaluate(test::llama3_8b(), h100, small, *engine);
  EXPECT_TRUE(yes.fits_in_memory);
  EXPECT_LE(yes.lowered.memory.peak(), h100.gpu.hbm_bytes);
  EXPECT_GT(yes.lowered.memory.peak(), 40.0 * 1024 * 1024 * 1024);
  EXPECT_LT(yes.lowered.memory.peak(), 50.0 * 1024 * 1024 * 1024);
}

}  // namespace
}  // namespace spsim
