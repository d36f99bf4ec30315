// Plots from a fixture CSV: every figure exists as PNG and SVG, is non-empty, and two runs give
// the same bytes. Skipped where /usr/bin/python3 has no matplotlib.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace spsim {
namespace {

namespace fs = std::filesystem;

bool have_matplotlib() {
  return std::system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") == 0;
}

TEST(PlotTest, FiguresExistAndAreDeterministic) {
  if (!have_matplotlib()) GTEST_SKIP() << "python3-matplotlib not installed";
  char dir_template[] = "/tmp/spsim_plot_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const std::string fixture = test::data_path("sweep/best-llama3-8b-dgx-h100.csv");
  const auto first = test::run_spsim("plot '" + fixture + "' -o one", dir);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const auto second = test::run_spsim("plot '" + fixture + "' -o two", dir);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  for (const char* name : {"throughput_vs_seq", "memory_vs_seq", "breakdown", "best_heatmap", "scaling"}) {
    for (const char* ext : {".png", ".svg"}) {
      const std::string a = test::read_text(dir + "/one/" + name + ext);
      const std::string b = test::read_text(dir + "/two/" + name + ext);
      EXPECT_GT(a.size(), 1000u) << name << ext;
      EXPECT_EQ(a, b) << name << ext << " differs between two runs";
    }
  }
  // The SVG carries no date (metadata Date None).
  EXPECT_EQ(test::read_text(dir + "/one/scaling.svg").find("<dc:date>"), std::string::npos);
  fs::remove_all(dir);
}

TEST(PlotTest, OneSetOfFiguresPerModelAndTopology) {
  // Issue 16 (study S3): a sweep over two topologies used to draw the heatmap and scaling of the
  // first pair only, titled with it. Now every (model, topology) gets its own figures.
  if (!have_matplotlib()) GTEST_SKIP() << "python3-matplotlib not installed";
  char dir_template[] = "/tmp/spsim_plot_XXXXXX";
  const std::string dir = mkdtemp(dir_template);
  const auto r = test::run_spsim("sweep --best -s ring,usp -T dgx-h100,dgx-b200 --gpus 8,16 --seq 32K,64K "
                                 "-o s --plot p", dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* pair : {"llama-3-8b-dgx-h100", "llama-3-8b-dgx-b200"}) {
    for (const char* name : {"throughput_vs_seq", "memory_vs_seq", "breakdown", "best_heatmap", "scaling"}) {
      const std::string file = dir + "/p/" + name + "-" + pair + ".png";
      EXPECT_TRUE(fs::exists(file)) << file;
    }
  }
  EXPECT_FALSE(fs::exists(dir + "/p/best_heatmap.png"));
  // Study S15: with stdout not a terminal (here a pipe) the table comes before the plotted files
  // the Python child prints, and the stderr "wrote" line is a whole line.
  const size_t table = r.out.find("best plan"), png = r.out.find(".png");
  ASSERT_NE(table, std::string::npos) << r.out;
  ASSERT_NE(png, std::string::npos) << r.out;
  EXPECT_LT(table, png) << r.out;
  const size_t wrote = r.err.find("wrote ");
  ASSERT_NE(wrote, std::string::npos) << r.err;
  EXPECT_TRUE(wrote == 0 || r.err[wrote - 1] == '\n') << r.err;
  fs::remove_all(dir);
}

TEST(PlotTest, MissingResultIsAClearError) {
  const auto r = test::run_spsim("plot does-not-exist.csv -o out");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no such result file"), std::string::npos) << r.err;
}

TEST(PlotTest, BadResultsAreOneLineAndLeaveNoFolder) {
  // D15 (robustness study): a Python traceback of up to 24 lines, or the script's line and then
  // spsim's, and the -o folder created before the input was read.
  if (!have_matplotlib()) GTEST_SKIP() << "python3-matplotlib not installed";
  const std::string dir = test::temp_dir("plot");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"wrong_cols.csv", "a,b,c\n1,2,3\n"},
      {"empty.csv", ""},
      {"list.json", "[1,2,3]"},
      {"garbage.json", "{\"rows\": 5}"},
      {"trunc.json", "{\"rows\": [ {\"model\": \"x\""},
      {"deep.json", "{\"rows\": " + std::string(200000, '[') + std::string(200000, ']') + "}"},
      {"wrong_type.json", "{\"rows\": [{\"model\": 5}]}"},
  };
  for (const auto& [name, text] : cases) {
    std::ofstream(dir + "/" + name) << text;
    test::expect_one_line_error(test::run_spsim("plot " + name + " -o p", dir), name + ": ");
    EXPECT_FALSE(fs::exists(dir + "/p")) << name;
  }
  std::ofstream(dir + "/afile") << "x";
  test::expect_one_line_error(
      test::run_spsim("plot '" + test::data_path("sweep/best-llama3-8b-dgx-h100.csv") + "' -o afile", dir),
      "-o: afile is a file, not a folder");
}

}  // namespace
}  // namespace spsim
