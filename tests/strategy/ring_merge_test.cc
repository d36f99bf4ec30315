// TransformerEngine's p2p ring merges (src/strategy/ring_attention.cc): the memory-bound passes
// between and after the attention steps, against bytes worked by hand.
//
// Llama-3-8B (32 query heads, 8 KV heads, d_h 128), ring r = 8, s = 131072, b = 1, bf16: each GPU
// holds c = 16384 query tokens. Q (= out = dQ) of the shard: 2·16384·32·128 = 134,217,728 B; one
// K,V block: 2·2·16384·8·128 = 67,108,864 B; the fp32 softmax statistics: 4·16384·32 = 2,097,152 B.
#include <string>

#include "spsim/strategy.h"
#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

constexpr double kQ = 134217728.0, kKV = 67108864.0, kL = 2097152.0;

std::vector<const Task*> named(const Segment& segment, const std::string& name) {
  std::vector<const Task*> out;
  for (const auto& task : segment.tasks) {
    if (name == task.name) out.push_back(&task);
  }
  return out;
}

TEST(RingMerge, ForwardOutputCorrectionBytesByHand) {
  JobConfig job = test::long_job("ring", 8);
  job.ring_degree = 8;
  const LoweredStep step = test::lower(test::llama3_8b(), job);
  const auto merges = named(test::segment(step.graph, "layer_fwd"), "ring_out_correction");
  ASSERT_EQ(merges.size(), 1u);
  // K,V into the send buffer 2·KV; step 0's init 2·Q + 2·L; 7 later steps, each the statistics
  // correction 3·L, the output correction 3·Q and its two statistics reads 2·L.
  EXPECT_DOUBLE_EQ(merges[0]->hbm_bytes, 2 * kKV + 2 * kQ + 2 * kL + 7 * (3 * kQ + 5 * kL));
  EXPECT_EQ(merges[0]->kernels, 16);  // init and copy, then 2 a step
  EXPECT_EQ(merges[0]->op_class, OpClass::kMemoryBound);
}

TEST(RingMerge, BackwardAccumulatesEveryStepBeforeTheNextSend) {
  JobConfig job = test::long_job("ring", 8);
  job.ring_degree = 8;
  const LoweredStep step = test::lower(test::llama3_8b(), job);
  const Segment& bwd = test::segment(step.graph, "layer_bwd");
  const auto acc = named(bwd, "ring_grad_accumulate");
  ASSERT_EQ(acc.size(), 8u);  // one per ring step
  // Step 0: the K,V copy into the send buffer and the dQ, dK,dV copies; later steps add.
  EXPECT_DOUBLE_EQ(acc[0]->hbm_bytes, 2 * kKV + 2 * kQ + 2 * kKV);
  for (size_t k = 1; k < acc.size(); ++k) EXPECT_DOUBLE_EQ(acc[k]->hbm_bytes, 3 * kQ + 3 * kKV) << k;
  // Every send after the first (step 0's K,V, issued as the attention backward starts) waits for
  // the previous step's accumulation: it carries dK,dV on.
  int sends = 0;
  for (size_t i = 0; i < bwd.tasks.size(); ++i) {
    const Task& t = bwd.tasks[i];
    if (std::string(t.name) != "ring_send_recv" || sends++ == 0) continue;
    for (int32_t d : t.deps) {
      if (d >= 0 && bwd.tasks[static_cast<size_t>(d)].kind == TaskKind::kCompute) {
        EXPECT_STREQ(bwd.tasks[static_cast<size_t>(d)].name, "ring_grad_accumulate") << i;
      }
    }
  }
  EXPECT_EQ(sends, 8);  // 7 between steps and the final dK,dV send
}

TEST(RingMerge, NoMergeWithoutARing) {
  JobConfig job = test::long_job("ulysses", 8);
  const LoweredStep step = test::lower(test::llama3_8b(), job);
  EXPECT_TRUE(named(test::segment(step.graph, "layer_fwd"), "ring_out_correction").empty());
  EXPECT_TRUE(named(test::segment(step.graph, "layer_bwd"), "ring_grad_accumulate").empty());
}

}  // namespace
}  // namespace spsim
