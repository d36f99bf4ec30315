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

}  // namespace
}  // namespace spsim
