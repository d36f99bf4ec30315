// `spsim run --engine des` end to end: the trace file appears only on success, bad input is one
// line and exit 2.
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace spsim {
namespace {

std::string temp_dir() {
  char dir_template[] = "/tmp/spsim_des_cli_XXXXXX";
  return mkdtemp(dir_template);
}

TEST(DesCli, RunWritesJsonWithEngineDetailsAndATrace) {
  const std::string dir = temp_dir();
  const auto r = test::run_spsim(
      "run --engine des -s usp -u 4 -r 2 --gpus 8 --seq 32K --json --trace step.json", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = nlohmann::json::parse(r.out);
  EXPECT_EQ(out["engine"], "des");
  EXPECT_TRUE(out["engine_details"].contains("critical_path"));
  EXPECT_TRUE(out["engine_details"].contains("top_links"));
  const auto trace = nlohmann::json::parse(test::read_text(dir + "/step.json"));
  bool has_counter = false;
  int qkv_fwd = 0, qkv_bwd = 0;
  for (const auto& e : trace["traceEvents"]) {
    has_counter = has_counter || e["ph"] == "C";
    if (e["ph"] != "X") continue;
    qkv_fwd += e["name"] == "qkv_proj";
    qkv_bwd += e["name"] == "qkv_proj (bwd)";
  }
  EXPECT_TRUE(has_counter);  // HBM counters from the memory model
  // Forward and backward kernels of one op are told apart by name, one of each per layer and GPU.
  EXPECT_GT(qkv_fwd, 0);
  EXPECT_EQ(qkv_fwd, qkv_bwd);
  EXPECT_NE(r.err.find("wrote step.json"), std::string::npos) << r.err;
}

// Study S13: the README's trace example was a plan that does not fit (199.6 GiB); the one it shows
// now must fit, since a trace of a plan that cannot run teaches nothing.
TEST(DesCli, ReadmeTraceExampleFits) {
  const std::string readme = test::read_text(std::string(SPSIM_SOURCE_DATA_DIR) + "/README.md");
  const std::string plan = "run -s ring --cp 8 --gpus 8 --seq 128K --zero 1 --recompute full";
  ASSERT_NE(readme.find("spsim " + plan + " --engine des --trace ring.json"), std::string::npos);
  const auto r = test::run_spsim(plan + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(nlohmann::json::parse(r.out)["fits_in_memory"].get<bool>());
}

TEST(DesCli, MoreGpusThanThePlatformFailsWithOneLineAndNoTrace) {
  // l20-pcie-8x is one 8-GPU node (max_nodes 1).
  const std::string dir = temp_dir();
  const auto r = test::run_spsim(
      "run --engine des -T l20-pcie-8x -s ulysses -u 8 --gpus 16 --seq 32K --trace step.json", dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;  // exactly one line
  EXPECT_FALSE(std::ifstream(dir + "/step.json").good());
}

}  // namespace
}  // namespace spsim
