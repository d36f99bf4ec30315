// spsim compare (issue 19): two run results side by side, the B-vs-A deltas and the verdict
// against the model's stated error; anything else is a one-line error.
#include <fstream>
#include <string>

#include "test_util.h"

namespace spsim {
namespace {

using test::expect_one_line_error;
using test::run_spsim;

TEST(Compare, DeltasAndVerdictAgainstTheModelError) {
  const std::string dir = test::temp_dir("compare");
  ASSERT_EQ(run_spsim("run -s ring -r 8 --gpus 8 --seq 128K --zero 3 --recompute full -o a.json", dir).exit_code, 0);
  ASSERT_EQ(run_spsim("run -s ulysses -u 8 --gpus 8 --seq 128K --zero 3 --recompute full -o b.json", dir).exit_code, 0);
  ASSERT_EQ(run_spsim("run -s ring -r 8 --gpus 8 --seq 128K --zero 3 --recompute full --ring-variant stripe -o c.json",
                      dir).exit_code, 0);
  const auto r = run_spsim("compare a.json b.json", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("tokens/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("verdict: A is "), std::string::npos) << r.out;  // ring is the faster
  EXPECT_NE(r.out.find("outside the model's"), std::string::npos) << r.out;  // ring vs Ulysses at 8 GPUs
  // The order of the files does not change the verdict (the faster plan's margin decides).
  const auto swapped = run_spsim("compare b.json a.json", dir);
  ASSERT_EQ(swapped.exit_code, 0) << swapped.err;
  const auto verdict_of = [](const std::string& out) { return out.substr(out.find("verdict: ")); };
  std::string expected = verdict_of(r.out);
  expected.replace(expected.find("A is"), 4, "B is");
  expected.replace(expected.find("than B"), 6, "than A");
  EXPECT_EQ(verdict_of(swapped.out), expected);
  // zigzag vs stripe: a few percent, inside the model's error.
  const auto tie = run_spsim("compare a.json c.json", dir);
  ASSERT_EQ(tie.exit_code, 0) << tie.err;
  EXPECT_NE(tie.out.find(": a tie, inside the model's"), std::string::npos) << tie.out;
  // The same file twice: +0.0 % everywhere.
  const auto same = run_spsim("compare a.json a.json", dir);
  EXPECT_NE(same.out.find("+0.0%"), std::string::npos);
  EXPECT_EQ(same.out.find("note: A and B differ"), std::string::npos);
  // Another topology runs the same work: no "different work" note.
  ASSERT_EQ(run_spsim("run -s ring -r 8 --gpus 8 --seq 128K --zero 3 --recompute full -T dgx-b200 -o d.json", dir)
                .exit_code, 0);
  EXPECT_EQ(run_spsim("compare a.json d.json", dir).out.find("note: A and B differ"), std::string::npos);
}

TEST(Compare, OnlyRunResultsAreRead) {
  const std::string dir = test::temp_dir("compare_bad");
  ASSERT_EQ(run_spsim("run -s ring -r 8 --gpus 8 --seq 64K -o a.json", dir).exit_code, 0);
  ASSERT_EQ(run_spsim("run -s ring,ulysses --gpus 8 --seq 64K -o two.json", dir).exit_code, 0);
  {
    std::ofstream(dir + "/other.json") << "{\"strategy\": \"ring\"}";
  }
  expect_one_line_error(run_spsim("compare a.json other.json", dir), "other.json: no \"config\"");
  expect_one_line_error(run_spsim("compare a.json two.json", dir), "two.json: a list of 2 results");
  expect_one_line_error(run_spsim("compare a.json missing.json", dir), "missing.json");
  EXPECT_EQ(run_spsim("compare a.json", dir).exit_code, 2);
}


// A measured run against its prediction: the step, the kernel split of a profiler trace, the error
// and its sign, the model's stated error.
TEST(Compare, MeasuredRunAgainstItsPrediction) {
  const std::string dir = test::temp_dir("compare_measured");
  const std::string data = std::string(SPSIM_SOURCE_DATA_DIR) + "/tests/data/measured/";
  ASSERT_EQ(run_spsim("run -m llama-3.1-8b -s ring -r 2 --gpus 8 --seq 8K --gbs 128 --zero 1 --framework nemo -o p.json",
                      dir).exit_code, 0);
  const auto log = run_spsim("compare --measured " + data + "megatron_log.txt --skip 1 p.json", dir);
  ASSERT_EQ(log.exit_code, 0) << log.err;
  EXPECT_NE(log.out.find("Megatron-LM log, 3 steps (first 1 skipped)"), std::string::npos) << log.out;
  EXPECT_NE(log.out.find("12910.0 (median; min 12890.0, max 12950.0)"), std::string::npos) << log.out;
  EXPECT_NE(log.out.find("verdict: spsim predicts a step "), std::string::npos) << log.out;
  EXPECT_NE(log.out.find("median throughput error over"), std::string::npos) << log.out;
  const auto trace = run_spsim("compare --measured " + data + "kineto_three_steps.json p.json", dir);
  ASSERT_EQ(trace.exit_code, 0) << trace.err;
  EXPECT_NE(trace.out.find("GPU compute ms     50.0 per step"), std::string::npos) << trace.out;
  EXPECT_NE(trace.out.find("exposed comm ms    9.7 per step"), std::string::npos) << trace.out;
  // The prediction of an 8B step is seconds, the trace's 100 ms: pessimistic by far, and said so.
  EXPECT_NE(trace.out.find("longer (pessimistic)"), std::string::npos) << trace.out;
  // Errors: one line, exit 2.
  expect_one_line_error(run_spsim("compare --measured " + data + "step_times.txt p.json p.json", dir), "--measured");
  expect_one_line_error(run_spsim("compare --skip 1 p.json p.json", dir), "--skip");
  expect_one_line_error(run_spsim("compare --measured missing.txt p.json", dir), "missing.txt");
}

}  // namespace
}  // namespace spsim
