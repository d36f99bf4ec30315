// Output paths (robustness study D8, D13, D18, D19): -o onto links, FIFOs, devices, folders and
// empty paths, and temporaries left by kill -9 during a final write.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/atomic_write.h"
#include "spsim/report.h"
#include "test_util.h"

namespace spsim {
namespace {

namespace fs = std::filesystem;
using test::expect_one_line_error;
using test::run_spsim;

using test::temp_dir;

// A PID that no process has: a child that has exited and been reaped.
pid_t dead_pid() {
  const pid_t pid = fork();
  if (pid == 0) _exit(0);
  int status = 0;
  waitpid(pid, &status, 0);
  return pid;
}

const char* kNccl = "nccl-tests/h100-sxm-ndr400_allgather_1node_8gpu.log";

TEST(OutputFiles, SymlinkIsWrittenThroughAndKept) {
  // D8: the link was replaced by a regular file and its target left as it was.
  const std::string dir = temp_dir();
  std::ofstream(dir + "/target.json") << "TARGET";
  fs::create_symlink("target.json", dir + "/link.json");
  const auto r = run_spsim("run -s ring --gpus 8 --seq 64K --json -o link.json", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(dir + "/link.json"));
  EXPECT_EQ(test::read_text(dir + "/target.json"), r.out);
}

TEST(OutputFiles, FifosDevicesAndFoldersAreRefusedBeforeTheWork) {
  // D8: a FIFO (or, as root, /dev/full) was replaced by a regular file; D13: calibrate into a
  // folder said "cannot move the output into place: Success".
  const std::string dir = temp_dir();
  ASSERT_EQ(mkfifo((dir + "/f.json").c_str(), 0600), 0);
  expect_one_line_error(run_spsim("run -s ring --gpus 8 --seq 64K -o f.json", dir), "f.json: is not a regular file");
  EXPECT_FALSE(fs::is_regular_file(dir + "/f.json"));
  expect_one_line_error(run_spsim("run -s ring --gpus 8 --seq 64K -o /dev/null"), "/dev/null: is not a regular file");
  fs::create_directory(dir + "/adir");
  expect_one_line_error(run_spsim("calibrate --base dgx-h100 -o adir --nccl-tests " + test::data_path(kNccl), dir),
                        "adir: is a directory; give a file name");
  expect_one_line_error(run_spsim("run -s ring --gpus 8 --seq 64K --engine des --trace adir", dir),
                        "adir: is a directory");
}

TEST(OutputFiles, EmptyPathsAndFolderPrefixesAreRefused) {
  // D19: -o '' was silently ignored; -o outdir/ wrote the hidden files outdir/.csv, .json.
  const std::string dir = temp_dir();
  expect_one_line_error(run_spsim("run -s ring --gpus 8 --seq 64K -o ''", dir), "--output: an empty path");
  expect_one_line_error(run_spsim("sweep -s ring --gpus 8 --seq 64K -o outdir/", dir),
                        "\"outdir/\" names a folder, not a prefix; write e.g. outdir/sweep");
  EXPECT_FALSE(fs::exists(dir + "/outdir"));
}

TEST(OutputFiles, SweepOutputThatIsAFolderFailsBeforeTheSweep) {
  // D19: the error came after the whole sweep and left PREFIX.partial behind.
  const std::string dir = temp_dir();
  fs::create_directory(dir + "/adir.csv");
  expect_one_line_error(run_spsim("sweep -s ring --gpus 8 --seq 64K -o adir", dir), "adir.csv: is a directory");
  EXPECT_FALSE(fs::exists(dir + "/adir.partial"));
}

TEST(OutputFiles, StrayTemporariesOfDeadProcessesAreRemoved) {
  // D18: kill -9 inside the final write left PREFIX.csv.tmp.PID (up to 2 MB) that --resume never
  // removed. A temporary of a live process is its own and stays.
  const std::string dir = temp_dir();
  const std::string dead = std::to_string(dead_pid());
  const std::string live = std::to_string(getpid());
  for (const std::string& name : {"s.csv.tmp." + dead, "s.json.tmp." + dead, "s.csv.tmp." + live, "r.json.tmp." + dead}) {
    std::ofstream(dir + "/" + name) << "partial";
  }
  const auto sweep = run_spsim("sweep -s ring --gpus 8 --seq 64K -o s --resume", dir);
  ASSERT_EQ(sweep.exit_code, 0) << sweep.err;
  EXPECT_FALSE(fs::exists(dir + "/s.csv.tmp." + dead));
  EXPECT_FALSE(fs::exists(dir + "/s.json.tmp." + dead));
  EXPECT_TRUE(fs::exists(dir + "/s.csv.tmp." + live));
  const auto run = run_spsim("run -s ring --gpus 8 --seq 64K -o r.json", dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_FALSE(fs::exists(dir + "/r.json.tmp." + dead));
}

TEST(OutputFiles, CheckOutputPathResolvesLinks) {
  const std::string dir = temp_dir();
  fs::create_symlink(dir + "/real.json", dir + "/dangling.json");
  EXPECT_EQ(check_output_path(dir + "/dangling.json"), dir + "/real.json");
  EXPECT_EQ(check_output_path(dir + "/plain.json"), dir + "/plain.json");
  EXPECT_THROW_MSG(check_output_path(dir + "/missing/x.json"), InputError, "does not exist; create it first");
}

}  // namespace
}  // namespace spsim
