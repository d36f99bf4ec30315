// `spsim run --emit / --from-args / --from-deepspeed / --from-torchtitan / --train-tokens`: the
// README's examples run, emitted settings read back give the same prediction, refusals are one line.
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace spsim {
namespace {

using test::expect_one_line_error;

using test::run_spsim;

const std::string kRepo = SPSIM_SOURCE_DATA_DIR;


// The `spsim ...` lines of the first ```sh block under `heading` in README.md, without their
// trailing comments.
std::vector<std::string> readme_examples(const std::string& heading) {
  std::istringstream readme(test::read_text(kRepo + "/README.md"));
  std::vector<std::string> out;
  bool in_section = false, in_block = false;
  for (std::string line; std::getline(readme, line);) {
    if (line.rfind("### ", 0) == 0) {
      if (in_section) break;
      in_section = line.find(heading) != std::string::npos;
      continue;
    }
    if (!in_section) continue;
    if (line.rfind("```", 0) == 0) {
      if (in_block) break;
      in_block = line == "```sh";
      continue;
    }
    if (!in_block || line.rfind("spsim ", 0) != 0) continue;
    const size_t comment = line.find("  #");
    out.push_back(line.substr(6, comment == std::string::npos ? std::string::npos : comment - 6));
  }
  return out;
}

// Runs spsim from the repository root (the README's paths are relative to it).
test::CommandResult run_in_repo(const std::string& args) {
  char dir_template[] = "/tmp/spsim_launch_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string command = "cd '" + kRepo + "' && '" + std::string(SPSIM_BINARY) + "' " + args + " >'" + dir +
                              "/out' 2>'" + dir + "/err'";
  const int status = std::system(command.c_str());
  test::CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = test::read_text(dir + "/out");
  r.err = test::read_text(dir + "/err");
  std::filesystem::remove_all(dir);
  return r;
}

TEST(LaunchCli, EveryReadmeExampleRuns) {
  const auto examples = readme_examples("Launch settings out and in");
  ASSERT_GE(examples.size(), 9u);
  for (const auto& args : examples) {
    const auto r = run_in_repo(args);
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err;
    EXPECT_FALSE(r.out.empty()) << args;
  }
}

// The outputs the README quotes are what the examples print today: the first example's comment
// lines, and the whole table of the last one (--train-tokens).
TEST(LaunchCli, ReadmeQuotesWhatTheExamplesPrint) {
  const auto examples = readme_examples("Launch settings out and in");
  ASSERT_FALSE(examples.empty());
  const std::string readme = test::read_text(kRepo + "/README.md");
  const auto first = run_in_repo(examples.front());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::istringstream lines(first.out);
  for (std::string line; std::getline(lines, line) && line.rfind("#", 0) == 0;) {
    EXPECT_NE(readme.find("\n" + line + "\n"), std::string::npos) << line;
  }
  const auto last = run_in_repo(examples.back());
  ASSERT_EQ(last.exit_code, 0) << last.err;
  EXPECT_NE(readme.find("```\n" + last.out + "```"), std::string::npos) << last.out;
}

TEST(LaunchCli, EmittedMegatronArgumentsPredictTheSameStep) {
  const std::string plan = "-s usp -u 4 -r 2 --gpus 16 --seq 128K --zero 1 --recompute selective";
  const auto emitted = run_spsim("run " + plan + " --emit megatron");
  ASSERT_EQ(emitted.exit_code, 0) << emitted.err;
  EXPECT_EQ(emitted.out, run_spsim("run " + plan + " --emit megatron").out);  // same bytes
  char dir_template[] = "/tmp/spsim_launch_XXXXXX";
  const std::string script = std::string(mkdtemp(dir_template)) + "/launch.sh";
  std::ofstream(script) << emitted.out;
  const auto direct = run_spsim("run " + plan + " --framework megatron --json");
  const auto back = run_spsim("run --from-args " + script + " --json");
  ASSERT_EQ(direct.exit_code, 0) << direct.err;
  ASSERT_EQ(back.exit_code, 0) << back.err;
  const auto a = nlohmann::json::parse(direct.out);
  const auto b = nlohmann::json::parse(back.out);
  EXPECT_EQ(a["config"], b["config"]);
  EXPECT_EQ(a["step_time_s"], b["step_time_s"]);
  EXPECT_EQ(a["memory"], b["memory"]);
}

TEST(LaunchCli, EmittedTorchtitanTomlPredictsTheSameStep) {
  const std::string plan = "-s megatron-sp -t 8 --gpus 16 --seq 64K --zero 2 --recompute full";
  const auto emitted = run_spsim("run " + plan + " --emit torchtitan");
  ASSERT_EQ(emitted.exit_code, 0) << emitted.err;
  char dir_template[] = "/tmp/spsim_launch_XXXXXX";
  const std::string toml = std::string(mkdtemp(dir_template)) + "/job.toml";
  std::ofstream(toml) << emitted.out;
  const auto direct = run_spsim("run " + plan + " --framework fsdp --json");
  const auto back = run_spsim("run --from-torchtitan " + toml + " --json");
  ASSERT_EQ(back.exit_code, 0) << back.err;
  const auto a = nlohmann::json::parse(direct.out);
  const auto b = nlohmann::json::parse(back.out);
  EXPECT_EQ(a["config"], b["config"]);
  EXPECT_EQ(a["step_time_s"], b["step_time_s"]);
}

TEST(LaunchCli, JsonCarriesTheLaunchAndTheTrainingCost) {
  const auto r = run_spsim(
      "run -s ring -r 8 --gpus 16 --seq 128K --zero 1 --emit megatron --json --train-tokens 1T --gpu-hour-cost 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["launch"]["format"], "megatron");
  EXPECT_NE(j["launch"]["text"].get<std::string>().find("--context-parallel-size 8"), std::string::npos);
  const auto& t = j["training"];
  const double tokens_per_step = 2.0 * 131072;  // dp 2, one sequence each
  EXPECT_EQ(t["tokens_per_step"].get<double>(), tokens_per_step);
  EXPECT_EQ(t["steps"].get<int64_t>(), static_cast<int64_t>(std::ceil(1e12 / tokens_per_step)));
  EXPECT_NEAR(t["wall_clock_s"].get<double>(), t["steps"].get<double>() * j["step_time_s"].get<double>(),
              1e-9 * t["wall_clock_s"].get<double>());  // the JSON rounds step_time_s
  EXPECT_DOUBLE_EQ(t["gpu_hours"].get<double>(), t["wall_clock_s"].get<double>() * 16 / 3600);
  EXPECT_DOUBLE_EQ(t["cost"].get<double>(), t["gpu_hours"].get<double>() * 2);
}

TEST(LaunchCli, SweepBestTableShowsTheRunsDaysAndCost) {
  const auto r = run_spsim("sweep --best -s ring --gpus 16 --seq 128K -o sweep --train-tokens 1T --gpu-hour-cost 2");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("GPU-hours"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cost"), std::string::npos) << r.out;
  const auto plain = run_spsim("sweep --best -s ring --gpus 16 --seq 128K -o sweep");
  EXPECT_EQ(plain.out.find("GPU-hours"), std::string::npos) << plain.out;
  expect_one_line_error(run_spsim("sweep --best -s ring --gpus 16 --seq 128K -o sweep --gpu-hour-cost 2"),
                        "--train-tokens");
}

TEST(LaunchCli, ImportReportsWhatItIgnoredAfterTheOutput) {
  const auto r = run_spsim(
      "run --from-args '--tensor-model-parallel-size 8 --sequence-parallel --seq-length 8192 --bf16 --lr 3e-4' "
      "-m llama-3-8b --gpus 8");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("megatron-sp"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("ignored (no effect on the step spsim models): --lr"), std::string::npos) << r.err;
}

TEST(LaunchCli, RefusalsAndBadInputsAreOneLine) {
  expect_one_line_error(run_spsim("run -s ring -r 8 --gpus 8 --seq 128K --emit deepspeed"), "--emit deepspeed");
  expect_one_line_error(run_spsim("run -s ring -r 8 --gpus 8 --seq 128K --zero 2 --emit megatron"), "ZeRO-2");
  expect_one_line_error(run_spsim("run --strategy all --gpus 8 --seq 128K --emit megatron"), "--emit");
  expect_one_line_error(run_spsim("run -s ring -r 8 --gpus 8 --seq 128K --emit megatorn"), "megatron");
  expect_one_line_error(run_spsim("run --from-args '--tensor-model-paralel-size 8' --gpus 8"),
                        "--tensor-model-parallel-size");
  expect_one_line_error(run_spsim("run --from-args '--num-experts 8 --seq-length 4096' --gpus 8"), "--num-experts");
  // A model the arguments do not describe is not guessed.
  expect_one_line_error(run_spsim("run --from-args '--seq-length 4096' --gpus 8"), "-m");
  // An argument string longer than a file name can be is read as arguments, not stat()ed as a path.
  std::string many;
  for (int i = 0; i < 12; ++i) many += "--tensor-model-parallel-size 2 ";
  const auto long_args = run_spsim("run --from-args '" + many + "--seq-length 8192' -m llama-3-8b --gpus 8");
  EXPECT_EQ(long_args.exit_code, 0) << long_args.err;
  // One word naming no file is a mistyped path, not arguments with a stray word.
  expect_one_line_error(run_spsim("run --from-args /tmp/no-such-launch.sh -m llama-3-8b --gpus 8"), "no file");
  // The GPU count is the launcher's: without it, the flag must say it.
  expect_one_line_error(run_spsim("run --from-args '--seq-length 4096' -m llama-3-8b"), "--gpus");
  // A script that reads fine but whose plan breaks a rule: still one line, no notes before it.
  expect_one_line_error(
      run_spsim("run --from-args '--tensor-model-parallel-size 3 --seq-length 4096 --lr 1' -m llama-3-8b --gpus 8"),
      "tensor_model_parallel_size");
  expect_one_line_error(run_spsim("run --seq 8K --gpu-hour-cost 2"), "--train-tokens");
  expect_one_line_error(run_spsim("run --seq 8K --train-tokens 1X"), "--train-tokens");
  expect_one_line_error(run_spsim("run --from-deepspeed /nonexistent/ds.json"), "/nonexistent/ds.json");
}

}  // namespace
}  // namespace spsim
