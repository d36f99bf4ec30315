// Issue 16 through the real binary: the global batch is an input and every plan of a comparison
// runs the same one; best-plan tables name the runner-up and the margin; every scheme has default
// degrees on uneven GPU counts.
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace spsim {
namespace {

using test::expect_one_line_error;
using test::run_spsim;

std::string temp_dir() { return test::temp_dir("decide"); }


nlohmann::json sweep_json(const std::string& dir, const std::string& prefix) {
  return nlohmann::json::parse(test::read_text(dir + "/" + prefix + ".json"));
}

TEST(TokensPerStep, SetsTheGlobalBatchAndTheTableShowsIt) {
  const auto r = run_spsim("run -s ring -r 8 --gpus 8 --seq 128K --tokens-per-step 1M --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["config"]["global_batch_size"].get<int64_t>(), 8);  // 1M / 128K
  EXPECT_NEAR(j["tokens_per_s"].get<double>() * j["step_time_s"].get<double>(), 1048576.0, 1e-3);
  const auto table = run_spsim("run -s ring -r 8 --gpus 8 --seq 128K --gbs 8");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find(" gbs "), std::string::npos) << table.out;
  EXPECT_NE(table.out.find(" mb "), std::string::npos) << table.out;
}

TEST(TokensPerStep, IsOneOfTwoAndMustHoldWholeSequences) {
  expect_one_line_error(run_spsim("run --seq 128K --tokens-per-step 1M --gbs 8"), "--tokens-per-step");
  expect_one_line_error(run_spsim("run --seq 128K --tokens-per-step 100K"), "--tokens-per-step");
  const std::string dir = temp_dir();
  expect_one_line_error(run_spsim("sweep --best --gpus 8 --seq 96K,128K --tokens-per-step 1M -o s", dir),
                        "--tokens-per-step");
  EXPECT_FALSE(std::filesystem::exists(dir + "/s.json"));  // no partial output
  std::filesystem::remove_all(dir);
}

TEST(TokensPerStep, RunTableSaysWhenRowsRunDifferentBatches) {
  const auto r = run_spsim("run --strategy ulysses,ring --gpus 64 --seq 128K");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("note: the rows run global batches of"), std::string::npos) << r.out;
  const auto fixed = run_spsim("run --strategy ulysses,ring --gpus 64 --seq 128K --gbs 64");
  ASSERT_EQ(fixed.exit_code, 0) << fixed.err;
  EXPECT_EQ(fixed.out.find("note: the rows run global batches"), std::string::npos) << fixed.out;
}

TEST(FixedBatch, EveryPlanOfABestSweepRunsTheSameBatch) {
  // Without --gbs: one stated default for the whole sweep (the LCM of the GPU counts), never one
  // micro-batch per data-parallel rank.
  const std::string dir = temp_dir();
  const auto r = run_spsim("sweep --best --gpus 8,16 --seq 8K,256K -o s", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("global batch: 16 sequences per step at every point (default"), std::string::npos) << r.out;
  const auto j = sweep_json(dir, "s");
  EXPECT_EQ(j["meta"]["inputs"]["global_batch_size"].get<int64_t>(), 16);
  std::set<int64_t> batches;
  for (const auto& row : j["rows"]) {
    if (row["status"] == "ok") batches.insert(row["global_batch_size"].get<int64_t>());
  }
  EXPECT_EQ(batches, std::set<int64_t>{16});
  // --gbs and --tokens-per-step are taken as given.
  const auto g = run_spsim("sweep --best --gpus 8 --seq 8K,16K --tokens-per-step 256K -o t", dir);
  ASSERT_EQ(g.exit_code, 0) << g.err;
  const auto fixed_tokens = sweep_json(dir, "t");  // kept alive: the loop reads into it
  for (const auto& row : fixed_tokens["rows"]) {
    if (row["status"] != "ok") continue;
    EXPECT_EQ(row["global_batch_size"].get<int64_t>() * row["seq_length"].get<int64_t>(), 262144) << row.dump();
  }
  std::filesystem::remove_all(dir);
}

TEST(TiesAndMargins, BestTableNamesTheRunnerUpAndTheModelError) {
  const std::string dir = temp_dir();
  const auto r = run_spsim("sweep --best --gpus 8 --seq 8K,64K -o s", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("model error: throughput median |error|"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("runner-up (other scheme), margin"), std::string::npos) << r.out;
  const auto j = sweep_json(dir, "s");
  int winners = 0;
  for (const auto& row : j["rows"]) {
    // One plan has one name: no USP row with u = 1 or r = 1, no Ulysses row with u = 1.
    if (row["status"] == "ok" && row["strategy"] == "usp") {
      EXPECT_GT(row["ulysses_degree"].get<int>(), 1);
      EXPECT_GT(row["ring_degree"].get<int>(), 1);
    }
    if (row["status"] == "ok" && row["strategy"] == "ulysses") {
      EXPECT_GT(row["ulysses_degree"].get<int>(), 1);
    }
    if (!row["best_at_point"].get<bool>()) continue;
    ++winners;
    EXPECT_NE(row["runner_up"], row["strategy"]);
    EXPECT_FALSE(row["runner_up"].get<std::string>().empty());
    EXPECT_GE(row["margin"].get<double>(), 0.0);
  }
  EXPECT_EQ(winners, 2);
  EXPECT_TRUE(j["meta"]["model_error"].contains("throughput_median_abs"));
  std::filesystem::remove_all(dir);
}

TEST(TiesAndMargins, PlainDataParallelIsItsOwnScheme) {
  const auto r = run_spsim("run --strategy all --gpus 8 --seq 8K");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\ndp "), std::string::npos) << r.out;
}

TEST(UnevenShapes, NoneFitsNamesTheClosestPlanAndTheNearestGpuCount) {
  const std::string dir = temp_dir();
  const auto r = run_spsim("sweep --best -s ring,ulysses --gpus 8 --seq 1M -o s", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("none fits: closest "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nearest GPU count that fits: 16 (ring "), std::string::npos) << r.out;
  std::filesystem::remove_all(dir);
}

TEST(UnevenShapes, AllStrategiesOnOneNvl72Rack) {
  const auto r = run_spsim("run -m llama-3-70b -T gb200-nvl72 --strategy all --gpus 72 --seq 256K --zero 3 "
                           "--recompute full");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\nusp "), std::string::npos) << r.out;
}

}  // namespace
}  // namespace spsim
