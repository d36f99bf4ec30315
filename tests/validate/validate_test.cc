// spsim validate: reading rows into plans, metrics in the source's own terms, the summary's
// statistics and ranking checks by hand, and the regression guard.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "attention/attention_only.h"
#include "spsim/flops.h"
#include "spsim/report.h"
#include "spsim/validate.h"
#include "test_util.h"

namespace spsim {
namespace {

namespace fs = std::filesystem;

// A published row in the set's schema, with an "spsim" block; tweak fields per test.
nlohmann::json row(const std::string& id, const std::string& metric, double value) {
  return {{"id", id},
          {"source", {{"title", "t"}, {"where", "w"}, {"url_or_repo", "u"}}},
          {"model", "Llama-3-8B"},
          {"model_dims", nullptr},
          {"gpu", "H100"},
          {"gpus", 8},
          {"gpus_per_node", 8},
          {"interconnect", nullptr},
          {"framework", "NeMo"},
          {"parallel", {{"tp", 1}, {"pp", 1}, {"vpp", nullptr}, {"cp", 2}, {"cp_comm_type", nullptr},
                        {"ulysses", nullptr}, {"ep", nullptr}, {"dp", 4}, {"fsdp", nullptr}, {"zero", nullptr}}},
          {"seq", 8192},
          {"mbs", 1},
          {"gbs", 8},
          {"precision", "bf16"},
          {"recompute", nullptr},
          {"causal", true},
          {"metric", metric},
          {"value", value},
          {"flop_convention", nullptr},
          {"notes", ""},
          {"spsim", {{"model", "llama-3-8b"}, {"topology", "dgx-h100"}, {"framework", "megatron"},
                     {"flop_convention", nullptr}, {"assume", {{"recompute", "none"}}},
                     {"assume_why", "Megatron default"}, {"unsupported", nullptr}, {"incomplete", nullptr}}}};
}

// Writes a one-source set into a fresh folder and returns the folder.
std::string write_set(const std::vector<nlohmann::json>& rows, const std::string& key = "src") {
  char tmpl[] = "/tmp/spsim_validate_XXXXXX";
  const fs::path dir = mkdtemp(tmpl);
  fs::create_directories(dir / "sources");
  nlohmann::json file = {{"source", {{"key", key}, {"title", "A source"}, {"where", "Table 1"},
                                     {"url_or_repo", "https://example.org"}, {"read_via", "git"},
                                     {"checked", "by hand"}, {"flop_convention", nullptr}, {"notes", ""}}},
                         {"rows", rows}};
  std::ofstream(dir / "sources" / (key + ".json")) << file.dump(1);
  return dir.string();
}

TEST(ValidationSet, ReadsThePlanAFrameworkRuns) {
  auto cp_row = row("a", "tokens_per_s_per_gpu", 1000);
  auto tp_row = row("b", "tokens_per_s_per_gpu", 1000);
  tp_row["parallel"]["tp"] = 4;
  tp_row["parallel"]["cp"] = 1;
  tp_row["parallel"]["dp"] = 2;
  auto ag_row = row("c", "tokens_per_s_per_gpu", 1000);
  ag_row["parallel"]["cp_comm_type"] = "allgather";
  ag_row["parallel"]["fsdp"] = true;
  ag_row["spsim"]["framework"] = "fsdp";
  auto ds_row = row("d", "tokens_per_s_per_gpu", 1000);
  ds_row["parallel"] = {{"tp", nullptr}, {"pp", nullptr}, {"vpp", nullptr}, {"cp", nullptr},
                        {"cp_comm_type", nullptr}, {"ulysses", 8}, {"ep", nullptr}, {"dp", 1},
                        {"fsdp", false}, {"zero", 3}};
  ds_row["spsim"]["framework"] = "deepspeed";
  const ValidationSet set = load_validation_set(write_set({cp_row, tp_row, ag_row, ds_row}));
  ASSERT_EQ(set.rows.size(), 4u);
  // Megatron CP without a comm type: TE's p2p ring, load-balanced; the distributed optimizer.
  EXPECT_EQ(set.rows[0].job.strategy, "ring");
  EXPECT_EQ(set.rows[0].job.ring_degree, 2);
  EXPECT_EQ(set.rows[0].job.ring_comm, "p2p");
  EXPECT_EQ(set.rows[0].job.ring_variant, "zigzag");
  EXPECT_EQ(set.rows[0].job.zero_stage, 1);
  EXPECT_NE(set.rows[0].assumed.find("recompute"), std::string::npos);
  EXPECT_NE(set.rows[0].assumed.find("zero=1"), std::string::npos);
  // TP alone: Megatron TP with sequence parallelism.
  EXPECT_EQ(set.rows[1].job.strategy, "megatron-sp");
  EXPECT_EQ(set.rows[1].job.tensor_parallel, 4);
  EXPECT_EQ(set.rows[1].job.data_parallel, 2);
  // torchtitan's all-gather CP under FSDP (ZeRO-3).
  EXPECT_EQ(set.rows[2].job.ring_comm, "allgather");
  EXPECT_EQ(set.rows[2].job.zero_stage, 3);
  // DeepSpeed Ulysses with its stated ZeRO stage.
  EXPECT_EQ(set.rows[3].job.strategy, "ulysses");
  EXPECT_EQ(set.rows[3].job.ulysses_degree, 8);
  EXPECT_EQ(set.rows[3].job.zero_stage, 3);
}

TEST(ValidationSet, MarksWhatCannotBePinnedDown) {
  auto no_recompute = row("a", "tokens_per_s_per_gpu", 1000);
  no_recompute["spsim"]["assume"] = nlohmann::json::object();
  auto pp_no_gbs = row("b", "tokens_per_s_per_gpu", 1000);
  pp_no_gbs["gbs"] = nullptr;
  pp_no_gbs["parallel"]["pp"] = 2;
  pp_no_gbs["parallel"]["dp"] = 2;
  auto mx = row("c", "tokens_per_s_per_gpu", 1000);
  mx["precision"] = "mxfp8";
  auto moe = row("d", "tokens_per_s_per_gpu", 1000);
  moe["parallel"]["ep"] = 8;
  const ValidationSet set = load_validation_set(write_set({no_recompute, pp_no_gbs, mx, moe}));
  EXPECT_EQ(set.rows[0].incomplete, "recompute not stated");
  EXPECT_NE(set.rows[1].incomplete.find("global batch"), std::string::npos);
  EXPECT_NE(set.rows[2].unsupported.find("MXFP8"), std::string::npos);
  EXPECT_NE(set.rows[3].unsupported.find("expert"), std::string::npos);
  const auto results = run_validation(set, {});
  for (const auto& r : results) EXPECT_NE(r.status, "ok") << r.row->id;
}

TEST(ValidationSet, BadRowsAreOneLineErrorsNamingTheRow) {
  auto unknown = row("a", "tokens_per_s_per_gpu", 1);
  unknown["colour"] = "red";
  EXPECT_THROW_MSG(load_validation_set(write_set({unknown})), InputError, "colour");
  auto bad_metric = row("a", "furlongs", 1);
  EXPECT_THROW_MSG(load_validation_set(write_set({bad_metric})), InputError, "unknown metric \"furlongs\"");
  auto no_convention = row("a", "tflops_per_gpu", 1);
  EXPECT_THROW_MSG(load_validation_set(write_set({no_convention})), InputError, "FLOP convention");
  auto bad_convention = row("a", "tflops_per_gpu", 1);
  bad_convention["spsim"]["flop_convention"] = "vibes";
  EXPECT_THROW_MSG(load_validation_set(write_set({bad_convention})), InputError, "unknown convention");
  EXPECT_THROW_MSG(load_validation_set(write_set({row("a", "fits", 1), row("a", "fits", 1)})), InputError,
                   "used twice");
  auto bad_assume = row("a", "tokens_per_s_per_gpu", 1);
  bad_assume["spsim"]["assume"]["colour"] = 3;
  EXPECT_THROW_MSG(load_validation_set(write_set({bad_assume})), InputError, "spsim/assume/colour");
  auto missing_model = row("a", "tokens_per_s_per_gpu", 1);
  missing_model["spsim"]["model"] = "models/nowhere.json";
  const ValidationSet set = load_validation_set(write_set({missing_model}));
  EXPECT_THROW_MSG(run_validation(set, {}), InputError, "row \"a\"");
  EXPECT_THROW_MSG(load_validation_set("/nonexistent"), InputError, "sources/");
}

TEST(Validate, PredictsEachMetricInTheSourcesTerms) {
  auto tokens = row("tok", "tokens_per_s_per_gpu", 10000);
  auto tflops = row("tf", "tflops_per_gpu", 500);
  tflops["spsim"]["flop_convention"] = "mbridge_causal";
  auto mfu = row("mfu", "mfu", 0.5);
  mfu["spsim"]["flop_convention"] = "palm";
  auto mem = row("mem", "peak_mem_gib", 50);
  const ValidationSet set = load_validation_set(write_set({tokens, tflops, mfu, mem}));
  const auto results = run_validation(set, {});
  ASSERT_EQ(results.size(), 4u);
  for (const auto& r : results) ASSERT_EQ(r.status, "ok") << r.reason;

  const auto engine = make_engine("analytic");
  const RunReport report = evaluate(load_model("llama-3-8b"), load_topology("dgx-h100"), set.rows[0].job, *engine);
  const double step = report.result.step_time_s;
  EXPECT_DOUBLE_EQ(results[0].predicted, 8.0 * 8192 / step / 8);  // gbs 8 x 8192 tokens, 8 GPUs
  EXPECT_DOUBLE_EQ(results[0].error, results[0].predicted / 10000 - 1);
  // Megatron-Bridge's convention by hand for Llama-3-8B: 6 x (L x layer matrices + h V) + 6 L h s
  // per token (causal attention).
  const double h = 4096, L = 32, f = 14336, kv = 1024, V = 128256, s = 8192;
  const double per_token = 6 * (L * (2 * h * h + 2 * h * kv + 3 * h * f) + h * V) + 6 * L * h * s;
  EXPECT_NEAR(results[1].predicted, per_token * 8 * s / step / 8 / 1e12, 1e-9 * results[1].predicted);
  // PaLM: 6 N + 12 L h s, N = non-embedding parameters (norms included), MFU of the bf16 peak.
  const double norms = 2 * h;
  const double palm = 6 * (L * (2 * h * h + 2 * h * kv + 3 * h * f + norms) + h * V) + 12 * L * h * s;
  EXPECT_NEAR(results[2].predicted, palm * 8 * s / step / 8 / 989.5e12, 1e-9);
  EXPECT_NEAR(results[3].predicted, report.lowered.memory.peak() / (1 << 30), 1e-9);
}

// An attention-kernel row times the kernel it names: the same shape as cuDNN and as flash-attn 2
// gives two answers (cuDNN ~1.9x on H100 at 16K), each what `spsim attention --attention-impl`
// prints; a row that names none is an error, not a silent default.
TEST(Validate, AttentionRowsTimeTheKernelTheyName) {
  auto kernel_row = [](const std::string& id, const char* kernel) {
    auto r = row(id, "attention_tflops_fwd", 500);
    r["model_dims"] = {{"layers", nullptr}, {"hidden", 2048}, {"heads", 16}, {"kv_heads", 16},
                       {"ffn", nullptr}, {"vocab", nullptr}};
    r["gpus"] = 1;
    r["seq"] = 16384;
    r["mbs"] = 1;
    r["spsim"] = {{"model", nullptr}, {"topology", "dgx-h100"}, {"framework", nullptr},
                  {"flop_convention", "fa_kernel"}, {"assume", nlohmann::json::object()},
                  {"assume_why", nullptr}, {"unsupported", nullptr}, {"incomplete", nullptr}};
    if (kernel != nullptr) r["spsim"]["kernel"] = kernel;
    return r;
  };
  const ValidationSet set = load_validation_set(write_set({kernel_row("c", "cudnn"), kernel_row("f", "flash2")}));
  const auto results = run_validation(set, {});
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) ASSERT_EQ(r.status, "ok") << r.reason;
  EXPECT_NE(results[0].plan.find("cudnn"), std::string::npos) << results[0].plan;
  EXPECT_NE(results[1].plan.find("flash2"), std::string::npos) << results[1].plan;
  const auto engine = make_engine("analytic");
  AttentionShape shape;
  shape.heads = 16;
  shape.kv_heads = 16;
  shape.head_dim = 128;
  shape.seq = 16384;
  for (const auto& [i, impl] : {std::pair{0, "cudnn"}, std::pair{1, "flash2"}}) {
    AttentionPlan plan;
    plan.attention_impl = impl;
    const AttentionRun run = run_attention_only(shape, plan, load_topology("dgx-h100"), *engine);
    EXPECT_EQ(run.attention_impl, impl);
    EXPECT_NEAR(results[i].predicted, run.fwd_flops / run.forward.step_time_s / 1e12, 1e-9 * results[i].predicted);
  }
  EXPECT_GT(results[0].predicted, 1.5 * results[1].predicted);
  EXPECT_THROW_MSG(load_validation_set(write_set({kernel_row("n", nullptr)})), InputError, "spsim/kernel");
  auto incomplete = kernel_row("i", nullptr);
  incomplete["spsim"]["incomplete"] = "batch not stated";
  EXPECT_THROW_MSG(load_validation_set(write_set({incomplete})), InputError, "spsim/kernel");
  auto unsupported = kernel_row("u", nullptr);
  unsupported["spsim"]["unsupported"] = "FlashAttention-3 kernel";
  EXPECT_EQ(load_validation_set(write_set({unsupported})).rows.size(), 1u);
  EXPECT_THROW_MSG(load_validation_set(write_set({kernel_row("x", "fa3")})), InputError, "cudnn, flash2 or triton");
  auto training = row("t", "tokens_per_s_per_gpu", 1000);
  training["spsim"]["kernel"] = "cudnn";
  EXPECT_THROW_MSG(load_validation_set(write_set({training})), InputError, "assume.attention_impl");
}

TEST(Validate, SummaryStatisticsAndRankingsByHand) {
  ValidationRow a, b, c;
  for (auto* r : {&a, &b, &c}) {
    r->source = "s";
    r->metric = "tokens_per_s_per_gpu";
    r->model_ref = "m";
    r->topology_ref = "t";
    r->job.num_gpus = 8;
    r->job.seq_length = 4096;
  }
  // The id's prefix is the release (s2501-): a row of another release (s2502-d) is the same
  // workload under other software, not another plan, and pairs with none of them.
  ValidationRow d = c;
  a.id = "s2501-a"; a.measured = 100;
  b.id = "s2501-b"; b.measured = 200;
  c.id = "s2501-c"; c.measured = 150;
  d.id = "s2502-d"; d.measured = 400;
  std::vector<RowResult> results(4);
  results[0] = {&a, "ok", "", "dp", "plan-a", "t", 110, 0.10, 0.10};
  results[1] = {&b, "ok", "", "ulysses", "plan-b", "t", 180, -0.10, -0.10};
  results[2] = {&c, "ok", "", "ring-p2p", "plan-c", "t", 195, 0.30, 0.30};
  results[3] = {&d, "ok", "", "dp", "plan-d", "t", 100, -0.75, -0.75};
  for (auto& r : results) r.fits = true;
  const ValidationSummary s = summarize(results, "analytic");
  EXPECT_EQ(s.throughput.n, 4);
  EXPECT_DOUBLE_EQ(s.throughput.median_abs, 0.20);
  EXPECT_DOUBLE_EQ(s.throughput.max_abs, 0.75);
  EXPECT_NEAR(s.throughput.mean_signed, -0.45 / 4, 1e-12);
  EXPECT_EQ(s.throughput.worst, "s2502-d");
  // Pairs in row order: (a, b): b faster, predicted 180 > 110, agree; (a, c): c faster, 195 > 110,
  // agree; (b, c): b faster measured, but predicted 180 < 195: reversed. d pairs with none.
  ASSERT_EQ(s.rankings.size(), 3u);
  EXPECT_EQ(s.rankings_agree, 2);
  EXPECT_EQ(s.rankings[2].faster, "s2501-b");
  EXPECT_FALSE(s.rankings[2].agree);
  EXPECT_NEAR(s.rankings[2].measured_margin, 200.0 / 150 - 1, 1e-12);
  EXPECT_NEAR(s.rankings[2].predicted_margin, 180.0 / 195 - 1, 1e-12);
  EXPECT_EQ(s.fits_checks, 4);
  EXPECT_EQ(s.fits_agree, 4);
}

TEST(Validate, AnAllocatorReservationBoundsTheLivePeak) {
  // peak_reserved_gib rows: the predicted live peak must be at or below the published
  // reservation; they count as runs that fit, never in the peak-error statistics.
  ValidationRow low, high;
  for (auto* r : {&low, &high}) {
    r->source = "s";
    r->metric = "peak_reserved_gib";
    r->kind = MetricKind::kReservedMemory;
    r->measured = 80;
  }
  low.id = "low";
  high.id = "high";
  std::vector<RowResult> results(2);
  results[0] = {&low, "ok", "", "dp", "plan-low", "t", 50, -0.375, -0.375};
  results[1] = {&high, "ok", "", "dp", "plan-high", "t", 90, 0.125, 0.125};
  for (auto& r : results) r.fits = true;
  const ValidationSummary s = summarize(results, "analytic");
  EXPECT_EQ(s.reserved_checks, 2);
  EXPECT_EQ(s.reserved_within, 1);
  EXPECT_EQ(s.reserved_exceeded, std::vector<std::string>{"high"});
  EXPECT_EQ(s.memory.n, 0);
  EXPECT_EQ(s.fits_checks, 2);
  EXPECT_EQ(s.fits_agree, 2);
  EXPECT_EQ(metric_kind("peak_reserved_gib", "metric"), MetricKind::kReservedMemory);
}

TEST(Validate, TheGuardFailsWhenAnyNumberGetsWorse) {
  ValidationSummary s;
  s.engine = "analytic";
  s.ok = 10;
  s.throughput.n = 10;
  s.throughput.median_abs = 0.20;
  s.throughput.max_abs = 0.50;
  s.fits_checks = 10;
  s.fits_agree = 9;
  const nlohmann::json baseline = baseline_of(s);
  EXPECT_TRUE(compare_to_baseline(s, baseline).empty());
  ValidationSummary worse = s;
  worse.throughput.median_abs = 0.215;  // 1.5 points worse
  const auto w = compare_to_baseline(worse, baseline);
  ASSERT_EQ(w.size(), 1u);
  EXPECT_NE(w[0].find("throughput median |error| 20.0 % -> 21.5 %"), std::string::npos) << w[0];
  ValidationSummary within = s;
  within.throughput.max_abs = 0.505;  // half a point: within the tolerance
  EXPECT_TRUE(compare_to_baseline(within, baseline).empty());
  ValidationSummary fewer = s;
  fewer.ok = 9;
  fewer.fits_agree = 8;
  EXPECT_EQ(compare_to_baseline(fewer, baseline).size(), 2u);  // rows that run, fits agreement
}

}  // namespace
}  // namespace spsim
