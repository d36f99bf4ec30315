// The limits of include/spsim/limits.h as the command line meets them, and the one-line form of
// every flag error (robustness study, ../shared/reference/findings/robustness-study.md: D1, D3,
// D6, D7, D11, D13, D14). Each case used to crash, hang, allocate without bound or print a wrong
// number; now it is one line naming the flag and the limit, exit 2, nothing on stdout.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "spsim/limits.h"
#include "spsim/units.h"
#include "test_util.h"

namespace spsim {
namespace {

using test::expect_one_line_error;
using test::run_spsim;

TEST(CliLimits, DegreesPastTheLimitAreRefusedBeforeTheyAreMultiplied) {
  // D1: 2^32 x 2^32 wrapped to 0 and `num_gpus % 0` raised SIGFPE (run, explain, sweep).
  for (const char* command : {"run", "explain"}) {
    expect_one_line_error(
        run_spsim(std::string(command) + " -s usp -u 4294967296 -r 4294967296 --gpus 8 --seq 64K"),
        "--ulysses-degree: 4294967296 is too large: past the limit of 4096");
  }
  expect_one_line_error(run_spsim("max-context -s usp -u 4294967296 -r 4294967296 --gpus 8"),
                        "--ulysses-degree");
  expect_one_line_error(run_spsim("attention -s usp -u 4294967296 -r 4294967296 --gpus 8"),
                        "--ulysses-degree");
  // D3: 8 x 2^63-1 x 2^63-1 wrapped to exactly 8 and the lowering allocated until bad_alloc.
  expect_one_line_error(
      run_spsim("run -s usp -t 8 -u 9223372036854775807 -r 9223372036854775807 --gpus 8 --seq 64K"),
      "past the limit");
  expect_one_line_error(run_spsim("run -s ring -r 4294967296 --dp 4294967296 --gpus 8 --seq 64K"),
                        "--ring-degree");
}

TEST(CliLimits, IntegersAreNeverClampedWrappedOrReadAsOctal) {
  // D13: CLI11 clamped 2^64+ to 2^63-1 and printed "x 9223372036854775807"; "010" was octal 8.
  expect_one_line_error(run_spsim("run -s ring -r 99999999999999999999 --gpus 8 --seq 64K"),
                        "--ring-degree: 99999999999999999999 is too large");
  const auto octal = run_spsim("run -s ring -r 010 --gpus 8 --seq 80K --json");
  ASSERT_EQ(octal.exit_code, 2) << octal.err;  // ring 10 on 8 GPUs, not ring 8
  EXPECT_NE(octal.err.find("ring_degree = 1 x 1 x 10"), std::string::npos) << octal.err;
  expect_one_line_error(run_spsim("run -s ring -r 0x8 --gpus 8 --seq 64K"), "must be a whole number");
  expect_one_line_error(run_spsim("run -s ring --zero -1 --gpus 8 --seq 64K"), "--zero");
}

TEST(CliLimits, BatchAndShapeFlagsAreBounded) {
  // D6: these overflowed int64 into negative memory (-9.2e18 B), tokens/s 0, or UB.
  expect_one_line_error(run_spsim("run -s ring --gpus 8 --seq 64K --mbs 2000000000 --json"),
                        "--mbs: 2000000000 is too large");
  expect_one_line_error(run_spsim("run -s ring -r 8 --gpus 32 --seq 64K --mbs 4611686018427387904 --json"),
                        "--mbs");
  expect_one_line_error(run_spsim("run -s ring -r 8 --gpus 8 --seq 64K --gbs 4611686018427387904 --json"),
                        "--gbs");
  expect_one_line_error(run_spsim("attention -s ring --head-dim 99999999"), "--head-dim");
  expect_one_line_error(run_spsim("attention -s ring --heads 2147483648"), "--heads");
  // Within each flag's range but not together: heads x head_dim past kMaxQWidth.
  expect_one_line_error(run_spsim("attention -s ring --heads 65536 --head-dim 16384"),
                        "--heads x --head-dim = 65536 x 16384");
}

TEST(CliLimits, TokensAndMicroBatchesPerStepAreBounded) {
  // D11: --gbs 2e9 is 2e9 micro-batches, each timed: about two hours. D6: gbs x seq overflowed.
  expect_one_line_error(run_spsim("run -s ring --gpus 8 --seq 64K --gbs 1000000000"),
                        "past the limit: at most 1048576");
  expect_one_line_error(run_spsim("run -s ring --gpus 8 --seq 2G --mbs 1048576"),
                        "tokens per step is past the limit");
}

TEST(CliLimits, GpuCountsPastTheLimitAreRefusedAtOnce) {
  // D11: the default-degree search tried every d from 2^40 down to 1 (> 60 s).
  for (const char* command : {"run -s ulysses --seq 1M", "explain -s ulysses --seq 1M", "max-context -s ulysses"}) {
    expect_one_line_error(run_spsim(std::string(command) + " --gpus 1024G"),
                          "--gpus: \"1024G\" is too large: past the limit of 1048576");
  }
  // D3: a DES of 2^31 GPUs grew to 19 GB.
  expect_one_line_error(run_spsim("run -s ring -r 8 --gpus 2147483648 --seq 128K --engine des --json"),
                        "--gpus");
}

TEST(CliLimits, FloatFlagsMustBeFiniteAndInRange) {
  // D7: nan silently became 0, -1 the default, inf and 2^34 GiB overflowed to -9.2e18 bytes.
  for (const char* value : {"nan", "inf", "-1", "17179869184", "1e308"}) {
    expect_one_line_error(
        run_spsim(std::string("run -s ring --gpus 8 --seq 64K --json --framework-reserve-gib ") + value),
        "--framework-reserve-gib: must be a number from 0 to 1024");
  }
  // D11: NaN passed CLI11's Range check and the fit never ended.
  expect_one_line_error(run_spsim("calibrate --base dgx-h100 --tolerance nan -o c.json --nccl-tests " +
                                  test::data_path("nccl-tests/h100-sxm-ndr400_allgather_1node_8gpu.log")),
                        "--tolerance: must be a number from 0.001 to 1");
}

TEST(CliLimits, SweepGridIsCountedBeforeItIsBuilt) {
  // D3: every list within 10,000 values, 4e11 points in all, built eagerly until bad_alloc.
  const std::string dir = test::temp_dir("grid");
  expect_one_line_error(
      run_spsim("sweep -s usp -o out/s --gbs 64 --gpus 1:10000:+1 --seq 1K:10000K:+1K -u 1:64:+1 -r 1:64:+1", dir),
      "the grid has more than 262144 points");
  expect_one_line_error(run_spsim("sweep -s ring -o out/s --gpus 1:1G:x2 --seq 1:1G:x2", dir),
                        "--gpus: 2097152 is too large: past the limit of 1048576");
  expect_one_line_error(run_spsim("sweep -s ring -o out/s --gpus 8 --seq 64K -u 1:128K:x2", dir),
                        "--ulysses-degree: 8192 is too large");
}

TEST(CliLimits, ByteCountsPastInt64StayNumbersInTheJson) {
  // D6/D7: memory past 2^63 bytes went through llround and printed -9223372036854775808.
  const auto r = run_spsim("run -s ring -m gpt-1t --gpus 8 --seq 1G --mbs 1024 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["memory"]["activations"].get<double>(), 1e19);
  EXPECT_GT(j["memory"]["peak"].get<double>(), j["memory"]["activations"].get<double>());
  EXPECT_FALSE(j["fits_in_memory"].get<bool>());
}

TEST(CliLimits, DiscreteEventSimulationsPastTheWorkLimitAreRefusedUpFront) {
  // D11: a DES ring of 4,096 and 1,000,000 GPUs (no symmetry: partial leaf groups) ran > 120 s;
  // --simulate-all-gpus at 16,384 > 180 s.
  expect_one_line_error(run_spsim("run -s ring -r 4096 --gpus 4096 --seq 1M --engine des --json"),
                        "--engine: the des simulation of 512 GPUs (standing for 4096) would take");
  expect_one_line_error(run_spsim("run -s ulysses -u 8 --gpus 1000000 --seq 128K --engine des --json"),
                        "--engine: the des simulation of 1000000 GPUs");
  expect_one_line_error(
      run_spsim("run -s ring -r 32 --gpus 16384 --seq 1M --engine des --simulate-all-gpus --json"),
      "or drop --simulate-all-gpus");
  // A large run within the limit still runs (1,048,576 GPUs reduce to 512 simulated).
  EXPECT_EQ(run_spsim("run -s ring -r 8 --gpus 1048576 --seq 128K --engine des --json").exit_code, 0);
}

TEST(CliLimits, ColaiSpRingPastItsLimitIsAnInputErrorNotAnInternalOne) {
  // D17: `max-context --best --gpus 1048576` ended with exit 3 and "internal error: segment has
  // more tasks than int16 dependencies index" from a colai-sp ring of thousands.
  expect_one_line_error(run_spsim("run -s colai-sp -r 4096 --gpus 4096 --seq 1M"),
                        "ring_degree: colai-sp is simulated block by block");
  // ZeRO 3 and full recompute fixed: the search still reaches every ring degree up to the limit
  // (the knobs would only multiply its time by twelve).
  const auto r = run_spsim("max-context --best -s colai-sp,ulysses --gpus 1048576 --zero 3 --recompute full --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(CliLimits, NoLegalDefaultDegreeNamesWhatWasTried) {
  // D13: "strategy usp needs ulysses_degree and ring_degree (got 1 and 1); set both" when the
  // user had set neither and the default-degree search found none.
  expect_one_line_error(run_spsim("run --strategy usp --gpus 7 --seq 1M"),
                        "--gpus: no usp degrees are legal for 7 GPUs: the largest spsim tried (t1 u7 r1)");
}

TEST(CliErrors, ParseErrorsAreOneLineWithTheHelpCommand) {
  // D14: CLI11 printed its own two lines without "spsim: error:".
  expect_one_line_error(run_spsim("run -s ring --gpus 8 --seq 64K --sequence 64K"),
                        "the following arguments were not expected: 64K --sequence; see spsim run --help");
  expect_one_line_error(run_spsim(""), "a subcommand is required; see spsim --help");
  expect_one_line_error(run_spsim("runn"), "unknown command \"runn\"; did you mean \"run\"?");
  expect_one_line_error(run_spsim("attention --heads abc"), "--heads");
  expect_one_line_error(run_spsim("attention -s ring -s nope"), "--strategy");
  expect_one_line_error(run_spsim("calibrate --base dgx-h100 --tolerance 0 -o c.json"), "--tolerance");
  expect_one_line_error(run_spsim("calibrate --base dgx-h100 --nccl-tests x.log"), "--output is required");
  expect_one_line_error(run_spsim("list"), "see spsim list --help");
  expect_one_line_error(run_spsim("list models topologies"), "topologies");
  // --help and --version still exit 0.
  EXPECT_EQ(run_spsim("run --help").exit_code, 0);
  EXPECT_EQ(run_spsim("--version").exit_code, 0);
}

TEST(CliErrors, OneConfigurationCommandsRefuseLists) {
  // D19: `explain -s all` silently explained ulysses only.
  expect_one_line_error(run_spsim("explain -s all --gpus 8 --seq 64K"), "explain takes one configuration, got 5");
  expect_one_line_error(run_spsim("explain -s ring,ulysses --gpus 8 --seq 64K"), "got 2");
  expect_one_line_error(run_spsim("max-context -s ring --gpus 8,16"), "max-context takes one configuration");
}

TEST(CliErrors, EmptyListItemsAreRefused) {
  // D19: CLI11's delimiter dropped the empty item before the range parser could see it.
  expect_one_line_error(run_spsim("run -s ring --gpus 8 --seq 64K,"), "--seq: empty item in \"64K,\"");
  const std::string dir = test::temp_dir("list");
  expect_one_line_error(run_spsim("sweep -s ring -o out/s --gpus 8 --seq 8,,16", dir), "--seq: empty item");
  expect_one_line_error(run_spsim("sweep -s ring,,ulysses -o out/s --gpus 8 --seq 64K", dir),
                        "--strategy: empty item");
  EXPECT_FALSE(std::filesystem::exists(dir + "/out"));
  // Lists still work, as comma lists and as repeated flags.
  const auto r = run_spsim("run -s ring,ulysses --gpus 8 --gpus 16 --seq 64K");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(CliErrors, SweepJobsAreCheckedBeforeTheFolderIsCreated) {
  // D19: -j 0 was refused after out/ had been created.
  const std::string dir = test::temp_dir("jobs");
  for (const char* jobs : {"0", "100000"}) {
    expect_one_line_error(run_spsim(std::string("sweep -s ring -o out/s --gpus 8 --seq 64K -j ") + jobs, dir),
                          "--jobs");
  }
  EXPECT_FALSE(std::filesystem::exists(dir + "/out"));
}

TEST(CliErrors, CalibrateHelpShowsCalibrateExamples) {
  // D19: calibrate --help ended with the top-level examples (run, explain, sweep).
  const auto r = run_spsim("calibrate --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("spsim calibrate --base dgx-h100"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("spsim run --strategy all"), std::string::npos) << r.out;
}

TEST(Limits, ProductWithinStopsBeforeOverflow) {
  EXPECT_EQ(product_within({8, 4, 2}, 64), 64);
  EXPECT_EQ(product_within({8, 4, 2}, 63), std::nullopt);
  EXPECT_EQ(product_within({int64_t{1} << 32, int64_t{1} << 32}, INT64_MAX), std::nullopt);
  EXPECT_EQ(product_within({INT64_MAX, 2}, INT64_MAX), std::nullopt);
}

TEST(Limits, ParseCountNamesTheLimit) {
  EXPECT_EQ(parse_count("1M", "--gpus", kMaxGpus), kMaxGpus);
  EXPECT_THROW_MSG(parse_count("2M", "--gpus", kMaxGpus), InputError,
                   "\"2M\" is too large: past the limit of 1048576");
}

}  // namespace
}  // namespace spsim
