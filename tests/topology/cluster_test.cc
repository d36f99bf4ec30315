// Routes on the Boost.Graph cluster: which links a GPU-to-GPU transfer crosses, which one is the
// bottleneck, and how rails, leaves, the spine and oversubscription show up.
#include "spsim/topology.h"

#include "test_util.h"

namespace spsim {
namespace {

bool crosses(const Route& route, const std::string& link) {
  return std::find(route.links.begin(), route.links.end(), link) != route.links.end();
}

bool mentions(const Route& route, const std::string& vertex) {
  for (const auto& link : route.links) {
    if (link.find(vertex) != std::string::npos) return true;
  }
  return false;
}

TEST(ClusterRoute, IntraNodeOnlyCrossesTheNvSwitch) {
  const Cluster cluster(load_topology("dgx-h100"), 64);
  EXPECT_EQ(cluster.num_nodes(), 8);
  EXPECT_EQ(cluster.num_gpus(), 64);
  const Route r = cluster.route(0, 3);
  EXPECT_EQ(r.links, (std::vector<std::string>{"node0.gpu0->node0.nvswitch", "node0.nvswitch->node0.gpu3"}));
  EXPECT_FALSE(r.inter_node);
  EXPECT_EQ(r.rail, -1);
  EXPECT_DOUBLE_EQ(r.bottleneck_bandwidth, 450e9);  // NVLink4 per GPU per direction
  EXPECT_NEAR(r.latency_s, 3.4e-6, 1e-15);          // two half-latency hops
  // Same on another node.
  EXPECT_EQ(cluster.route(61, 58).links.size(), 2u);
  EXPECT_TRUE(crosses(cluster.route(61, 58), "node7.nvswitch->node7.gpu2"));
}

TEST(ClusterRoute, SameRailCrossesNicLeafNic) {
  // GPU 0 (node 0) -> GPU 8 (node 1, local GPU 0): NIC 0 of each node sits on the rail-0 leaf.
  const Cluster cluster(load_topology("dgx-h100"), 64);
  const Route r = cluster.route(0, 8);
  EXPECT_EQ(r.links, (std::vector<std::string>{"node0.gpu0->node0.nic0", "node0.nic0->leaf0.rail0",
                                               "leaf0.rail0->node1.nic0", "node1.nic0->node1.gpu0"}));
  EXPECT_TRUE(r.inter_node);
  EXPECT_EQ(r.rail, 0);
  EXPECT_DOUBLE_EQ(r.bottleneck_bandwidth, 50e9);  // one 400 Gb/s NIC
  // NIC + wire 14 us (two halves) + one switch 0.13 us (two halves).
  EXPECT_NEAR(r.latency_s, 14.13e-6, 1e-15);
  EXPECT_EQ(cluster.route(3, 59).rail, 3);
  EXPECT_FALSE(mentions(cluster.route(3, 59), "spine"));
}

TEST(ClusterRoute, CrossRailGoesThroughTheSpine) {
  // GPU 0 (rail 0) -> GPU 9 (node 1, rail 1): leaves its own NIC, leaf rail 0 -> spine -> leaf rail 1.
  const Cluster cluster(load_topology("dgx-h100"), 64);
  const Route r = cluster.route(0, 9);
  EXPECT_EQ(r.links, (std::vector<std::string>{"node0.gpu0->node0.nic0", "node0.nic0->leaf0.rail0",
                                               "leaf0.rail0->spine", "spine->leaf0.rail1",
                                               "leaf0.rail1->node1.nic1", "node1.nic1->node1.gpu1"}));
  EXPECT_EQ(r.rail, 0);
  // Non-blocking: uplink = 8 nodes x 50 GB/s; the NIC stays the bottleneck.
  EXPECT_DOUBLE_EQ(r.bottleneck_bandwidth, 50e9);
  // 14 us NIC + leaf (0.13 us) + spine (2 x 0.13 us uplink hops).
  EXPECT_NEAR(r.latency_s, 14e-6 + 0.13e-6 + 0.26e-6, 1e-15);
}

TEST(ClusterRoute, OversubscriptionShowsInTheUplink) {
  // 16:1 oversubscribed leaves: uplink = 8 nodes x 50 GB/s / 16 = 25 GB/s, below the NIC, so a
  // cross-rail route's bottleneck is the uplink; same-rail routes never leave the leaf.
  Topology t = load_topology("dgx-h100");
  apply_override(t, "network.oversubscription=16");
  const Cluster cluster(t, 64);
  EXPECT_DOUBLE_EQ(cluster.route(0, 9).bottleneck_bandwidth, 25e9);
  EXPECT_DOUBLE_EQ(cluster.route(0, 8).bottleneck_bandwidth, 50e9);
  // 2:1 leaves the NIC as the bottleneck (uplink 200 GB/s).
  Topology two = load_topology("dgx-h100");
  apply_override(two, "network.oversubscription=2");
  EXPECT_DOUBLE_EQ(Cluster(two, 64).route(0, 9).bottleneck_bandwidth, 50e9);
}

TEST(ClusterRoute, LeafGroupsConnectThroughTheSpine) {
  // 4 nodes per leaf group: node 0 and node 4 are in different groups, so even the same rail
  // crosses the spine.
  Topology t = load_topology("dgx-h100");
  apply_override(t, "network.nodes_per_leaf=4");
  const Cluster cluster(t, 64);
  const Route r = cluster.route(0, 32);
  EXPECT_TRUE(crosses(r, "leaf0.rail0->spine"));
  EXPECT_TRUE(crosses(r, "spine->leaf1.rail0"));
  EXPECT_FALSE(mentions(cluster.route(0, 24), "spine"));  // node 3: same group
}

TEST(ClusterRoute, NonRailOptimizedFabricHasOneLeafPerGroup) {
  Topology t = load_topology("dgx-h100");
  apply_override(t, "network.rail_optimized=false");
  const Cluster cluster(t, 64);
  const Route r = cluster.route(0, 9);
  EXPECT_EQ(r.links, (std::vector<std::string>{"node0.gpu0->node0.nic0", "node0.nic0->leaf0",
                                               "leaf0->node1.nic1", "node1.nic1->node1.gpu1"}));
  EXPECT_FALSE(mentions(r, "spine"));
}

TEST(ClusterRoute, SharedNicsOnA800) {
  // HGX-A800: 4 x 200 Gb/s NICs for 8 GPUs, so GPUs 0 and 1 share NIC 0 (25 GB/s).
  const Cluster cluster(load_topology("hgx-a800"), 16);
  const Route r = cluster.route(1, 9);
  EXPECT_EQ(r.rail, 0);
  EXPECT_TRUE(crosses(r, "node0.gpu1->node0.nic0"));
  EXPECT_DOUBLE_EQ(r.bottleneck_bandwidth, 25e9);
  EXPECT_DOUBLE_EQ(cluster.route(0, 7).bottleneck_bandwidth, 200e9);  // NVLink 400 GB/s bidir
}

TEST(ClusterRoute, Gb200Nvl72IsOneScaleUpDomain) {
  const Cluster cluster(load_topology("gb200-nvl72"), 72);
  EXPECT_EQ(cluster.num_nodes(), 1);
  const Route r = cluster.route(0, 71);
  EXPECT_FALSE(r.inter_node);
  EXPECT_EQ(r.links.size(), 2u);
  EXPECT_DOUBLE_EQ(r.bottleneck_bandwidth, 900e9);
}

TEST(ClusterRoute, PcieBoxStaysOnPcie) {
  const Cluster cluster(load_topology("l20-pcie-8x"), 8);
  const Route r = cluster.route(0, 7);
  EXPECT_FALSE(r.inter_node);
  EXPECT_TRUE(mentions(r, "pcie_switch"));
  EXPECT_DOUBLE_EQ(r.bottleneck_bandwidth, 32e9);
}

TEST(ClusterRoute, FourGpuNvLinkMeshHasDirectPairLinks) {
  // HGX H100 4-GPU: no NVSwitch; each GPU's 18 NVLinks (450 GB/s) split over its 3 peers.
  const Cluster cluster(load_topology("hgx-h100-4gpu"), 8);
  EXPECT_EQ(cluster.num_nodes(), 2);
  const Route r = cluster.route(1, 3);
  EXPECT_EQ(r.links, (std::vector<std::string>{"node0.gpu1->node0.gpu3"}));
  EXPECT_FALSE(r.inter_node);
  EXPECT_DOUBLE_EQ(r.bottleneck_bandwidth, 150e9);
  EXPECT_NEAR(r.latency_s, 3.4e-6, 1e-15);
  EXPECT_FALSE(mentions(r, "nvswitch"));
  // Across nodes: the GPU's own 200 Gb/s NIC, one leaf (not rail-optimized), the peer's NIC.
  const Route x = cluster.route(2, 6);
  EXPECT_TRUE(x.inter_node);
  EXPECT_EQ(x.links.size(), 4u);
  EXPECT_DOUBLE_EQ(x.bottleneck_bandwidth, 25e9);
  EXPECT_FALSE(mentions(x, "spine"));
}

TEST(ClusterRoute, SelfCopyIsHbm) {
  const Cluster cluster(load_topology("dgx-h100"), 8);
  const Route r = cluster.route(5, 5);
  EXPECT_TRUE(r.links.empty());
  EXPECT_DOUBLE_EQ(r.bottleneck_bandwidth, 3.35e12);
}

TEST(ClusterRoute, RoutesAreSymmetricInLinksCount) {
  const Cluster cluster(load_topology("dgx-h100"), 32);
  for (int64_t a : {0, 5, 13, 31}) {
    for (int64_t b : {1, 8, 22, 30}) {
      if (a == b) continue;
      EXPECT_EQ(cluster.route(a, b).links.size(), cluster.route(b, a).links.size()) << a << "->" << b;
      EXPECT_DOUBLE_EQ(cluster.route(a, b).bottleneck_bandwidth, cluster.route(b, a).bottleneck_bandwidth);
    }
  }
}

TEST(ClusterErrors, PartialNodesAndLimits) {
  EXPECT_THROW_MSG(Cluster(load_topology("dgx-h100"), 12), InputError, "use a multiple of 8 (e.g. 8 or 16)");
  EXPECT_THROW_MSG(Cluster(load_topology("l20-pcie-8x"), 16), InputError, "at most 1 nodes");
  EXPECT_THROW_MSG(Cluster(load_topology("dgx-h100"), 0), InputError, "must be at least 1");
  // Fewer GPUs than a node is fine (one partial node).
  EXPECT_EQ(Cluster(load_topology("dgx-h100"), 4).num_nodes(), 1);
}

}  // namespace
}  // namespace spsim
