// Cluster: the GPUs, switches and NICs of a topology as a Boost.Graph graph, and routes on it.
//
// One node (scale-up domain), by node.interconnect:
//   nvswitch:  gpu0 ... gpuG-1 each linked to one "nvswitch" vertex (the switch fabric).
//   nvlink:    full mesh of direct GPU-GPU links, each bandwidth / (G-1).
//   pcie:      GPUs hang off PCIe switches (one per NIC, GPUs split evenly), the switches off
//              one CPU root; a NIC sits on the PCIe switch of its GPUs.
// Scale-out (only when there is more than one node):
//
//        spine                      one aggregate vertex; leaf uplinks = downlink / oversubscription
//       /     \.
//   leaf(g,r) leaf(g',r) ...        rail-optimized: one leaf per (leaf group g, rail r);
//     |  \                          otherwise one leaf per leaf group, all NICs on it
//   nic r of every node in group g
//     |
//   gpu i  (NIC r = i / (G / nics) serves GPU i; with more NICs than GPUs they merge into one port)
//
// Routes are shortest paths in hops (latency breaks ties, so a cross-rail transfer leaves on the
// source GPU's own NIC and crosses the spine rather than detouring through another GPU).
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <fmt/format.h>

#include "spsim/error.h"
#include "spsim/topology.h"

namespace spsim {

namespace {

enum class VertexKind : uint8_t { kGpu, kNvSwitch, kPcieSwitch, kCpu, kNic, kLeaf, kSpine };

struct VertexProps {
  VertexKind kind = VertexKind::kGpu;
  int64_t node = -1;   // node of GPUs, switches and NICs; leaf group of leaves
  int64_t index = 0;   // GPU / switch / NIC index in the node; rail of a rail leaf (-1 = whole group)
};

struct EdgeProps {
  double bandwidth = 0;  // bytes/s per direction
  double latency = 0;    // s
  double weight = 0;     // 1 per hop + latency (tie-break)
};

using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::undirectedS, VertexProps, EdgeProps>;
using Vertex = boost::graph_traits<Graph>::vertex_descriptor;

// Thrown by the visitor to stop Dijkstra once the target is settled.
struct TargetReached {};

class StopAt : public boost::default_dijkstra_visitor {
 public:
  explicit StopAt(Vertex target) : target_(target) {}
  void examine_vertex(Vertex u, const Graph&) const {
    if (u == target_) throw TargetReached{};
  }

 private:
  Vertex target_;
};

std::string vertex_name(const VertexProps& v) {
  switch (v.kind) {
    case VertexKind::kGpu: return fmt::format("node{}.gpu{}", v.node, v.index);
    case VertexKind::kNvSwitch: return fmt::format("node{}.nvswitch", v.node);
    case VertexKind::kPcieSwitch: return fmt::format("node{}.pcie_switch{}", v.node, v.index);
    case VertexKind::kCpu: return fmt::format("node{}.cpu", v.node);
    case VertexKind::kNic: return fmt::format("node{}.nic{}", v.node, v.index);
    case VertexKind::kLeaf:
      return v.index < 0 ? fmt::format("leaf{}", v.node) : fmt::format("leaf{}.rail{}", v.node, v.index);
    case VertexKind::kSpine: return "spine";
  }
  return "?";
}

}  // namespace

struct Cluster::Impl {
  Topology topology;
  int64_t num_gpus = 0;
  int64_t num_nodes = 0;
  int64_t gpus_per_node = 0;
  Graph graph;

  Vertex add(VertexKind kind, int64_t node, int64_t index) {
    return boost::add_vertex(VertexProps{kind, node, index}, graph);
  }
  void link(Vertex a, Vertex b, double bandwidth, double latency) {
    boost::add_edge(a, b, EdgeProps{bandwidth, latency, 1.0 + latency}, graph);
  }
  void build();
};

void Cluster::Impl::build() {
  const Topology& t = topology;
  const int64_t g = gpus_per_node;
  // GPUs first, so GPU rank r is vertex r.
  for (int64_t r = 0; r < num_gpus; ++r) add(VertexKind::kGpu, r / g, r % g);

  // NIC ports per node: with more NICs than GPUs, each GPU's NICs merge into one port.
  const int64_t ports = std::min<int64_t>(t.nics_per_node, g);
  const double port_bandwidth =
      ports > 0 ? t.nic_bandwidth * static_cast<double>(t.nics_per_node) / static_cast<double>(ports) : 0.0;
  const int64_t gpus_per_port = ports > 0 ? g / ports : g;
  const bool networked = num_nodes > 1 && ports > 0;

  std::vector<Vertex> nic_of_node_port;  // node * ports + port -> NIC vertex
  for (int64_t n = 0; n < num_nodes; ++n) {
    const int64_t first = n * g;
    const int64_t count = std::min(g, num_gpus - first);
    std::vector<Vertex> nics;
    if (networked) {
      for (int64_t p = 0; p < ports; ++p) nics.push_back(add(VertexKind::kNic, n, p));
      nic_of_node_port.insert(nic_of_node_port.end(), nics.begin(), nics.end());
    }
    if (t.intra_node_kind == "nvswitch") {
      const Vertex sw = add(VertexKind::kNvSwitch, n, 0);
      for (int64_t i = 0; i < count; ++i) {
        link(first + i, sw, t.intra_node_bandwidth, t.intra_node_latency_s / 2);
      }
    } else if (t.intra_node_kind == "nvlink") {
      // Direct links: a GPU's NVLinks are split evenly over its G-1 peers.
      const double per_pair = count > 1 ? t.intra_node_bandwidth / static_cast<double>(count - 1) : 0.0;
      for (int64_t i = 0; i < count; ++i) {
        for (int64_t j = i + 1; j < count; ++j) link(first + i, first + j, per_pair, t.intra_node_latency_s);
      }
    } else {  // pcie: GPU -> PCIe switch -> CPU root; latency split so GPU-GPU via the root = latency_us
      const int64_t switches = std::max<int64_t>(1, ports);
      const Vertex cpu = add(VertexKind::kCpu, n, 0);
      std::vector<Vertex> sw;
      for (int64_t s = 0; s < switches; ++s) {
        sw.push_back(add(VertexKind::kPcieSwitch, n, s));
        link(sw.back(), cpu, t.intra_node_bandwidth, t.intra_node_latency_s / 4);
      }
      const int64_t per_switch = (g + switches - 1) / switches;
      for (int64_t i = 0; i < count; ++i) {
        link(first + i, sw[static_cast<size_t>(i / per_switch)], t.intra_node_bandwidth, t.intra_node_latency_s / 4);
      }
      if (networked) {
        for (int64_t p = 0; p < ports; ++p) {
          link(sw[static_cast<size_t>(p)], nics[static_cast<size_t>(p)], port_bandwidth, t.nic_latency_s / 2);
        }
      }
    }
    if (networked && t.intra_node_kind != "pcie") {
      for (int64_t i = 0; i < count; ++i) {
        link(first + i, nics[static_cast<size_t>(i / gpus_per_port)], port_bandwidth, t.nic_latency_s / 2);
      }
    }
  }
  if (!networked) return;

  // Leaves and the spine.
  const int64_t per_leaf = t.nodes_per_leaf;
  const int64_t groups = (num_nodes + per_leaf - 1) / per_leaf;
  const int64_t leaves_per_group = t.rail_optimized ? ports : 1;
  std::vector<Vertex> leaves;
  std::vector<double> downlink;
  for (int64_t grp = 0; grp < groups; ++grp) {
    for (int64_t l = 0; l < leaves_per_group; ++l) {
      leaves.push_back(add(VertexKind::kLeaf, grp, t.rail_optimized ? l : -1));
      downlink.push_back(0.0);
    }
  }
  for (int64_t n = 0; n < num_nodes; ++n) {
    const int64_t grp = n / per_leaf;
    for (int64_t p = 0; p < ports; ++p) {
      const size_t leaf = static_cast<size_t>(grp * leaves_per_group + (t.rail_optimized ? p : 0));
      link(nic_of_node_port[static_cast<size_t>(n * ports + p)], leaves[leaf], port_bandwidth, t.switch_latency_s / 2);
      downlink[leaf] += port_bandwidth;
    }
  }
  if (leaves.size() > 1) {
    const Vertex spine = add(VertexKind::kSpine, -1, 0);
    for (size_t l = 0; l < leaves.size(); ++l) {
      link(leaves[l], spine, downlink[l] / t.oversubscription, t.switch_latency_s);
    }
  }
}

Cluster::Cluster(const Topology& topology, int64_t num_gpus) : impl_(std::make_unique<Impl>()) {
  const int64_t g = topology.gpus_per_node;
  if (g < 1) throw Error("topology has no GPUs per node");
  if (num_gpus < 1) {
    throw InputError("num_gpus", fmt::format("must be at least 1 (got {})", num_gpus));
  }
  if (num_gpus > g && num_gpus % g != 0) {
    const int64_t below = num_gpus / g * g;
    throw InputError("num_gpus",
                     fmt::format("{} GPUs span more than one node of {} GPUs ({}) but do not fill whole nodes; "
                                 "use a multiple of {} (e.g. {} or {})",
                                 num_gpus, g, topology.name, g, below, below + g));
  }
  const int64_t nodes = (num_gpus + g - 1) / g;
  if (topology.max_nodes > 0 && nodes > topology.max_nodes) {
    throw InputError("num_gpus",
                     fmt::format("topology \"{}\" describes at most {} nodes x {} GPUs = {} GPUs (got {}); use at "
                                 "most {} GPUs or raise the limit with --set network.max_nodes={}",
                                 topology.name, topology.max_nodes, g, int64_t{topology.max_nodes} * g, num_gpus,
                                 int64_t{topology.max_nodes} * g, nodes));
  }
  if (nodes > 1 && topology.nics_per_node < 1) {
    throw InputError("num_gpus", fmt::format("topology \"{}\" has no NICs, so it cannot span {} nodes; use at most {} GPUs",
                                             topology.name, nodes, g));
  }
  impl_->topology = topology;
  impl_->num_gpus = num_gpus;
  impl_->num_nodes = nodes;
  impl_->gpus_per_node = g;
  impl_->build();
}

Cluster::~Cluster() = default;
Cluster::Cluster(Cluster&&) noexcept = default;

int64_t Cluster::num_gpus() const { return impl_->num_gpus; }
int64_t Cluster::num_nodes() const { return impl_->num_nodes; }
const Topology& Cluster::topology() const { return impl_->topology; }

Route Cluster::route(int64_t src_gpu, int64_t dst_gpu) const {
  const Impl& im = *impl_;
  if (src_gpu < 0 || src_gpu >= im.num_gpus || dst_gpu < 0 || dst_gpu >= im.num_gpus) {
    throw Error(fmt::format("route {} -> {} outside the cluster of {} GPUs", src_gpu, dst_gpu, im.num_gpus));
  }
  Route route;
  route.inter_node = src_gpu / im.gpus_per_node != dst_gpu / im.gpus_per_node;
  if (src_gpu == dst_gpu) {
    // A copy within one GPU's memory.
    route.bottleneck_bandwidth = im.topology.gpu.hbm_bandwidth;
    return route;
  }
  const Graph& graph = im.graph;
  const size_t n = boost::num_vertices(graph);
  std::vector<Vertex> predecessor(n);
  std::vector<double> distance(n, std::numeric_limits<double>::infinity());
  const auto src = static_cast<Vertex>(src_gpu);
  const auto dst = static_cast<Vertex>(dst_gpu);
  try {
    boost::dijkstra_shortest_paths(
        graph, src,
        boost::weight_map(boost::get(&EdgeProps::weight, graph))
            .predecessor_map(boost::make_iterator_property_map(predecessor.begin(), boost::get(boost::vertex_index, graph)))
            .distance_map(boost::make_iterator_property_map(distance.begin(), boost::get(boost::vertex_index, graph)))
            .visitor(StopAt(dst)));
  } catch (const TargetReached&) {
  }
  if (!std::isfinite(distance[dst])) {
    throw Error(fmt::format("no route from GPU {} to GPU {} in topology {}", src_gpu, dst_gpu, im.topology.name));
  }
  std::vector<Vertex> path{dst};
  for (Vertex v = dst; v != src; v = predecessor[v]) path.push_back(predecessor[v]);
  std::reverse(path.begin(), path.end());

  route.bottleneck_bandwidth = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    const auto [edge, found] = boost::edge(path[i], path[i + 1], graph);
    if (!found) throw Error("route uses a missing edge");
    const EdgeProps& props = graph[edge];
    route.links.push_back(vertex_name(graph[path[i]]) + "->" + vertex_name(graph[path[i + 1]]));
    route.bottleneck_bandwidth = std::min(route.bottleneck_bandwidth, props.bandwidth);
    route.latency_s += props.latency;
    if (route.inter_node && route.rail < 0 && graph[path[i]].kind == VertexKind::kNic) {
      route.rail = static_cast<int>(graph[path[i]].index);
    }
  }
  return route;
}

}  // namespace spsim
