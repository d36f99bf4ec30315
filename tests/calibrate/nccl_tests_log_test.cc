// The nccl-tests importer on the public logs in tests/data/nccl-tests/ (copied from
// shared/fixtures/nccl-tests, each with its "# SOURCE:" line) and on broken inputs.
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "spsim/calibrate.h"
#include "test_util.h"

namespace spsim {
namespace {

/// Like EXPECT_THROW_MSG for InputError, on "where: what" (the line the CLI prints).
#define EXPECT_INPUT_ERROR(statement, substring)                                   \
  do {                                                                             \
    try {                                                                          \
      statement;                                                                   \
      ADD_FAILURE() << "expected InputError containing \"" << (substring) << "\""; \
    } catch (const InputError& e) {                                                \
      EXPECT_NE(e.full().find(substring), std::string::npos) << e.full();          \
    }                                                                              \
  } while (0)

namespace fs = std::filesystem;

std::vector<std::string> fixture_logs() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(test::data_path("nccl-tests"))) {
    if (e.path().extension() == ".log") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

CollectiveRun read_one(const std::string& name) {
  const std::string path = test::data_path("nccl-tests/" + name);
  auto runs = read_nccl_tests_log(test::read_text(path), path);
  EXPECT_EQ(runs.size(), 1u);
  return runs.at(0);
}

/// A printed token re-made from the parsed value with the token's own number of decimals.
std::string reprint(double value, const std::string& token) {
  const auto dot = token.find('.');
  const int decimals = dot == std::string::npos ? 0 : static_cast<int>(token.size() - dot - 1);
  return fmt::format("{:.{}f}", value, decimals);
}

// Every data row of every fixture: the test splits the row itself (all fixtures use the
// current 13-column layout: size count type redop root, then time algbw busbw #wrong twice) and
// checks the importer's numbers print back to exactly the same digits.
TEST(NcclTestsLog, EveryFixtureRowParsesToThePrintedDigits) {
  const auto logs = fixture_logs();
  ASSERT_EQ(logs.size(), 12u);
  for (const auto& path : logs) {
    SCOPED_TRACE(path);
    const std::string text = test::read_text(path);
    const auto runs = read_nccl_tests_log(text, path);
    ASSERT_EQ(runs.size(), 1u);
    const auto& points = runs[0].points;
    std::istringstream in(text);
    size_t row = 0;
    int line_no = 0;
    for (std::string line; std::getline(in, line);) {
      ++line_no;
      std::istringstream fields(line);
      std::vector<std::string> t;
      for (std::string f; fields >> f;) t.push_back(f);
      if (t.size() != 13 || t[0].find_first_not_of("0123456789") != std::string::npos) continue;
      ASSERT_LT(2 * row + 1, points.size());
      const CollectivePoint& out = points[2 * row];
      const CollectivePoint& in_place = points[2 * row + 1];
      EXPECT_EQ(std::to_string(out.bytes), t[0]);
      EXPECT_EQ(std::to_string(out.count), t[1]);
      EXPECT_EQ(out.type, t[2]);
      EXPECT_EQ(out.line, line_no);
      EXPECT_FALSE(out.in_place);
      EXPECT_TRUE(in_place.in_place);
      EXPECT_EQ(in_place.bytes, out.bytes);
      EXPECT_EQ(reprint(out.time_us, t[5]), t[5]);
      EXPECT_EQ(reprint(out.algbw_GBps, t[6]), t[6]);
      EXPECT_EQ(reprint(out.busbw_GBps, t[7]), t[7]);
      EXPECT_EQ(out.wrong, t[8]);
      EXPECT_EQ(reprint(in_place.time_us, t[9]), t[9]);
      EXPECT_EQ(reprint(in_place.algbw_GBps, t[10]), t[10]);
      EXPECT_EQ(reprint(in_place.busbw_GBps, t[11]), t[11]);
      EXPECT_EQ(in_place.wrong, t[12]);
      ++row;
    }
    EXPECT_EQ(2 * row, points.size());
    EXPECT_GE(row, 4u);
  }
}

TEST(NcclTestsLog, SnelliusTwoNodeAllGatherShapeAndRows) {
  const CollectiveRun run = read_one("h100-4gpu-nvlink-ib200x4_allgather_2node_8gpu.log");
  EXPECT_EQ(run.kind, "all_gather");
  EXPECT_EQ(run.test_name, "all_gather_perf_mpi");
  EXPECT_EQ(run.ranks, 8);
  EXPECT_EQ(run.hosts, (std::vector<std::string>{"gcn151", "gcn154"}));
  EXPECT_EQ(run.ranks_per_node, 4);
  EXPECT_EQ(run.scope(), "inter_node");
  EXPECT_EQ(run.gpu_name, "NVIDIA H100");
  EXPECT_NE(run.source_note.find("odissei-benchmarks/nccl-tests"), std::string::npos);
  // 27 sizes (0 x4, 128 .. 8 GiB) x out-of-place/in-place.
  ASSERT_EQ(run.points.size(), 62u);
  // Last row: "8589934592 268435456 float none -1 76968 111.60 97.65 0 76970 ...": a time
  // printed as an integer must not shift the columns.
  const CollectivePoint& last = run.points[60];
  EXPECT_EQ(last.bytes, 8589934592);
  EXPECT_EQ(last.count, 268435456);
  EXPECT_DOUBLE_EQ(last.time_us, 76968);
  EXPECT_DOUBLE_EQ(last.algbw_GBps, 111.60);
  EXPECT_DOUBLE_EQ(last.busbw_GBps, 97.65);
  EXPECT_DOUBLE_EQ(run.points[61].time_us, 76970);
}

TEST(NcclTestsLog, SingleProcessSendRecvTakesRanksFromTheCommandLine) {
  // No rank lines: "./build/sendrecv_perf -b 128M -e 1G -f 2 -g 8" -> 8 ranks, one process.
  const CollectiveRun run = read_one("a100-sxm-nvswitch_sendrecv_1node_8gpu.log");
  EXPECT_EQ(run.kind, "send_recv");
  EXPECT_EQ(run.ranks, 8);
  EXPECT_EQ(run.scope(), "intra_node");
  ASSERT_EQ(run.points.size(), 8u);
  EXPECT_EQ(run.points[7].bytes, 1073741824);
  EXPECT_DOUBLE_EQ(run.points[7].time_us, 5490.5);
  EXPECT_EQ(run.points[7].wrong, "N/A");
}

TEST(NcclTestsLog, NewHeaderGivesNcclVersionAndGpu) {
  const CollectiveRun run = read_one("h100-sxm-ndr400_alltoall_1node_8gpu.log");
  EXPECT_EQ(run.kind, "all_to_all");
  EXPECT_EQ(run.ranks, 8);
  EXPECT_EQ(run.nccl_version, "2.29.2");  // "nccl-library=22902"
  EXPECT_EQ(run.gpu_name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(run.points.front().bytes, 33554432);
  EXPECT_DOUBLE_EQ(run.points.front().time_us, 124.79);
}

const char* kSmallLog =
    "# Collective test starting: all_gather_perf\n"
    "# nThread 1 nGpus 1 minBytes 8 maxBytes 64 step: 2(factor) warmup iters: 5 iters: 20\n"
    "#  Rank  0 Group  0 Pid 1 on hostA device  0 [0000:06:00] NVIDIA H100\n"
    "#  Rank  1 Group  0 Pid 2 on hostA device  1 [0000:26:00] NVIDIA H100\n"
    "#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong\n"
    "     1048576        131072     float    none      -1    10.00  104.86   52.43      0    10.00  104.86   52.43      0\n"
    "     2097152        262144     float    none      -1    20.00  104.86   52.43      0    20.00  104.86   52.43      0\n"
    "# Collective test concluded: all_gather_perf\n";

TEST(NcclTestsLog, LauncherPrefixesAndNcclInfoNoiseAreIgnored) {
  // srun -l prefixes every line with "  N: "; Open MPI --tag-output with "[1,0]<stdout>:".
  std::string srun, ompi;
  std::istringstream in(kSmallLog);
  for (std::string line; std::getline(in, line);) {
    srun += " 0: " + line + "\n";
    ompi += "[1,0]<stdout>:" + line + "\n";
    srun += " 1: hostA:123:456 [1] NCCL INFO Channel 00/24 : 0 1\n";
  }
  for (const auto& text : {srun, ompi}) {
    const auto runs = read_nccl_tests_log(text, "x.log");
    ASSERT_EQ(runs.size(), 1u);
    EXPECT_EQ(runs[0].ranks, 2);
    ASSERT_EQ(runs[0].points.size(), 4u);
    EXPECT_DOUBLE_EQ(runs[0].points[2].time_us, 20.0);
  }
}

TEST(NcclTestsLog, ColumnOrderComesFromTheHeader) {
  // Old (2018-2022) layout: no root column, "error" instead of "#wrong".
  const std::string text =
      "# Collective test starting: all_reduce_perf\n"
      "#   Rank  0 Pid 33 on host device 0 [0x27] NVIDIA A100-SXM4-80GB\n"
      "#   Rank  1 Pid 34 on host device 1 [0x2a] NVIDIA A100-SXM4-80GB\n"
      "#       size         count      type   redop     time   algbw   busbw  error     time   algbw   busbw  error\n"
      "     1048576        262144     float     sum    20.00   52.43   52.43  0e+00    21.00   49.93   49.93  0e+00\n"
      "     2097152        524288     float     sum    40.00   52.43   52.43  0e+00    41.00   51.15   51.15  0e+00\n";
  const auto runs = read_nccl_tests_log(text, "old.log");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].kind, "all_reduce");
  ASSERT_EQ(runs[0].points.size(), 4u);
  EXPECT_DOUBLE_EQ(runs[0].points[1].time_us, 21.0);
  EXPECT_DOUBLE_EQ(runs[0].points[1].busbw_GBps, 49.93);
  EXPECT_EQ(runs[0].points[1].wrong, "0e+00");
}

TEST(NcclTestsLog, ReadsNcclTestsJsonOutput) {
  const std::string text = R"({"version": "2.17.8", "nccl_version": 22902,
    "args": "./build/reduce_scatter_perf -b 1M -e 2M -f 2",
    "devices": [{"rank": 0, "hostname": "a", "device_info": "NVIDIA H100"},
                {"rank": 1, "hostname": "b", "device_info": "NVIDIA H100"}],
    "results": [{"size": 1048576, "count": 131072, "type": "float",
                 "out_of_place": {"time": 30.5, "alg_bw": 34.38, "bus_bw": 17.19, "nwrong": 0},
                 "in_place": {"time": 31.0, "alg_bw": 33.83, "bus_bw": 16.91, "nwrong": 0}}]})";
  const auto runs = read_nccl_tests_log(text, "rs.json");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].kind, "reduce_scatter");
  EXPECT_EQ(runs[0].ranks, 2);
  EXPECT_EQ(runs[0].scope(), "inter_node");
  ASSERT_EQ(runs[0].points.size(), 2u);
  EXPECT_DOUBLE_EQ(runs[0].points[0].time_us, 30.5);
  EXPECT_DOUBLE_EQ(runs[0].points[1].busbw_GBps, 16.91);
}

// Errors: one line, naming file:line, the rule and a fix.
TEST(NcclTestsLog, GarbageNamesTheFileAndLine) {
  std::string text = kSmallLog;
  text.replace(text.find("20.00"), 5, "2O.00");  // letter O in a number, line 7
  EXPECT_INPUT_ERROR(read_nccl_tests_log(text, "g.log"), "g.log:7");
  EXPECT_INPUT_ERROR(read_nccl_tests_log(text, "g.log"), "\"2O.00\"");
  EXPECT_INPUT_ERROR(read_nccl_tests_log("hello world\nthis is not a log\n", "g.log"),
                   "no nccl-tests result table found");
  EXPECT_INPUT_ERROR(read_nccl_tests_log("", "g.log"), "empty file");
  try {
    read_nccl_tests_log(text, "g.log");
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
  }
}

TEST(NcclTestsLog, TruncatedRowNamesTheLine) {
  std::string text = kSmallLog;
  const auto cut = text.rfind("    20.00");  // the in-place half of line 7 is lost
  text = text.substr(0, cut) + "\n";
  EXPECT_INPUT_ERROR(read_nccl_tests_log(text, "t.log"), "t.log:7");
  EXPECT_INPUT_ERROR(read_nccl_tests_log(text, "t.log"), "truncated");
  // A header and no rows (the run died): names the header line.
  const std::string died = std::string(kSmallLog).substr(0, std::string(kSmallLog).find("     1048576"));
  EXPECT_INPUT_ERROR(read_nccl_tests_log(died, "d.log"), "d.log:5");
}

// Counts the log states about its own job past int64 or past kMaxGpus: libFuzzer grew a header
// "# nThread 5555...0 nGpus 1" (117 digits) on which std::stoll threw out_of_range and
// `spsim calibrate` aborted (fuzz/corpus/regressions/nccl_log/int-overflow-*).
TEST(NcclTestsLog, HugeCountsInTheHeaderAreInputErrors) {
  const std::string huge(117, '5');
  auto with = [](std::string text, const std::string& from, const std::string& to) {
    text.replace(text.find(from), from.size(), to);
    return text;
  };
  const std::string log = kSmallLog;
  EXPECT_INPUT_ERROR(read_nccl_tests_log(with(log, "nThread 1", "nThread " + huge), "h.log"),
                     "h.log:2: nThread \"555");
  EXPECT_INPUT_ERROR(read_nccl_tests_log(with(log, "nGpus 1", "nGpus 99999999"), "h.log"),
                     "h.log:2: nGpus \"99999999\" is not a count spsim accepts (a whole number up to 1048576)");
  EXPECT_INPUT_ERROR(read_nccl_tests_log(with(log, "nThread 1 nGpus 1", "nThread 1025 nGpus 1024"), "h.log"),
                     "h.log:2: nThread 1025 x nGpus 1024 is past 1048576 GPUs");
  EXPECT_INPUT_ERROR(read_nccl_tests_log(with(log, "Rank  1", "Rank  " + huge), "h.log"),
                     "h.log:4: rank \"555");
  const std::string command = "./build/all_gather_perf -b 8 -e 8G -f 2 -g 8 -t 2\n";
  EXPECT_INPUT_ERROR(read_nccl_tests_log(with(command + log, "-g 8", "-g " + huge), "h.log"),
                     "h.log:1: -g \"555");
  EXPECT_INPUT_ERROR(read_nccl_tests_log(with(command + log, "-g 8 -t 2", "-g 2048 -t 1024"), "h.log"),
                     "h.log:1: -g 2048 x -t 1024 is past 1048576 GPUs");
  // A header line cut right after "nccl-library=" (libFuzzer: vector::at threw out_of_range):
  // the version is unknown, the log still reads.
  const std::string cut = "# nccl-tests version 2.17.8 nccl-headers=22902 nccl-library=\n" + log;
  EXPECT_EQ(read_nccl_tests_log(cut, "h.log").at(0).nccl_version, "");
  // In range they still parse.
  EXPECT_EQ(read_nccl_tests_log(command + log, "h.log").at(0).ranks, 2);
}

// The -J JSON: wrong types and out-of-range numbers in any field are one InputError naming the
// JSON pointer, never nlohmann's type_error or an int64 wrap-around.
TEST(NcclTestsLog, JsonFieldsOfTheWrongTypeOrRangeAreInputErrors) {
  const std::string good = R"({"args": "./build/reduce_scatter_perf",
    "devices": [{"rank": 0, "hostname": "a"}, {"rank": 1, "hostname": "b"}],
    "results": [{"size": 1048576, "count": 131072, "type": "float",
                 "out_of_place": {"time": 30.5, "alg_bw": 34.38, "bus_bw": 17.19}}]})";
  ASSERT_EQ(read_nccl_tests_log(good, "j.json").at(0).ranks, 2);
  // (the text replaced, its replacement, the message)
  const struct { const char* from; const char* to; const char* message; } cases[] = {
      {"\"rank\": 1", "\"rank\": \"1\"", "j.json: /devices/1/rank: expected a whole number from 0 to 1048575"},
      {"\"rank\": 1", "\"rank\": 18446744073709551615", "/devices/1/rank: expected a whole number"},
      {"\"rank\": 1", "\"rank\": -3", "/devices/1/rank: expected a whole number"},
      {"\"hostname\": \"b\"", "\"hostname\": 7", "/devices/1/hostname: expected a string"},
      {"\"size\": 1048576", "\"size\": 18446744073709551615", "/results/0/size: missing or not a non-negative integer"},
      {"\"count\": 131072", "\"count\": 1.5", "/results/0/count: expected a whole number"},
      {"\"type\": \"float\"", "\"type\": []", "/results/0/type: expected a string"},
      {"{\"time\": 30.5, \"alg_bw\": 34.38, \"bus_bw\": 17.19}", "[1]", "/results/0/out_of_place: expected an object"},
      {"\"alg_bw\": 34.38", "\"alg_bw\": \"x\"", "/results/0/out_of_place/alg_bw: expected a non-negative finite number"},
      {"\"bus_bw\": 17.19", "\"bus_bw\": -1", "/results/0/out_of_place/bus_bw: expected a non-negative finite number"},
  };
  for (const auto& c : cases) {
    std::string text = good;
    text.replace(text.find(c.from), std::string(c.from).size(), c.to);
    EXPECT_INPUT_ERROR(read_nccl_tests_log(text, "j.json"), c.message);
  }
}

TEST(NcclTestsLog, WrongCollectiveIsRejected) {
  // An all_gather log passed as all_reduce: the header names the test (line 1).
  EXPECT_INPUT_ERROR(read_nccl_tests_log(kSmallLog, "w.log", "all_reduce"),
                   "w.log:1: the log is a all_gather test but the collective given is all_reduce");
  // A log whose test line was lost and whose busbw/algbw ratio is 0.5 (all_gather, 2 ranks)
  // given as all_reduce (factor 1): caught on the first row, line 5.
  std::string headless = kSmallLog;
  headless = headless.substr(headless.find('\n') + 1);
  EXPECT_INPUT_ERROR(read_nccl_tests_log(headless, "w.log", "all_reduce"),
                   "w.log:5: busbw/algbw = 0.5000 but all_reduce over 2 ranks has factor 1.0000");
  // A collective spsim does not calibrate.
  std::string bcast = kSmallLog;
  bcast.replace(bcast.find("all_gather_perf"), 15, "broadcast_perf");
  EXPECT_INPUT_ERROR(read_nccl_tests_log(bcast, "b.log"),
                   "b.log:1: test \"broadcast_perf\" is not a collective spsim calibrates");
  EXPECT_INPUT_ERROR(read_nccl_tests_log(kSmallLog, "w.log", "gather"),
                   "unknown collective \"gather\"");
}

}  // namespace
}  // namespace spsim
