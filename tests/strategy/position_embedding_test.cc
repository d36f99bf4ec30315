// Rotary embeddings run as a kernel in every layer; learned absolute positions (GPT-2/3, MPT)
// are added once to the embedding, so their layers have no rotary task.
#include <string_view>

#include "strategy/strategy_test_util.h"
#include "test_util.h"

namespace spsim {
namespace {

int tasks_named(const Segment& seg, std::string_view name) {
  int n = 0;
  for (const auto& task : seg.tasks) n += name == task.name ? 1 : 0;
  return n;
}

TEST(PositionEmbedding, OnlyRotaryModelsRunARopeKernel) {
  for (const char* strategy : {"ring", "ulysses", "megatron-sp"}) {
    JobConfig job = test::long_job(strategy, 8);
    if (std::string_view(strategy) == "megatron-sp") job.tensor_parallel = 8;
    ModelSpec rotary = test::llama3_8b();
    ModelSpec learned = rotary;
    learned.learned_position_embeddings = true;
    learned.max_position_embeddings = 131072;
    const LoweredStep with_rope = test::lower(rotary, job);
    const LoweredStep without = test::lower(learned, job);
    EXPECT_EQ(tasks_named(test::segment(with_rope.graph, "layer_fwd"), "rope"), 1) << strategy;
    EXPECT_EQ(tasks_named(test::segment(with_rope.graph, "layer_bwd"), "rope"), 1) << strategy;
    EXPECT_EQ(tasks_named(test::segment(without.graph, "layer_fwd"), "rope"), 0) << strategy;
    EXPECT_EQ(tasks_named(test::segment(without.graph, "layer_bwd"), "rope"), 0) << strategy;
    // Everything else is the same graph: one task fewer in each direction.
    EXPECT_EQ(test::segment(with_rope.graph, "layer_fwd").tasks.size(),
              test::segment(without.graph, "layer_fwd").tasks.size() + 1) << strategy;
  }
}

}  // namespace
}  // namespace spsim
