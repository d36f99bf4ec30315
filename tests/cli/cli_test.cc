// The real spsim binary: exit codes, one-line errors naming the flag/file, no partial output,
// byte-identical reruns.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "spsim/topology.h"
#include "test_util.h"

namespace spsim {
namespace {

using test::expect_one_line_error;
using test::run_spsim;

TEST(Cli, RunPrintsOneRowPerStrategy) {
  const auto r = run_spsim("run --strategy all --gpus 8 --seq 128K");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"ulysses", "megatron-sp", "ring", "usp"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
  }
}

TEST(Cli, JsonHasStableKeysAndConsistentNumbers) {
  const auto r = run_spsim("run --strategy ulysses -u 8 --gpus 8 --seq 128K --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"step_time_s", "tokens_per_s", "tflops_per_gpu", "mfu", "memory",
                          "fits_in_memory", "breakdown", "comm_bytes_per_layer", "config"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  // tokens/s is the step's tokens over its time: 1 sequence of 131072 tokens per DP rank, DP 1.
  EXPECT_NEAR(j["tokens_per_s"].get<double>() * j["step_time_s"].get<double>(), 131072.0, 1e-3);
  // Ulysses u=8 on Llama-3-8B: 293,601,280 bytes forward per GPU per layer (spec §2.3).
  EXPECT_DOUBLE_EQ(j["comm_bytes_per_layer"]["ulysses_a2a/all_to_all"]["forward_bytes"].get<double>(),
                   293601280.0);
  // The resolved config makes every default explicit.
  EXPECT_EQ(j["config"]["data_parallel_size"].get<int>(), 1);
  EXPECT_EQ(j["config"]["ulysses_degree"].get<int>(), 8);
  const auto& m = j["memory"];
  EXPECT_NEAR(m["peak"].get<double>(),
              m["params"].get<double>() + m["grads"].get<double>() + m["optimizer"].get<double>() +
                  m["activations"].get<double>() + m["buffers"].get<double>() + m["reserve"].get<double>(),
              1e-6 * m["peak"].get<double>());
}

TEST(Cli, SameInputsSameBytes) {
  const std::string args = "run --strategy all --gpus 8,64 --seq 64K --json";
  const auto a = run_spsim(args);
  const auto b = run_spsim(args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
}

TEST(Cli, UlyssesDegreeMustDivideHeads) {
  expect_one_line_error(run_spsim("run --strategy ulysses -u 7 --gpus 7 --seq 7K"), "ulysses");
}

TEST(Cli, GpusMustBeProductOfDegrees) {
  expect_one_line_error(run_spsim("run --strategy ulysses -u 8 --dp 2 --gpus 8 --seq 128K"), "8");
}

TEST(Cli, ZeroSequenceIsRejected) {
  expect_one_line_error(run_spsim("run --seq 0"), "--seq");
}

TEST(Cli, BadSuffixIsRejected) {
  expect_one_line_error(run_spsim("run --seq 12Q"), "--seq");
}

TEST(Cli, UnknownStrategySuggests) {
  expect_one_line_error(run_spsim("run --strategy ulyses"), "did you mean \"ulysses\"");
}

TEST(Cli, UnknownModelSuggests) {
  expect_one_line_error(run_spsim("run --model llama-3-8c"), "did you mean \"llama-3-8b\"");
}

TEST(Cli, UnknownOverrideKeySuggests) {
  expect_one_line_error(run_spsim("run --set gpu.gemm_eficiency=0.8"), "gemm_efficiency");
}

TEST(Cli, BadOverrideValueIsRejected) {
  expect_one_line_error(run_spsim("run --set gpu.gemm_efficiency=-1"), "gemm_efficiency");
}

TEST(Cli, GpusNotWholeNodesIsRejected) {
  expect_one_line_error(run_spsim("run --strategy ring -r 12 --gpus 12 --seq 96K"), "--gpus");
}

TEST(Cli, BadFlagValueExitsTwo) {
  const auto r = run_spsim("run --gpus abc");
  EXPECT_EQ(r.exit_code, 2);
}

// Triton attention runs where it was measured (A100, H100), is refused elsewhere and by --emit
// (no emitted framework selects it), and an unknown kernel lists the three.
TEST(Cli, TritonAttentionOnlyWhereMeasured) {
  const auto a100 = run_spsim("run -T dgx-a100-80gb -s ring -r 8 --gpus 8 --seq 32K --attention-impl triton --json");
  ASSERT_EQ(a100.exit_code, 0) << a100.err;
  const auto flash = run_spsim("run -T dgx-a100-80gb -s ring -r 8 --gpus 8 --seq 32K --attention-impl flash2 --json");
  ASSERT_EQ(flash.exit_code, 0) << flash.err;
  EXPECT_GT(nlohmann::json::parse(a100.out)["step_time_s"].get<double>(),
            nlohmann::json::parse(flash.out)["step_time_s"].get<double>());
  expect_one_line_error(run_spsim("run -T dgx-b200 -s ring -r 8 --gpus 8 --seq 32K --attention-impl triton"),
                        "no Triton FlashAttention timing");
  expect_one_line_error(run_spsim("run -s ring -r 8 --gpus 16 --seq 32K --attention-impl triton --emit megatron"),
                        "--attention-impl triton");
  expect_one_line_error(run_spsim("run --attention-impl xformers"), "cudnn, flash2 or triton");
}

// --elementwise-impl: torchtitan with torch.compile (fused) runs its norms, SwiGLU and residuals
// faster than eager, and says so in the resolved config; a bad value is one line.
TEST(Cli, ElementwiseImplOverridesTheFramework) {
  const std::string base = "run -s ring -r 8 --gpus 8 --seq 32K --framework fsdp --json";
  const auto eager = run_spsim(base);
  const auto fused = run_spsim(base + " --elementwise-impl fused");
  ASSERT_EQ(eager.exit_code, 0) << eager.err;
  ASSERT_EQ(fused.exit_code, 0) << fused.err;
  const auto e = nlohmann::json::parse(eager.out), f = nlohmann::json::parse(fused.out);
  EXPECT_EQ(e["config"]["elementwise_impl"], "eager");
  EXPECT_EQ(f["config"]["elementwise_impl"], "fused");
  EXPECT_LT(f["step_time_s"].get<double>(), e["step_time_s"].get<double>());
  expect_one_line_error(run_spsim("run --elementwise-impl compiled"), "--elementwise-impl");
}

TEST(Cli, UnknownSubcommandExitsTwo) {
  EXPECT_EQ(run_spsim("frobnicate").exit_code, 2);
}

TEST(Cli, MalformedConfigNamesFileLineAndColumn) {
  char dir_template[] = "/tmp/spsim_cfg_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  std::ofstream(dir + "/bad.json") << "{\n  \"model\": \"llama-3-8b\",\n}\n";
  expect_one_line_error(run_spsim("run --config bad.json", dir), "bad.json: parse error");
  const auto r = run_spsim("run --config bad.json", dir);
  EXPECT_NE(r.err.find("line 3, column 1"), std::string::npos) << r.err;
}

TEST(Cli, UnknownConfigKeySuggests) {
  char dir_template[] = "/tmp/spsim_cfg_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  std::ofstream(dir + "/x.json") << R"({"model": "llama-3-8b", "job": {"seq_lenght": 1024}})";
  expect_one_line_error(run_spsim("run --config x.json", dir), "did you mean \"seq_length\"");
}

TEST(Cli, ErrorLeavesNoOutputFile) {
  char dir_template[] = "/tmp/spsim_out_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const auto r = run_spsim("run --strategy ulysses -u 7 --gpus 7 -o out.json", dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(dir + "/out.json"));
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp."), std::string::npos) << entry.path();
  }
}

TEST(Cli, OutputFileMatchesJson) {
  char dir_template[] = "/tmp/spsim_out_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const auto r = run_spsim("run --strategy ring --gpus 8 --seq 128K --json -o out.json", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(test::read_text(dir + "/out.json"), r.out);
}

TEST(Cli, ListsShippedThings) {
  const auto models = run_spsim("list models");
  ASSERT_EQ(models.exit_code, 0) << models.err;
  EXPECT_NE(models.out.find("llama-3-8b"), std::string::npos);
  EXPECT_EQ(run_spsim("list widgets").exit_code, 2);
  // Every topology listed, calibrated ones included, is a name -T accepts.
  const auto topologies = run_spsim("list topologies");
  ASSERT_EQ(topologies.exit_code, 0) << topologies.err;
  std::istringstream lines(topologies.out);
  std::string line;
  std::getline(lines, line);  // header
  int listed = 0, calibrated = 0;
  while (std::getline(lines, line)) {
    const std::string name = line.substr(0, line.find(' '));
    EXPECT_NO_THROW(load_topology(name)) << name;
    ++listed;
    if (name.rfind("calibrated/", 0) == 0) {
      ++calibrated;
      EXPECT_NE(line.find("calibrated: "), std::string::npos) << line;
    }
  }
  EXPECT_EQ(listed, static_cast<int>(list_topologies().size()) + calibrated);
  EXPECT_GE(calibrated, 2);
}

TEST(Cli, UnevenPipelineLayoutsFollowTheFramework) {
  // Llama-3.1-405B's 126 layers on 8 stages: Megatron's even layout refuses and names the uneven
  // flags; NeMo's embedding/loss accounting runs it and the JSON keeps the flags.
  expect_one_line_error(run_spsim("run -m llama-3.1-405b -s megatron-sp -t 8 --pp 8 --gbs 64 --gpus 64 --seq 8K"),
                        "--account-for-embedding-in-pipeline-split");
  const auto r = run_spsim(
      "run -m llama-3.1-405b --framework nemo -s megatron-sp -t 8 --pp 8 --vpp 8 --gbs 64 --gpus 64 --seq 8K "
      "--account-for-embedding-in-pipeline-split --account-for-loss-in-pipeline-split --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto result = nlohmann::json::parse(r.out);
  const auto& row = result.is_array() ? result.at(0) : result;
  EXPECT_EQ(row.at("config").at("account_for_embedding_in_pipeline_split"), true) << r.out;
  EXPECT_EQ(row.at("config").at("account_for_loss_in_pipeline_split"), true);
  expect_one_line_error(run_spsim("run -m llama-3-8b --framework fsdp -s ring -r 2 --pp 4 "
                                  "--decoder-first-pipeline-num-layers 5 --gbs 8 --gpus 8 --seq 8K"),
                        "decoder_first_pipeline_num_layers: is a Megatron-LM pipeline layout");
}

}  // namespace
}  // namespace spsim
