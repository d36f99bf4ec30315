// Running sweeps: resume after a kill or an interrupted journal gives the same bytes as an
// uninterrupted run; --jobs 2 gives the same bytes as --jobs 1; journal errors are clear.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "spsim/sweep.h"
#include "spsim/topology.h"
#include "test_util.h"

namespace spsim {
namespace {

namespace fs = std::filesystem;

std::string temp_dir() {
  char dir_template[] = "/tmp/spsim_sweep_XXXXXX";
  return mkdtemp(dir_template);
}

// 2 strategies x 2 GPU counts x 3 sequence lengths, best plan each: 12 rows.
SweepPlan small_plan() {
  SweepPlan plan;
  plan.models.push_back(test::llama3_8b());
  plan.topologies.push_back(load_topology("dgx-h100"));
  plan.best = true;
  for (const char* strategy : {"ulysses", "ring"}) {
    for (int64_t gpus : {8, 16}) {
      for (int64_t seq : {32768, 131072, 524288}) {
        SweepPlan::Point point;
        point.job.strategy = strategy;
        point.job.num_gpus = gpus;
        point.job.seq_length = seq;
        point.job.framework_reserve_bytes = kDefaultFrameworkReserveBytes;
        plan.points.push_back(point);
      }
    }
  }
  plan.meta = {{"tool", "spsim"}, {"test", "small_plan"}};
  return plan;
}

struct Files {
  std::string csv, json;
};

Files run(const SweepPlan& plan, const std::string& prefix, int jobs, bool resume = false) {
  SweepRunOptions options;
  options.output_prefix = prefix;
  options.jobs = jobs;
  options.resume = resume;
  run_sweep(plan, options);
  EXPECT_FALSE(fs::exists(prefix + ".partial")) << "the journal is removed after a full run";
  return {test::read_text(prefix + ".csv"), test::read_text(prefix + ".json")};
}

TEST(SweepRunTest, JobsTwoGivesTheSameBytesAsJobsOne) {
  const std::string dir = temp_dir();
  const SweepPlan plan = small_plan();
  const Files one = run(plan, dir + "/one", 1);
  const Files two = run(plan, dir + "/two", 2);
  const Files three = run(plan, dir + "/three", 3);
  EXPECT_EQ(one.csv, two.csv);
  EXPECT_EQ(one.json, two.json);
  EXPECT_EQ(one.csv, three.csv);
  // 12 rows + the header.
  EXPECT_EQ(std::count(one.csv.begin(), one.csv.end(), '\n'), 13);
  fs::remove_all(dir);
}

TEST(SweepRunTest, ResumeAfterKillGivesTheSameFile) {
  const std::string dir = temp_dir();
  const SweepPlan plan = small_plan();
  const Files whole = run(plan, dir + "/whole", 1);

  // A child process runs the sweep and is killed (SIGKILL, no clean-up) after its 5th row.
  const std::string prefix = dir + "/killed";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    SweepRunOptions options;
    options.output_prefix = prefix;
    options.on_row = [](size_t done, size_t) {
      if (done == 5) raise(SIGKILL);
    };
    run_sweep(plan, options);
    _exit(0);  // not reached
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_TRUE(fs::exists(prefix + ".partial"));
  EXPECT_FALSE(fs::exists(prefix + ".csv"));
  // Header + 5 rows survived the kill.
  const std::string journal = test::read_text(prefix + ".partial");
  EXPECT_EQ(std::count(journal.begin(), journal.end(), '\n'), 6);

  // Without --resume the journal is not overwritten silently.
  SweepRunOptions fresh;
  fresh.output_prefix = prefix;
  EXPECT_THROW_MSG(run_sweep(plan, fresh), InputError, "add --resume");

  const Files resumed = run(plan, prefix, 2, /*resume=*/true);
  EXPECT_EQ(resumed.csv, whole.csv);
  EXPECT_EQ(resumed.json, whole.json);
  fs::remove_all(dir);
}

TEST(SweepRunTest, ResumeDropsAHalfWrittenLineAndNeverDuplicates) {
  const std::string dir = temp_dir();
  const SweepPlan plan = small_plan();
  const Files whole = run(plan, dir + "/whole", 1);

  // Interrupt after 4 rows (an exception out of the progress callback), then simulate a kill in
  // the middle of writing a row, and a row written twice.
  const std::string prefix = dir + "/cut";
  SweepRunOptions options;
  options.output_prefix = prefix;
  options.on_row = [](size_t done, size_t) {
    if (done == 4) throw std::runtime_error("interrupted");
  };
  EXPECT_THROW(run_sweep(plan, options), std::runtime_error);
  std::string journal = test::read_text(prefix + ".partial");
  const size_t second = journal.find('\n') + 1;
  const std::string first_row = journal.substr(second, journal.find('\n', second) + 1 - second);
  {
    std::ofstream out(prefix + ".partial", std::ios::app | std::ios::binary);
    out << first_row << "{\"i\": 9, \"row\": {\"model\": \"lla";
  }
  const Files resumed = run(plan, prefix, 1, /*resume=*/true);
  EXPECT_EQ(resumed.csv, whole.csv);
  EXPECT_EQ(resumed.json, whole.json);
  fs::remove_all(dir);
}

TEST(SweepRunTest, JournalOfADifferentSweepIsRejected) {
  const std::string dir = temp_dir();
  SweepPlan plan = small_plan();
  const std::string prefix = dir + "/x";
  SweepRunOptions options;
  options.output_prefix = prefix;
  options.on_row = [](size_t done, size_t) {
    if (done == 2) throw std::runtime_error("interrupted");
  };
  EXPECT_THROW(run_sweep(plan, options), std::runtime_error);
  plan.points.pop_back();
  SweepRunOptions resume;
  resume.output_prefix = prefix;
  resume.resume = true;
  EXPECT_THROW_MSG(run_sweep(plan, resume), InputError, "different inputs");
  fs::remove_all(dir);
}

TEST(SweepRunTest, OutputHasUnitsInColumnNamesAndMeta) {
  const auto& columns = sweep_columns();
  for (const char* name : {"step_time_s", "tokens_per_s", "mem_peak_bytes", "hbm_capacity_bytes",
                           "tflops_per_gpu_model", "exposed_ulysses_a2a_s", "bubble_s"}) {
    EXPECT_NE(std::find(columns.begin(), columns.end(), name), columns.end()) << name;
  }
  SweepRow row;
  row.model = "m";
  row.status = "invalid";
  row.reason = "a, \"quoted\" reason";
  const std::string csv = sweep_csv({row});
  // RFC 4180 quoting; numbers of an invalid row are empty cells.
  EXPECT_NE(csv.find("\"a, \"\"quoted\"\" reason\",,"), std::string::npos) << csv;
  const auto json = nlohmann::json::parse(sweep_json({row}, {{"version", "x"}}));
  EXPECT_EQ(json.at("meta").at("version"), "x");
  EXPECT_TRUE(json.at("rows").at(0).at("step_time_s").is_null());
}

TEST(SweepCliTest, BestSweepSameBytesForJobsOneAndTwo) {
  const std::string dir = temp_dir();
  const auto a = test::run_spsim("sweep --best --gpus 8,16 --seq 32K:128K:x4 -o a -j 1", dir);
  const auto b = test::run_spsim("sweep --best --gpus 8,16 --seq 32K:128K:x4 -o b -j 2", dir);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(test::read_text(dir + "/a.csv"), test::read_text(dir + "/b.csv"));
  EXPECT_EQ(test::read_text(dir + "/a.json"), test::read_text(dir + "/b.json"));
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out.find("best plan"), std::string::npos);
  // Not a terminal: no progress line on stderr, only the summary.
  EXPECT_EQ(a.err.find("points/s"), std::string::npos) << a.err;
  fs::remove_all(dir);
}

TEST(SweepCliTest, BadRangeIsOneLineExitTwo) {
  const auto r = test::run_spsim("sweep --seq 8K:1M:x1 -o a");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("spsim: error: --seq: factor must be at least 2"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(SweepCliTest, ExperimentFilesLoad) {
  // Every shipped experiment parses and expands (run on a tiny grid via flags that override it).
  for (const auto& entry : fs::directory_iterator(std::string(SPSIM_SOURCE_DATA_DIR) + "/experiments")) {
    if (entry.path().extension() != ".json") continue;
    const std::string dir = temp_dir();
    const auto r = test::run_spsim("sweep --config '" + entry.path().string() + "' --seq 32K --gpus 8 -o x", dir);
    EXPECT_EQ(r.exit_code, 0) << entry.path() << ": " << r.err;
    EXPECT_TRUE(fs::exists(dir + "/x.json")) << entry.path();
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace spsim
