// Pipeline schedules against the closed forms: 1F1B bubble (p-1)(F+B), interleaved (p-1)(F+B)/v
// (Narayanan et al. 2021, arXiv 2104.04473 §2.2), in-flight activations of the first stage
// (Korthikanti et al. 2022 eq. 5: L layers' worth; interleaved x (1 + (p-1)/(p v))), and the
// stage-boundary bytes by hand.
#include "pipeline/schedule.h"

#include "test_util.h"

namespace spsim {
namespace {

TEST(PipelineSchedule, OneFOneBBubbleIsPMinusOneStages) {
  // F = 1, B = 2 per stage per micro-batch, no P2P: step = (m + p - 1)(F + B); bubble fraction
  // (p - 1)/m of the ideal m (F + B).
  for (int64_t p : {2, 4, 8}) {
    for (int64_t m : {1, 4, 8, 32}) {
      const auto r = simulate_pipeline({p, m, 1, 1.0, 2.0, 0.0});
      EXPECT_DOUBLE_EQ(r.step_s, static_cast<double>(m + p - 1) * 3.0) << p << " " << m;
      EXPECT_DOUBLE_EQ(r.bubble_s / r.ideal_s, static_cast<double>(p - 1) / static_cast<double>(m));
    }
  }
}

TEST(PipelineSchedule, InterleavedBubbleShrinksByV) {
  // v chunks per stage, each F/v and B/v: bubble (p - 1)(F + B)/v, fraction (p - 1)/(v m).
  for (int64_t p : {2, 4}) {
    for (int64_t v : {2, 4}) {
      for (int64_t m : {p, 2 * p, 4 * p}) {
        const double f = 1.0 / static_cast<double>(v), b = 2.0 / static_cast<double>(v);
        const auto r = simulate_pipeline({p, m, v, f, b, 0.0});
        EXPECT_NEAR(r.bubble_s, static_cast<double>(p - 1) * 3.0 / static_cast<double>(v), 1e-9)
            << p << " " << v << " " << m;
        EXPECT_NEAR(r.bubble_s / r.ideal_s,
                    static_cast<double>(p - 1) / static_cast<double>(v * m), 1e-12);
      }
    }
  }
}

TEST(PipelineSchedule, FirstStageHoldsMegatronInFlightCount) {
  // 1F1B: stage i holds min(p - i, m) micro-batches of its L/p layers: the first stage p, i.e. L
  // layers' worth (Korthikanti eq. 5).
  const auto r = simulate_pipeline({4, 8, 1, 1.0, 2.0, 0.0});
  EXPECT_EQ(r.max_in_flight_chunks, (std::vector<int64_t>{4, 3, 2, 1}));
  // Interleaved p = 4, v = 2: stage 0 holds (p - 1)·2 + (v - 1)·p + 1 = 11 chunks of L/(p v)
  // layers = 11/8 L = L (1 + (p - 1)/(p v)) = L (1 + 3/8).
  const auto i = simulate_pipeline({4, 8, 2, 0.5, 1.0, 0.0});
  EXPECT_EQ(i.max_in_flight_chunks[0], 11);
  EXPECT_DOUBLE_EQ(static_cast<double>(i.max_in_flight_chunks[0]) / 8.0, 1.0 + 3.0 / 8.0);
}

TEST(PipelineSchedule, P2PAddsToTheCriticalPath) {
  // 1F1B with a P2P of d per hop: the first micro-batch crosses p - 1 boundaries forward and p - 1
  // back before the pipeline fills, so the step grows by 2 (p - 1) d for m = 1.
  const auto r = simulate_pipeline({4, 1, 1, 1.0, 2.0, 0.5});
  EXPECT_DOUBLE_EQ(r.step_s, 4 * 3.0 + 2 * 3 * 0.5);
}

TEST(PipelineSchedule, InterleavedNeedsMicroBatchesMultipleOfStages) {
  EXPECT_THROW_MSG(simulate_pipeline({4, 6, 2, 0.5, 1.0, 0.0}), InputError,
                   "multiple of pipeline_model_parallel_size 4 (got 6)");
}

TEST(PipelineSchedule, BoundaryBytesByHand) {
  // Llama-3-8B, b 1, s 131072, bf16: Ulysses u 8 holds s/8 tokens: 2 x 16384 x 4096 = 134,217,728.
  EXPECT_DOUBLE_EQ(pipeline_p2p_bytes(2, 1, 131072, 4096, 1, 8, 1, false), 134217728.0);
  // Megatron-SP t 8: the boundary activation is sequence-sharded too: same bytes.
  EXPECT_DOUBLE_EQ(pipeline_p2p_bytes(2, 1, 131072, 4096, 8, 1, 1, true), 134217728.0);
  // Plain TP t 8 (no SP): the full replicated activation, 2 x 131072 x 4096 = 1,073,741,824.
  EXPECT_DOUBLE_EQ(pipeline_p2p_bytes(2, 1, 131072, 4096, 8, 1, 1, false), 1073741824.0);
}

}  // namespace
}  // namespace spsim

namespace spsim {
namespace {

TEST(PipelineSchedule, StageExtrasLandOnTheFirstAndLastStage) {
  // p = 3, m = 4, F = 1, B = 2; embedding 0.25 / 0.5 on chunk 0, head 1 / 1.5 on the last chunk.
  PipelineSpec spec{3, 4, 1, 1.0, 2.0, 0.0};
  spec.first_chunk_extra_fwd_s = 0.25;
  spec.first_chunk_extra_bwd_s = 0.5;
  spec.last_chunk_extra_fwd_s = 1.0;
  spec.last_chunk_extra_bwd_s = 1.5;
  spec.record_ops = true;
  const auto r = simulate_pipeline(spec);
  // Busy: middle 4 x 3 = 12; first 12 + 4 x 0.75 = 15; last 12 + 4 x 2.5 = 22.
  EXPECT_EQ(r.stage_busy_s, (std::vector<double>{15.0, 12.0, 22.0}));
  EXPECT_DOUBLE_EQ(r.ideal_s, 22.0);
  // The last stage is the bottleneck: once its first forward arrives (0.25 + 1 + 1 = 2.25) it never
  // waits (its inputs come from faster stages), then the last backward crosses the two earlier
  // stages (2 + 2.5 with the embedding's backward): 2.25 + 22 + 4.5 = 28.75.
  EXPECT_DOUBLE_EQ(r.step_s, 28.75);
  EXPECT_DOUBLE_EQ(r.bubble_s, 28.75 - 22.0);
  EXPECT_EQ(r.ops.size(), 3u * 4u * 2u);
}

}  // namespace
}  // namespace spsim

namespace spsim {
namespace {

TEST(PipelineSchedule, ClosedFormInFlightEqualsTheSimulatedSchedule) {
  // The lowering uses the closed form (no simulation per lowering); it must be the schedule's.
  for (int64_t p : {2, 3, 4, 8}) {
    for (int64_t v : {1, 2, 3}) {
      for (int64_t m : {1, 2, 3, 4, 8, 16, 24}) {
        if (v > 1 && m % p != 0) continue;  // Megatron's interleaved requirement
        const auto r = simulate_pipeline({p, m, v, 1.0, 2.0, 0.0});
        for (int64_t i = 0; i < p; ++i) {
          EXPECT_EQ(pipeline_in_flight_chunks(p, m, v, i), r.max_in_flight_chunks[static_cast<size_t>(i)])
              << "p " << p << " v " << v << " m " << m << " stage " << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace spsim
