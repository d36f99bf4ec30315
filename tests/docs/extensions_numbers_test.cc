// The numbers docs/extensions.md quotes in its prose are what this build prints (issue 16, S12:
// prose numbers drifted behind model changes while the console blocks were rerun). Each check
// runs the command the text names and looks for the formatted numbers in the document.
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace spsim {
namespace {

using test::run_spsim;

std::string extensions_md() { return test::read_text(std::string(SPSIM_SOURCE_DATA_DIR) + "/docs/extensions.md"); }

nlohmann::json json_of(const std::string& args) {
  const auto r = run_spsim(args + " --json");
  EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.err;
  return nlohmann::json::parse(r.out);
}

void expect_quoted(const std::string& doc, const std::string& text) {
  EXPECT_NE(doc.find(text), std::string::npos) << "docs/extensions.md does not say \"" << text << "\"";
}

std::string ms(double seconds) { return fmt::format("{:.2f}", seconds * 1e3); }
std::string ms(const nlohmann::json& seconds) { return ms(seconds.get<double>()); }

TEST(DocsProse, StripeAndBasicRingTimes) {
  const std::string doc = extensions_md();
  const std::string base = "attention -s ring -n 8 --heads 32 --kv-heads 8 --head-dim 128 --seq 128K --ring-variant ";
  const double zigzag = json_of(base + "zigzag")["forward"]["time_s"].get<double>();
  const double stripe = json_of(base + "stripe")["forward"]["time_s"].get<double>();
  const double basic = json_of(base + "basic")["forward"]["time_s"].get<double>();
  expect_quoted(doc, fmt::format("stripe's forward is {} ms against zigzag's {} ms", ms(stripe), ms(zigzag)));
  expect_quoted(doc, fmt::format("Basic is {:.1f}x\nslower ({} ms)", basic / zigzag, ms(basic)));
}

TEST(DocsProse, ColaiSpContextAndAttentionThroughput) {
  const std::string doc = extensions_md();
  const auto colai = json_of("max-context -s colai-sp --gpus 16 --zero 3")[0]["max_seq_length"].get<int64_t>();
  const auto ring = json_of("max-context -s ring --gpus 16 --zero 3")[0]["max_seq_length"].get<int64_t>();
  expect_quoted(doc, fmt::format("{}K tokens\nfit (vs {}K for the flash ring)", colai / 1024, ring / 1024));
  const std::string shape = " -n 8 --heads 32 --kv-heads 8 --head-dim 128 --seq 32K";
  const auto c = json_of("attention -s colai-sp" + shape);
  const auto r = json_of("attention -s ring" + shape);
  expect_quoted(doc, fmt::format("at {:.1f} (fwd) / {:.1f} (fwd+bwd) TFLOP/s per GPU",
                                 c["forward"]["attention_tflops_per_gpu"].get<double>(),
                                 c["forward_backward"]["attention_tflops_per_gpu"].get<double>()));
  expect_quoted(doc, fmt::format("vs {:.1f} / {:.1f}\nfor the flash ring",
                                 r["forward"]["attention_tflops_per_gpu"].get<double>(),
                                 r["forward_backward"]["attention_tflops_per_gpu"].get<double>()));
}

// README "max-context" and docs/extensions.md quote the curve's ends (ring, 64 GPUs, ZeRO-3).
TEST(DocsProse, ContextCurveEnds) {
  const auto rows = json_of("max-context --best -s ring --gpus 16,64 --zero 3 --curve");
  ASSERT_EQ(rows.size(), 2u);
  const auto& curve = rows[1]["curve"];
  ASSERT_GE(curve.size(), 2u);
  const std::string first = fmt::format("{:.0f}K", curve.front()["tokens_per_s"].get<double>() / 1000);
  const std::string last = fmt::format("{:.1f}K", curve.back()["tokens_per_s"].get<double>() / 1000);
  const std::string answer = fmt::format("{}K", rows[1]["max_seq_length"].get<int64_t>() / 1024);
  expect_quoted(extensions_md(), "ring on 64 GPUs trains " + first + " tokens/s at\n  8K and " + last + " at " + answer);
  const std::string readme = test::read_text(std::string(SPSIM_SOURCE_DATA_DIR) + "/README.md");
  EXPECT_NE(readme.find("ZeRO-3: " + first + " tokens/s at 8K"), std::string::npos) << first;
}

TEST(DocsProse, PerLayerExample) {
  const std::string doc = extensions_md();
  const auto j = json_of("run -s ulysses -u 8 --gpus 16 --zero 3 --seq 64K")["per_layer"];
  const auto& f = j["forward"];
  const auto& b = j["backward"];
  expect_quoted(doc, fmt::format("forward {} ms = {} compute\n(attention {}, GEMM {}, elementwise/norm {}) + {} "
                                 "exposed all-to-all",
                                 ms(f["time_s"]), ms(f["compute_total_s"]), ms(f["compute_s"]["attention_core"]),
                                 ms(f["compute_s"]["gemm"]), ms(f["compute_s"]["elementwise_norm"]),
                                 ms(f["comm"]["ulysses_a2a"]["exposed_s"])));
  expect_quoted(doc, fmt::format("backward {} ms =\n{} compute + {} compute slowed by overlapping collectives + {} "
                                 "ZeRO-3 gather + {} gradient reduce-scatter + {} all-to-all exposed",
                                 ms(b["time_s"]), ms(b["compute_total_s"]), ms(b["compute_slowed_by_comm_s"]),
                                 ms(b["comm"]["zero_params"]["exposed_s"]),
                                 ms(b["comm"]["dp_grad"]["exposed_s"]), ms(b["comm"]["ulysses_a2a"]["exposed_s"])));
}

}  // namespace
}  // namespace spsim
