// The regression guard of the validation set: the shipped set's summary (median and max |error|
// per metric, ranking and fits agreement, rows that run) may not get worse than
// validation/baseline.json by more than one point, and a change that improves it by more than one
// point must update the baseline in the same commit (so the guard stays tight):
//   build/release/spsim validate --write-baseline validation/baseline.json
#include <nlohmann/json.hpp>

#include "spsim/validate.h"
#include "test_util.h"

namespace spsim {
namespace {

std::string baseline_path() { return std::string(SPSIM_SOURCE_DATA_DIR) + "/validation/baseline.json"; }

std::vector<std::string> regressions(const ValidateOptions& options) {
  const ValidationSet set = load_validation_set(default_validation_dir());
  const auto results = run_validation(set, options);
  const nlohmann::json baseline = nlohmann::json::parse(test::read_text(baseline_path()));
  return compare_to_baseline(summarize(results, options.engine), baseline);
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += "\n  " + l;
  return out;
}

TEST(ValidationBaseline, ShippedSetIsNoWorseThanTheBaseline) {
  const auto worse = regressions({});
  EXPECT_TRUE(worse.empty()) << "spsim validate got worse than validation/baseline.json:" << joined(worse);
}

TEST(ValidationBaseline, BaselineIsCurrent) {
  // The other direction: improvements are recorded, so the next regression is caught at once.
  const ValidationSet set = load_validation_set(default_validation_dir());
  const ValidationSummary now = summarize(run_validation(set, {}), "analytic");
  const nlohmann::json baseline = nlohmann::json::parse(test::read_text(baseline_path()));
  const auto stale = compare_to_baseline_improvements(now, baseline);
  EXPECT_TRUE(stale.empty()) << "validation improved; update the baseline in this commit "
                                "(spsim validate --write-baseline validation/baseline.json):"
                             << joined(stale);
}

TEST(ValidationBaseline, AWorsenedConstantFailsTheGuard) {
  // GEMMs at 100 % of the datasheet peak: no GPU gets there, and the guard must say so.
  ValidateOptions options;
  options.overrides = {"gpu.gemm_efficiency=1"};
  const auto worse = regressions(options);
  EXPECT_FALSE(worse.empty());
}

}  // namespace
}  // namespace spsim
