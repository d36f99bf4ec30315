// What makes a best-plan table a decision (issue 16): one plan has one name, the winner names the
// fastest plan of another scheme and its margin, and the model's stated error says what a tie is.
#include <gtest/gtest.h>

#include "spsim/strategy.h"
#include "spsim/sweep.h"
#include "spsim/topology.h"
#include "test_util.h"

namespace spsim {
namespace {

JobConfig degrees(int64_t t, int64_t u, int64_t r, bool sequence_parallel = true) {
  JobConfig job;
  job.tensor_parallel = t;
  job.ulysses_degree = u;
  job.ring_degree = r;
  job.sequence_parallel = sequence_parallel;
  return job;
}

TEST(OnePlanOneName, UspNeedsBothDegreesUlyssesAndRingTheirOwn) {
  const StrategyTraits& usp = strategy_traits("usp");
  EXPECT_TRUE(is_own_plan(usp, degrees(1, 8, 2)));
  EXPECT_FALSE(is_own_plan(usp, degrees(1, 1, 8)));  // ring r8
  EXPECT_FALSE(is_own_plan(usp, degrees(1, 8, 1)));  // ulysses u8
  EXPECT_FALSE(is_own_plan(strategy_traits("ulysses"), degrees(1, 1, 1)));  // plain dp
  EXPECT_FALSE(is_own_plan(strategy_traits("ring"), degrees(2, 1, 1)));
  EXPECT_FALSE(is_own_plan(strategy_traits("megatron-sp"), degrees(1, 1, 1)));
  EXPECT_TRUE(is_own_plan(strategy_traits("dp"), degrees(1, 1, 1)));
  EXPECT_TRUE(is_own_plan(strategy_traits("colai-sp"), degrees(1, 1, 1)));  // derives its degree
}

TEST(OnePlanOneName, SchemeOfPlanNamesTheSimplestScheme) {
  EXPECT_EQ(scheme_of_plan(degrees(1, 8, 1)), "ulysses");
  EXPECT_EQ(scheme_of_plan(degrees(1, 1, 8)), "ring");
  EXPECT_EQ(scheme_of_plan(degrees(1, 4, 2)), "usp");
  EXPECT_EQ(scheme_of_plan(degrees(8, 1, 1)), "megatron-sp");
  EXPECT_EQ(scheme_of_plan(degrees(8, 1, 1, false)), "megatron-tp");
  EXPECT_EQ(scheme_of_plan(degrees(1, 1, 1)), "dp");
}

TEST(OnePlanOneName, BestPlanSearchNeverReturnsAnotherSchemesPlan) {
  // On 8 GPUs at 32K the fastest USP-named plan used to be u = 1 (ring) or r = 1 (Ulysses).
  JobConfig base;
  base.num_gpus = 8;
  base.seq_length = 32768;
  base.global_batch_size = 8;
  const SweepRow row = search_best_plan(test::llama3_8b(), load_topology("dgx-h100"), *make_strategy("usp"), base,
                                        {}, "analytic");
  ASSERT_EQ(row.status, "ok") << row.reason;
  EXPECT_GT(row.ulysses_degree, 1);
  EXPECT_GT(row.ring_degree, 1);
}

SweepRow row(const char* strategy, double tokens_per_s, const char* status = "ok") {
  SweepRow r;
  r.model = "m";
  r.topology = "t";
  r.gpus = 8;
  r.seq_length = 8192;
  r.strategy = strategy;
  r.status = status;
  r.tokens_per_s = tokens_per_s;
  return r;
}

TEST(RunnerUp, IsTheFastestFittingRowOfAnotherScheme) {
  std::vector<SweepRow> rows = {row("ulysses", 100), row("ring", 103), row("ring", 102),
                                row("usp", 200, "oom"), row("megatron-sp", 90)};
  mark_best_at_point(rows);
  EXPECT_TRUE(rows[1].best_at_point);
  EXPECT_EQ(rows[1].runner_up, "ulysses");  // not the other ring row, not the OOM usp row
  EXPECT_DOUBLE_EQ(rows[1].runner_up_tokens_per_s, 100);
  EXPECT_NEAR(rows[1].margin, 0.03, 1e-12);
  for (size_t i : {0u, 2u, 3u, 4u}) {
    EXPECT_FALSE(rows[i].best_at_point) << i;
    EXPECT_TRUE(rows[i].runner_up.empty()) << i;
  }
}

TEST(RunnerUp, NoneWhenOnlyOneSchemeFits) {
  std::vector<SweepRow> rows = {row("ulysses", 100), row("ring", 50, "oom")};
  mark_best_at_point(rows);
  EXPECT_TRUE(rows[0].best_at_point);
  EXPECT_TRUE(rows[0].runner_up.empty());
  EXPECT_EQ(rows[0].margin, 0);
}

TEST(ModelErrorTest, ReadsTheValidationBaseline) {
  const ModelError read = parse_model_error(R"({"throughput": {"median_abs": 0.14, "n": 406}})", "b.json");
  EXPECT_TRUE(read.known);
  EXPECT_DOUBLE_EQ(read.median_abs, 0.14);
  EXPECT_EQ(read.rows, 406);
  EXPECT_THROW_MSG(parse_model_error(R"({"memory": {}})", "b.json"), InputError,
                   "has no \"throughput\" block");
  EXPECT_THROW_MSG(parse_model_error(R"({"throughput": {"median_abs": "x", "n": 1}})", "b.json"), InputError,
                   "median_abs");
  // The shipped baseline is the one the tables cite.
  const ModelError shipped = load_model_error();
  EXPECT_TRUE(shipped.known);
  EXPECT_GT(shipped.median_abs, 0);
  EXPECT_EQ(shipped.source, "validation/baseline.json");
}

}  // namespace
}  // namespace spsim
