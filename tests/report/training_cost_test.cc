// Training time and cost: steps rounded up, days, GPU-hours and cost from one step.
#include "spsim/training_cost.h"

#include "test_util.h"

namespace spsim {
namespace {

TEST(TrainingCost, ScalesOneStepToTheRun) {
  // 1T tokens at 2 x 131072 tokens per step, 5 s a step, on 16 GPUs, 2 per GPU-hour.
  const TrainingCost c = training_cost(5.0, 262144, 16, 1e12, 2.0);
  EXPECT_EQ(c.steps, 3814698);  // ceil(1e12 / 262144) = ceil(3814697.27)
  EXPECT_DOUBLE_EQ(c.seconds, 3814698 * 5.0);
  EXPECT_DOUBLE_EQ(c.days, c.seconds / 86400);
  EXPECT_DOUBLE_EQ(c.gpu_hours, c.seconds * 16 / 3600);
  EXPECT_DOUBLE_EQ(c.cost, c.gpu_hours * 2);
  EXPECT_EQ(format_training_cost(c),
            "1T tokens: 3,814,698 steps of 262,144 tokens, 220.8 days, 84,771 GPU-hours, cost 169,542 at 2 per "
            "GPU-hour");
  const nlohmann::json j = to_json(training_cost(5.0, 262144, 16, 3e11, -1));
  EXPECT_FALSE(j.contains("cost"));
  EXPECT_EQ(format_tokens(3e11), "300B");
}

}  // namespace
}  // namespace spsim
