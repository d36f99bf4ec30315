// Alpha-beta collective cost against hand computations on the shipped DGX-H100 numbers:
// NVLink 450 GB/s per GPU per direction, 3.4 us per step; one 400 Gb/s (50 GB/s) NIC per GPU,
// 14 us NIC latency + 2 x 0.13 us switch hops = 14.26 us per network step; efficiencies
// intra AG 0.80, RS 0.81, AR 0.80, A2A 0.77, send/recv 0.82; inter AG/RS/AR/send 0.94, A2A 0.86.
#include "spsim/collective.h"

#include "spsim/topology.h"
#include "test_util.h"

namespace spsim {
namespace {

constexpr double kBytes = 1e9;  // bytes one GPU sends
constexpr double kHop = 14.26e-6;

double cost(CommKind kind, int64_t size, int64_t stride, const Topology& t, double bytes = kBytes) {
  const CommGroup group{"g", size, stride};
  return collective_time_s(kind, bytes, place_group(group, t.gpus_per_node), t);
}

TEST(BytesSentPerGpu, NcclTestsFactors) {
  EXPECT_DOUBLE_EQ(bytes_sent_per_gpu(CommKind::kAllGather, 1000, 4), 750);
  EXPECT_DOUBLE_EQ(bytes_sent_per_gpu(CommKind::kReduceScatter, 1000, 4), 750);
  EXPECT_DOUBLE_EQ(bytes_sent_per_gpu(CommKind::kAllToAll, 1000, 4), 750);
  EXPECT_DOUBLE_EQ(bytes_sent_per_gpu(CommKind::kAllReduce, 1000, 4), 1500);
  EXPECT_DOUBLE_EQ(bytes_sent_per_gpu(CommKind::kSendRecv, 1000, 4), 1000);
  EXPECT_EQ(bytes_sent_per_gpu(CommKind::kAllReduce, 1000, 1), 0.0);
  EXPECT_EQ(bytes_sent_per_gpu(CommKind::kAllGather, 0, 8), 0.0);
}

TEST(PlaceGroup, NestedGroupsOnNodes) {
  auto place = [](int64_t size, int64_t stride, int64_t gpn) {
    const auto p = place_group(CommGroup{"g", size, stride}, gpn);
    return std::make_pair(p.ranks_per_node, p.nodes);
  };
  EXPECT_EQ(place(8, 1, 8), std::make_pair(int64_t{8}, int64_t{1}));   // TP/Ulysses in a node
  EXPECT_EQ(place(16, 1, 8), std::make_pair(int64_t{8}, int64_t{2}));  // spans two nodes
  EXPECT_EQ(place(8, 8, 8), std::make_pair(int64_t{1}, int64_t{8}));   // DP across nodes
  EXPECT_EQ(place(8, 4, 8), std::make_pair(int64_t{2}, int64_t{4}));   // USP ring, u = 4
  EXPECT_EQ(place(4, 2, 8), std::make_pair(int64_t{4}, int64_t{1}));
  EXPECT_FALSE(place_group(CommGroup{"g", 8, 1}, 8).inter_node());
  EXPECT_TRUE(place_group(CommGroup{"g", 8, 8}, 8).inter_node());
}

TEST(CollectiveCost, IntraNode) {
  const Topology t = load_topology("dgx-h100");
  // Ring AG over 8: 7 steps x 3.4 us + 1e9 / (450e9 x 0.80).
  EXPECT_NEAR(cost(CommKind::kAllGather, 8, 1, t), 7 * 3.4e-6 + kBytes / 360e9, 1e-12);
  EXPECT_NEAR(cost(CommKind::kReduceScatter, 8, 1, t), 7 * 3.4e-6 + kBytes / (450e9 * 0.81), 1e-12);
  // Ring AR: 2(n-1) = 14 steps.
  EXPECT_NEAR(cost(CommKind::kAllReduce, 8, 1, t), 14 * 3.4e-6 + kBytes / 360e9, 1e-12);
  // All-to-all: one step.
  EXPECT_NEAR(cost(CommKind::kAllToAll, 8, 1, t), 3.4e-6 + kBytes / (450e9 * 0.77), 1e-12);
  EXPECT_NEAR(cost(CommKind::kSendRecv, 2, 1, t), 3.4e-6 + kBytes / (450e9 * 0.82), 1e-12);
  // A group of 4 inside a node: same bandwidth, fewer latency steps.
  EXPECT_NEAR(cost(CommKind::kAllGather, 4, 2, t), 3 * 3.4e-6 + kBytes / 360e9, 1e-12);
}

TEST(CollectiveCost, InterNodeRingUsesAllNicsOfTheGroupCappedByNvlink) {
  const Topology t = load_topology("dgx-h100");
  // 16 ranks, 8 per node: busbw = min(NVLink 360 GB/s, 8 NICs x 47 GB/s = 376) = 360 GB/s.
  EXPECT_NEAR(cost(CommKind::kAllGather, 16, 1, t), 15 * kHop + kBytes / 360e9, 1e-12);
  // DP group with one rank per node (stride 8): one NIC, 50 x 0.94 = 47 GB/s.
  EXPECT_NEAR(cost(CommKind::kAllGather, 8, 8, t), 7 * kHop + kBytes / 47e9, 1e-12);
  EXPECT_NEAR(cost(CommKind::kReduceScatter, 8, 8, t), 7 * kHop + kBytes / 47e9, 1e-12);
  EXPECT_NEAR(cost(CommKind::kAllReduce, 8, 8, t), 14 * kHop + kBytes / 47e9, 1e-12);
  // USP ring stride 4 over 16 GPUs: 2 ranks per node -> 2 NICs = 94 GB/s.
  EXPECT_NEAR(cost(CommKind::kAllGather, 4, 4, t), 3 * kHop + kBytes / 94e9, 1e-12);
}

TEST(CollectiveCost, InterNodeAllToAllIsBoundByTheOffNodeShare) {
  const Topology t = load_topology("dgx-h100");
  // 16 ranks on 2 nodes: 7/15 of the bytes stay on NVLink (450 x 0.77 = 346.5 GB/s), 8/15 leave
  // through the GPU's own NIC (50 x 0.86 = 43 GB/s); the slower part sets the time.
  const double on = kBytes * 7 / 15 / 346.5e9, off = kBytes * 8 / 15 / 43e9;
  EXPECT_NEAR(cost(CommKind::kAllToAll, 16, 1, t), kHop + std::max(on, off), 1e-12);
  EXPECT_GT(off, on);
  // 64 ranks on 8 nodes: 56/63 off node.
  EXPECT_NEAR(cost(CommKind::kAllToAll, 64, 1, t), kHop + kBytes * 56 / 63 / 43e9, 1e-12);
}

TEST(CollectiveCost, InterNodeSendRecvUsesOneNic) {
  const Topology t = load_topology("dgx-h100");
  EXPECT_NEAR(cost(CommKind::kSendRecv, 16, 1, t), kHop + kBytes / 47e9, 1e-12);
  // A100: 200 Gb/s NIC per GPU = 25 GB/s; efficiency from its own file.
  const Topology a100 = load_topology("dgx-a100-80gb");
  const double eff = a100.efficiency.for_collective("inter_node", "send_recv");
  const double hop = a100.nic_latency_s + 2 * a100.switch_latency_s;
  EXPECT_NEAR(cost(CommKind::kSendRecv, 16, 1, a100), hop + kBytes / (25e9 * eff), 1e-12);
}

TEST(CollectiveCost, EfficiencyOverrideScalesBandwidthTerm) {
  Topology t = load_topology("dgx-h100");
  apply_override(t, "collective_efficiency.intra_node.all_gather=0.5");
  EXPECT_NEAR(cost(CommKind::kAllGather, 8, 1, t), 7 * 3.4e-6 + kBytes / 225e9, 1e-12);
}

TEST(CollectiveCost, CalibratedFitOverridesInsideItsRange) {
  Topology t = load_topology("dgx-h100");
  CollectiveFit fit;
  fit.kind = "all_gather";
  fit.scope = "intra_node";
  fit.group_size = 8;
  fit.alpha_s = 10e-6;
  fit.busbw = 300e9;
  fit.min_bytes = 1e6;
  fit.max_bytes = 2e9;
  fit.source = "test";
  t.fits.push_back(fit);
  // nccl-tests size of a 1e9-byte-per-GPU AG over 8 = 1e9·8/7 = 1.14e9: inside the range.
  EXPECT_NEAR(cost(CommKind::kAllGather, 8, 1, t), 10e-6 + kBytes / 300e9, 1e-12);
  // 4e9 per GPU -> size 4.57e9: outside, default model.
  EXPECT_NEAR(cost(CommKind::kAllGather, 8, 1, t, 4e9), 7 * 3.4e-6 + 4e9 / 360e9, 1e-12);
  // Other group sizes and kinds are untouched.
  EXPECT_NEAR(cost(CommKind::kReduceScatter, 8, 1, t), 7 * 3.4e-6 + kBytes / (450e9 * 0.81), 1e-12);
}

TEST(CollectiveCost, EmptyCollectivesAreFree) {
  const Topology t = load_topology("dgx-h100");
  EXPECT_EQ(cost(CommKind::kAllGather, 1, 1, t), 0.0);
  EXPECT_EQ(cost(CommKind::kAllGather, 8, 1, t, 0.0), 0.0);
}

TEST(CollectiveCost, NoNicsCannotSpanNodes) {
  const Topology t = load_topology("l20-pcie-8x");
  EXPECT_THROW_MSG(cost(CommKind::kAllGather, 16, 1, t), InputError, "has no NICs");
}

TEST(CollectiveCost, MonotoneInBytes) {
  const Topology t = load_topology("dgx-h100");
  for (CommKind kind : {CommKind::kAllToAll, CommKind::kAllGather, CommKind::kReduceScatter,
                        CommKind::kAllReduce, CommKind::kSendRecv}) {
    double previous = 0;
    for (double bytes : {1e3, 1e6, 1e9}) {
      for (int64_t stride : {1, 8}) {
        const double now = cost(kind, 8, stride, t, bytes);
        EXPECT_GT(now, 0.0);
        if (stride == 1) {
          EXPECT_GT(now, previous) << to_string(kind);
          previous = now;
        }
      }
    }
  }
}

}  // namespace
}  // namespace spsim
