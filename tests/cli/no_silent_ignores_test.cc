// Issue 16 through the real binary: inputs that change the answer but that spsim (or the chosen
// engine) does not model are said in one warning line, or refused; never silently dropped.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace spsim {
namespace {

using test::expect_one_line_error;
using test::run_spsim;

std::string temp_dir() { return test::temp_dir("ignores"); }


TEST(NoSilentIgnores, OversubscriptionTheAnalyticEngineIgnoresIsSaid) {
  const auto r = run_spsim("run -s ulysses --gpus 64 --seq 128K --set network.oversubscription=4");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("spsim: warning: "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("network.oversubscription"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--engine des"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  // Inside one node there is no fabric to oversubscribe: nothing to say.
  EXPECT_TRUE(run_spsim("run -s ulysses --gpus 8 --seq 128K --set network.oversubscription=4").err.empty());
}

TEST(NoSilentIgnores, RailPlacementTooIsSaid) {
  const auto r = run_spsim("run -s ring --gpus 64 --seq 128K --set network.rail_optimized=false");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("network.rail_optimized false is modelled by the des engine only"), std::string::npos)
      << r.err;
  // The DES models both: no warning there.
  const auto des = run_spsim("run -s ring --gpus 16 --seq 32K --engine des --set network.oversubscription=2");
  ASSERT_EQ(des.exit_code, 0) << des.err;
  EXPECT_TRUE(des.err.empty()) << des.err;
}

// Mistral's sliding window is costed, not ignored: the windowed plan is faster than the same
// model without it, and the ring that has no window in any framework is refused, not run as full.
TEST(NoSilentIgnores, HfSlidingWindowIsCostedOrRefused) {
  const std::string dir = temp_dir();
  const std::string path = test::data_path("hf-configs/Mistral-7B-v0.1.json");
  nlohmann::json config = nlohmann::json::parse(test::read_text(path));
  ASSERT_TRUE(config.contains("sliding_window"));
  expect_one_line_error(run_spsim("run -m '" + path + "' -s ring -r 8 --gpus 8 --seq 32K", dir),
                        "has sliding-window attention (4096 keys on 32 of 32 layers)");
  const auto windowed = run_spsim("run -m '" + path + "' -s ulysses --gpus 8 --seq 32K --json", dir);
  ASSERT_EQ(windowed.exit_code, 0) << windowed.err;
  EXPECT_EQ(windowed.err.find("sliding_window"), std::string::npos) << windowed.err;
  config.erase("sliding_window");
  std::ofstream(dir + "/full.json") << config.dump();
  const auto full = run_spsim("run -m full.json -s ulysses --gpus 8 --seq 32K --json", dir);
  ASSERT_EQ(full.exit_code, 0) << full.err;
  EXPECT_LT(nlohmann::json::parse(windowed.out)["step_time_s"].get<double>(),
            nlohmann::json::parse(full.out)["step_time_s"].get<double>());
  // --strategy all leaves those rings out and says why; Megatron's all-gather CP runs.
  const auto all = run_spsim("run -m '" + path + "' -s all --gpus 8 --seq 32K", dir);
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_NE(all.err.find("leaves out ring, usp: model \"Mistral-7B-v0.1\" has sliding-window attention"),
            std::string::npos) << all.err;
  EXPECT_EQ(all.out.find("\nring "), std::string::npos) << all.out;
  const auto gathered = run_spsim("run -m '" + path + "' -s ring --cp-comm-type allgather --gpus 8 --seq 32K", dir);
  EXPECT_EQ(gathered.exit_code, 0) << gathered.err;
  std::filesystem::remove_all(dir);
}

TEST(NoSilentIgnores, UnknownHfFamilyIsRefused) {
  const std::string dir = temp_dir();
  nlohmann::json config = nlohmann::json::parse(test::read_text(test::data_path("hf-configs/Meta-Llama-3-8B.json")));
  config["model_type"] = "olmo2";
  config["architectures"] = {"Olmo2ForCausalLM"};
  std::ofstream(dir + "/olmo.json") << config.dump();
  expect_one_line_error(run_spsim("run -m olmo.json --seq 8K", dir), "\"olmo2\" is not a family spsim reads");
  std::filesystem::remove_all(dir);
}

TEST(NoSilentIgnores, RunConfigWithASweepBlockSaysWhatRan) {
  const std::string config = std::string(SPSIM_TEST_DATA_DIR) + "/../../experiments/ring-basic-vs-zigzag.json";
  const auto r = run_spsim("run --config '" + config + "'");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("its \"sweep\" block is not run here: spsim sweep --config"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("llama-3-8b on dgx-h100"), std::string::npos) << r.out;  // the table says what ran
  // A file with a sweep and no job has nothing of its own to run: the defaults would run instead.
  const std::string no_job = std::string(SPSIM_TEST_DATA_DIR) + "/../../experiments/ulysses-vs-megatron-sp-gpt.json";
  expect_one_line_error(run_spsim("run --config '" + no_job + "'"), "spsim sweep --config");
}

}  // namespace
}  // namespace spsim
