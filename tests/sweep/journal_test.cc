// The resume journal against hostile content and a second writer (robustness study D10, D16,
// D17), and forked helpers that must die with spsim (D12).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "spsim/sweep.h"
#include "spsim/topology.h"
#include "test_util.h"

namespace spsim {
namespace {

namespace fs = std::filesystem;

using test::temp_dir;

// Ring on 8 GPUs at 64K and 128K: 2 points.
SweepPlan two_points() {
  SweepPlan plan;
  plan.models.push_back(test::llama3_8b());
  plan.topologies.push_back(load_topology("dgx-h100"));
  for (int64_t seq : {65536, 131072}) {
    SweepPlan::Point point;
    point.job.strategy = "ring";
    point.job.num_gpus = 8;
    point.job.seq_length = seq;
    plan.points.push_back(point);
  }
  plan.meta = {{"tool", "spsim"}, {"test", "two_points"}};
  return plan;
}

// Runs `plan` until its first row is journaled, then stops (an exception out of on_row), leaving
// PREFIX.partial with the header and row 0. Returns the journal's lines.
std::vector<std::string> interrupted_after_one_row(const SweepPlan& plan, const std::string& prefix) {
  SweepRunOptions options;
  options.output_prefix = prefix;
  options.on_row = [](size_t done, size_t) {
    if (done == 1) throw std::runtime_error("stop");
  };
  EXPECT_THROW(run_sweep(plan, options), std::runtime_error);
  std::ifstream in(prefix + ".partial");
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  EXPECT_EQ(lines.size(), 2u);
  return lines;
}

void append(const std::string& path, const nlohmann::json& line) { std::ofstream(path, std::ios::app) << line.dump() << "\n"; }

SweepRunOptions resume(const std::string& prefix) {
  SweepRunOptions options;
  options.output_prefix = prefix;
  options.resume = true;
  return options;
}

TEST(SweepJournal, RowsArePointsOfThisSweep) {
  // D10: an index past the plan became a third row of a 2-point sweep ("wrote ... (3 rows)").
  const SweepPlan plan = two_points();
  const std::string prefix = temp_dir() + "/s";
  auto lines = interrupted_after_one_row(plan, prefix);
  auto row = nlohmann::json::parse(lines[1]);
  row["i"] = 7;
  append(prefix + ".partial", row);
  EXPECT_THROW_MSG(run_sweep(plan, resume(prefix)), InputError,
                   "line 3 of the sweep journal is malformed: point 7 of a sweep of 2");
  // Point 0's row filed under point 1: its inputs give it away.
  fs::remove(prefix + ".partial");
  lines = interrupted_after_one_row(plan, prefix);
  row = nlohmann::json::parse(lines[1]);
  row["i"] = 1 - row["i"].get<int>();
  append(prefix + ".partial", row);
  EXPECT_THROW_MSG(run_sweep(plan, resume(prefix)), InputError, "is not that point's");
}

TEST(SweepJournal, MalformedRowIsAnInputErrorNamingTheLine) {
  // D17: exit 3 with "[json.exception.type_error.302] (/row/model) type must be string".
  const SweepPlan plan = two_points();
  const std::string prefix = temp_dir() + "/s";
  const auto lines = interrupted_after_one_row(plan, prefix);
  auto row = nlohmann::json::parse(lines[1]);
  row["row"]["model"] = 5;
  std::ofstream(prefix + ".partial") << lines[0] << "\n" << row.dump() << "\n";
  EXPECT_THROW_MSG(run_sweep(plan, resume(prefix)), InputError,
                   "line 2 of the sweep journal is malformed ((/row/model) type must be string, but is number)");
}

TEST(SweepJournal, SecondWriterIsRefusedWithTheFirstOnesPid) {
  // D16: told "an interrupted sweep left this journal; add --resume", and following that advice
  // made two unlocked writers.
  const SweepPlan plan = two_points();
  const std::string prefix = temp_dir() + "/s";
  {
    SweepJournal first(prefix + ".partial", "fingerprint", false, plan.points.size());
    EXPECT_EQ(test::read_text(prefix + ".lock"), std::to_string(getpid()) + "\n");
    const std::string busy = "another spsim sweep (pid " + std::to_string(getpid()) + ") is writing this prefix";
    SweepRunOptions options;
    options.output_prefix = prefix;
    EXPECT_THROW_MSG(run_sweep(plan, options), InputError, busy);
    EXPECT_THROW_MSG(run_sweep(plan, resume(prefix)), InputError, busy);
  }
  // Released: the lock file goes with the writer, and the next sweep runs.
  EXPECT_FALSE(fs::exists(prefix + ".lock"));
  fs::remove(prefix + ".partial");
  SweepRunOptions options;
  options.output_prefix = prefix;
  EXPECT_EQ(run_sweep(plan, options).size(), 2u);
  EXPECT_FALSE(fs::exists(prefix + ".lock"));
}

// Runs spsim with `args` in the background, waits until it has forked a child, kills spsim with
// SIGKILL and returns whether its children are gone within 5 s. Each workload below runs for well
// over 5 s, so an orphan is still there when the check ends (and is then killed).
bool children_die_with_spsim(const std::string& args) {
  const std::string dir = temp_dir();
  const std::string script =
      "cd '" + dir + "' && '" SPSIM_BINARY "' " + args + " >/dev/null 2>&1 & P=$!; "
      "for i in $(seq 3000); do C=$(pgrep -P $P); [ -n \"$C\" ] && break; sleep 0.01; done; "
      "[ -n \"$C\" ] || exit 3; kill -9 $P; "
      "for i in $(seq 500); do ALIVE=''; for c in $C; do kill -0 $c 2>/dev/null && ALIVE=1; done; "
      "[ -z \"$ALIVE\" ] && exit 0; sleep 0.01; done; kill -9 $C; exit 1";
  const int status = std::system(script.c_str());
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST(ForkedHelpers, DieWithSpsim) {
  // D12: kill -9 of spsim left the forked DES simulation and the -j workers running as orphans.
  EXPECT_TRUE(children_die_with_spsim("run -s ulysses -u 16 --gpus 512 --seq 128K --engine des --json"));
  EXPECT_TRUE(children_die_with_spsim("sweep -s ulysses -u 16 --gpus 512 --seq 16K:1M:x2 --gbs 32 --engine des -j 2 -o s"));
}

}  // namespace
}  // namespace spsim
