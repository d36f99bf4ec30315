#include <gtest/gtest.h>

#include "spsim/calibrate.h"
#include "test_util.h"

namespace spsim {
namespace {

MicrobenchResults sample_results() {
  MicrobenchResults r;
  CollectiveRun run;
  run.kind = "all_gather";
  run.ranks = 8;
  run.hosts = {"node1", "node2"};
  run.ranks_per_node = 4;
  CollectivePoint p;
  p.bytes = 1048576;
  p.count = 32768;
  p.type = "bf16";
  p.time_us = 44.5;
  p.spread = {44.0, 46.0, 44.1, 45.9, 50};
  p.algbw_GBps = 23.56;
  p.busbw_GBps = 20.62;
  run.points = {p};
  r.collectives = {run};
  GemmPoint g;
  g.label = "mlp_up tp=1 tokens=4096";
  g.dtype = "bf16";
  g.m = 4096, g.n = 14336, g.k = 4096;
  g.time_us = 700;
  r.gemm = {g};
  AttentionPoint a;
  a.impl = "cudnn-sdpa";
  a.dtype = "bf16";
  a.direction = "bwd";
  a.causal = true;
  a.batch = 1, a.heads = 32, a.kv_heads = 8, a.head_dim = 128, a.seq_q = 8192, a.seq_kv = 8192;
  a.time_us = 5000;
  r.attention = {a};
  MemoryPoint m;
  m.bytes = 1 << 30;
  m.time_us = 700;
  r.memory = {m};
  return r;
}

TEST(MicrobenchJson, RoundTripsEveryRawPointAndProvenance) {
  MicrobenchProvenance prov;
  prov.tool = "spsim-microbench 0.1.0";
  prov.gpu_name = "NVIDIA H100 80GB HBM3";
  prov.nccl_version = "2.28.9";
  prov.rank_hosts = {"node1", "node1", "node2", "node2"};
  prov.rank_devices = {0, 1, 0, 1};
  const std::string text = write_microbench_json(prov, sample_results());
  const MicrobenchResults back = read_microbench_json(text, "mb.json");
  ASSERT_EQ(back.collectives.size(), 1u);
  const auto& run = back.collectives[0];
  EXPECT_EQ(run.kind, "all_gather");
  EXPECT_EQ(run.ranks, 8);
  EXPECT_EQ(run.scope(), "inter_node");
  ASSERT_EQ(run.points.size(), 1u);
  EXPECT_EQ(run.points[0].bytes, 1048576);
  EXPECT_DOUBLE_EQ(run.points[0].time_us, 44.5);
  EXPECT_DOUBLE_EQ(run.points[0].spread.p90_us, 45.9);
  EXPECT_EQ(run.points[0].spread.iterations, 50);
  ASSERT_EQ(back.gemm.size(), 1u);
  EXPECT_EQ(back.gemm[0].n, 14336);
  ASSERT_EQ(back.attention.size(), 1u);
  EXPECT_EQ(back.attention[0].kv_heads, 8);
  EXPECT_TRUE(back.attention[0].causal);
  ASSERT_EQ(back.memory.size(), 1u);
  EXPECT_NE(back.provenance.find("NVIDIA H100 80GB HBM3"), std::string::npos);
  EXPECT_NE(back.provenance.find("2 host(s)"), std::string::npos);
  // Derived fields are written for humans: 2*4096*14336*4096 / 700e-6 s = 687.2 TFLOP/s.
  EXPECT_NE(text.find("\"tflops\": 687.19"), std::string::npos);
  // Deterministic: same input, same bytes.
  EXPECT_EQ(text, write_microbench_json(prov, sample_results()));
}

TEST(MicrobenchJson, StrictErrorsNameTheField) {
  const std::string good = write_microbench_json({}, sample_results());
  std::string typo = good;
  typo.replace(typo.find("\"head_dim\""), 10, "\"headdim\"");
  EXPECT_THROW_MSG(read_microbench_json(typo, "mb.json"), InputError, "/attention/0");
  std::string wrong_format = good;
  wrong_format.replace(wrong_format.find("spsim-microbench"), 16, "nccl-tests-json!");
  EXPECT_THROW_MSG(read_microbench_json(wrong_format, "mb.json"), InputError,
                   "expected \"spsim-microbench\"");
  std::string bad_kind = good;
  bad_kind.replace(bad_kind.find("\"all_gather\""), 12, "\"broadcast\"");
  EXPECT_THROW_MSG(read_microbench_json(bad_kind, "mb.json"), InputError, "unknown collective");
  EXPECT_THROW_MSG(read_microbench_json("{", "mb.json"), InputError, "syntax error");
}

}  // namespace
}  // namespace spsim
