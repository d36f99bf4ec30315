// Reading measured steps (spsim/measured_step.h) against the fixtures of tests/data/measured/,
// whose numbers are worked by hand in the comments.
#include "spsim/measured_step.h"

#include <fstream>

#include <gtest/gtest.h>

#include "spsim/error.h"
#include "test_util.h"

namespace spsim {
namespace {

std::string fixture(const std::string& name) {
  return std::string(SPSIM_SOURCE_DATA_DIR) + "/tests/data/measured/" + name;
}

// kineto_three_steps.json: ProfilerSteps of 100, 110 and 90 ms starting at 0, 100 and 210 ms.
// Kernels on GPU 0: GEMM [1, 61) ms, attention [70, 90), all-reduce [50, 80) (overlapped by
// compute over [50, 61) and [70, 80): 21 ms, so 9 ms exposed), GEMM [101, 171), reduce-scatter
// [180, 200) (no compute beside it: 20 ms exposed). CPU ops, a runtime call, an instant event and
// metadata are not kernels.
TEST(MeasuredStep, KinetoTraceStepsAndKernelTimeByHand) {
  const MeasuredStep all = read_measured_step(fixture("kineto_three_steps.json"), 0);
  EXPECT_EQ(all.format, "Kineto trace");
  ASSERT_EQ(all.steps_s.size(), 3u);
  EXPECT_DOUBLE_EQ(all.step_s, 0.100);  // median of 100, 110, 90 ms
  ASSERT_TRUE(all.has_breakdown);
  EXPECT_EQ(all.devices, 1);
  EXPECT_NEAR(all.compute_s, (0.060 + 0.020 + 0.070) / 3, 1e-12);
  EXPECT_NEAR(all.comm_s, (0.030 + 0.020) / 3, 1e-12);
  EXPECT_NEAR(all.exposed_comm_s, (0.009 + 0.020) / 3, 1e-12);
  // Skipping the first step: kernels from 100 ms on, over two steps (110 and 90: median 100).
  const MeasuredStep later = read_measured_step(fixture("kineto_three_steps.json"), 1);
  ASSERT_EQ(later.steps_s.size(), 2u);
  EXPECT_DOUBLE_EQ(later.step_s, 0.100);
  EXPECT_NEAR(later.compute_s, 0.070 / 2, 1e-12);
  EXPECT_NEAR(later.comm_s, 0.020 / 2, 1e-12);
  EXPECT_NEAR(later.exposed_comm_s, 0.020 / 2, 1e-12);
}

TEST(MeasuredStep, LogsAndListsByHand) {
  // Megatron-LM: 15210.3, 12950, 12910, 12890 ms; skipping the first, the median is 12.91 s.
  const MeasuredStep megatron = read_measured_step(fixture("megatron_log.txt"), 1);
  EXPECT_EQ(megatron.format, "Megatron-LM log");
  ASSERT_EQ(megatron.steps_s.size(), 3u);
  EXPECT_DOUBLE_EQ(megatron.step_s, 12.91);
  EXPECT_FALSE(megatron.has_breakdown);
  // NeMo's progress bar: two updates on one line (carriage returns), one on the next.
  const MeasuredStep nemo = read_measured_step(fixture("nemo_log.txt"), 0);
  EXPECT_EQ(nemo.format, "NeMo log");
  ASSERT_EQ(nemo.steps_s.size(), 3u);
  EXPECT_DOUBLE_EQ(nemo.step_s, 12.95);
  // A plain list, with a comment line: median of 15.21, 12.95, 12.91, 12.89 is (12.91 + 12.95) / 2.
  const MeasuredStep list = read_measured_step(fixture("step_times.txt"), 0);
  EXPECT_EQ(list.format, "step times");
  EXPECT_DOUBLE_EQ(list.step_s, 0.5 * (12.91 + 12.95));
}

void expect_error(const std::string& content, int64_t skip, const std::string& needle) {
  const std::string path = test::temp_dir("measured") + "/m.txt";
  std::ofstream(path) << content;
  try {
    read_measured_step(path, skip);
    ADD_FAILURE() << "no error for: " << content;
  } catch (const InputError& e) {
    EXPECT_NE(e.full().find(needle), std::string::npos) << e.full();
  }
}

TEST(MeasuredStep, BadInputIsAnErrorNamingTheFileAndLine) {
  expect_error("1.5\nfast\n", 0, "m.txt:2");
  expect_error("1.5\n-2\n", 0, "positive");
  expect_error("1.5\nnan\n", 0, "positive");
  expect_error("# nothing\n\n", 0, "no step time found");
  expect_error("1.5\n2.5\n", 2, "all skipped by --skip 2");
  expect_error("{\"traceEvents\": []}", 0, "ProfilerStep");
  expect_error("{\"foo\": 1}", 0, "traceEvents");
  expect_error("{\"traceEvents\": [", 0, "not a readable PyTorch profiler trace");
  expect_error("{\"traceEvents\": [{\"ph\": \"X\", \"name\": \"ProfilerStep#1\", \"ts\": \"0\", \"dur\": 5}]}", 0,
               "numeric");
  // Wrong types in an event are input errors, not exceptions of the JSON library.
  expect_error("{\"traceEvents\": [{\"ph\": 5, \"name\": \"ProfilerStep#1\"}]}", 0, "ProfilerStep");
  expect_error("{\"traceEvents\": [{\"ph\": \"X\", \"name\": \"ProfilerStep#1\", \"ts\": 1e308, \"dur\": 1e308}]}",
               0, "finite");
  expect_error("{\"traceEvents\": [{\"ph\": \"X\", \"name\": \"ProfilerStep#1\", \"ts\": 0, \"dur\": 2e12}]}", 0,
               "dur <= 1e12");
  expect_error("{\"traceEvents\": " + std::string(70, '[') + std::string(70, ']') + "}", 0, "deeper");
  expect_error("[{\"ph\": \"X\", \"name\": \"kernel\", \"cat\": \"kernel\", \"ts\": 0, \"dur\": 1}]", 0,
               "ProfilerStep");  // a bare event array is a trace too
  EXPECT_THROW(read_measured_step(fixture("step_times.txt"), -1), InputError);
  EXPECT_THROW(read_measured_step(fixture("missing.txt"), 0), InputError);
}

}  // namespace
}  // namespace spsim
