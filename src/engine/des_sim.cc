// The discrete-event simulation of one training step on SimGrid 3.32 (see docs/des.md).
//
// Platform: every GPU is two SimGrid hosts: "g<r>.nvl" in the scale-up zone (one split-duplex
// NVLink/NVSwitch/PCIe port per GPU, an ideal switch behind it) and "g<r>.net" in the leaf zone of
// its NIC (one split-duplex link per NIC port, shared by the GPUs that use it; a split-duplex uplink
// per leaf of (simulated nodes of its leaf group) x port bandwidth / oversubscription to an ideal
// spine). Under symmetry (des_internal.h) only ranks 0..s-1 exist here. Intra-node flows use
// the .nvl hosts, inter-node flows the .net hosts, so each flow crosses exactly the links it
// really crosses. Model: ptask_L07 with TCP-gamma 0 (exact alpha-beta, equal sharing).
//
// Driver: no actors. Compute tasks are kernel timers of the roofline duration; a collective is
// one parallel task (an Exec over its members' hosts with a byte matrix) started when the last
// member arrives, after its latency (steps x alpha) on a timer.
#include <simgrid/kernel/Timer.hpp>
#include <simgrid/s4u.hpp>
#include <xbt/log.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "engine/des_internal.h"
#include "spsim/error.h"
#include "spsim/trace.h"

namespace spsim::des {

namespace {

namespace sg4 = simgrid::s4u;
using LinkDir = sg4::LinkInRoute::Direction;

constexpr int kTopLinks = 10;
constexpr size_t kMaxRecordedNodes = 20'000'000;  // critical-path records (~40 bytes each)
constexpr int64_t kMaxPerGpuListed = 64;
constexpr int64_t kDefaultTracedGpus = 8;

struct Inst {
  int32_t seg;
  int32_t rep;
  int32_t mb;
};

// A finished task, for dependency checks and the critical path.
struct Recent {
  int64_t inst = -1;
  int32_t task = -1;
  int32_t node = -1;
  double finish = 0;
  Category category = Category::kCompute;
};
constexpr int kRecent = 32;

struct StreamState {
  int64_t inst = 0;   // cursor: instance and index into the segment's per-stream task list
  int32_t k = 0;
  bool busy = false;
  bool finished = false;
  int64_t done_inst = -1;  // last finished task on this stream (program order)
  int32_t done_task = -1;
  double start = 0;         // start of the running task (collective: this GPU's arrival)
  int32_t pred_node = -1;
  double busy_s = 0;
  double last_finish = 0;
  Category last_category = Category::kCompute;
  std::array<Recent, kRecent> recent{};
  int recent_head = 0;
};

struct GpuState {
  std::array<StreamState, kNumStreams> streams;
  double compute_free_at = 0;
  double compute_lower_bound = 0;
  std::array<double, kNumCategories> comm{};
  std::array<double, kNumCategories> exposed{};
  double finish = 0;
  int32_t last_node = -1;
  // Compute slowed by collectives (KernelModel::comm_slowdown): how many collectives of this GPU
  // are in flight, and the running compute task's uncontended work left as of `work_at`.
  int comm_running = 0;
  simgrid::kernel::timer::Timer* compute_timer = nullptr;
  double work_left = 0;
  double work_at = 0;
  int64_t compute_inst = 0;
  int32_t compute_index = 0;
  double compute_start = 0;
  int32_t compute_pred = -1;
};

// One executed op (compute task on one GPU, or one collective instance) for the critical path.
struct Node {
  double start = 0;
  double end = 0;
  int32_t pred = -1;
  int32_t seg = 0;
  int32_t task = 0;
};

struct Pending {
  int64_t arrived = 0;
  int32_t pred_node = -1;
};

struct Active {
  int32_t seg = 0;
  int32_t task = 0;
  int64_t inst = 0;
  std::vector<int64_t> members;
  double launch = 0;
  std::vector<std::tuple<int64_t, int64_t, double, bool>> pairs;  // src, dst, payload, intra
  int32_t pred_node = -1;
  sg4::ExecPtr exec;
  bool live = false;
};

// Link bookkeeping mirrored from the platform (for utilisation and the byte invariants).
struct LinkInfo {
  std::string name;
  double bandwidth = 0;
  double bytes = 0;
};

class Simulation {
 public:
  Simulation(const TaskGraph& graph, const Topology& topology, const EngineOptions& options,
             const Symmetry& symmetry)
      : graph_(graph), topology_(topology), options_(options), symmetry_(symmetry) {}

  SimOutput run();

 private:
  // Platform.
  void build_platform();
  int64_t node_of(int64_t rank) const { return rank / gpn_; }
  // NIC ports: with more NICs than GPUs, a GPU's NICs merge into one port (as src/topology does).
  int64_t nic_of(int64_t rank) const {  // global port index
    return node_of(rank) * ports_ + (rank % gpn_) * ports_ / gpn_;
  }
  int64_t leaf_of(int64_t rank) const {
    const int64_t su = node_of(rank) / nodes_per_leaf_;
    if (!topology_.rail_optimized) return su;
    return su * ports_ + (rank % gpn_) * ports_ / gpn_;
  }
  void account_route(int64_t src, int64_t dst, double bytes, bool intra);

  // Program.
  void build_program();
  int64_t members_in_block(int group) const {
    const CommGroup& g = graph_.groups[group];
    return symmetry_.rotated[group] ? n_ / g.stride : g.size;
  }
  const Task& task_at(int64_t inst, int32_t task) const {
    return graph_.segments[insts_[inst].seg].tasks[task];
  }
  void normalize(StreamState& st, int stream);
  bool dep_done(const GpuState& gpu, int64_t inst, int32_t dep) const;
  // The instance a Task::prev_instance_dep of `inst` refers to: the previous repetition of the
  // same segment, or -1 for the first one (which waits for none).
  int64_t prev_instance(int64_t inst) const {
    if (inst > 0 && insts_[inst - 1].seg == insts_[inst].seg && insts_[inst - 1].rep + 1 == insts_[inst].rep) {
      return inst - 1;
    }
    return -1;
  }
  // What a task of `inst` waits for in an earlier instance, as (instance, task), or (-1, -1): the
  // previous repetition's Task::prev_instance_dep, or, in the first instance of a segment that
  // continues the one before it, that segment's last instance's Task::continued_dep.
  std::pair<int64_t, int32_t> earlier_dep(int64_t inst, const Task& task) const {
    const int64_t prev = prev_instance(inst);
    if (task.prev_instance_dep >= 0 && prev >= 0) return {prev, task.prev_instance_dep};
    const Inst& here = insts_[inst];
    if (task.continued_dep >= 0 && here.rep == 0 && inst > 0 && graph_.segments[here.seg].continues &&
        insts_[inst - 1].seg + 1 == here.seg && insts_[inst - 1].mb == here.mb) {
      return {inst - 1, task.continued_dep};
    }
    return {-1, -1};
  }
  const Recent* find_recent(const StreamState& st, int64_t inst, int32_t task) const;
  void try_advance(int64_t rank);
  void start_task(int64_t rank, int stream);
  void finish_task(int64_t rank, int stream, int32_t node, double start, double end,
                   int64_t flow_out, int64_t flow_in);
  void arrive(int64_t rank, int stream, int64_t inst, int32_t task, int32_t pred);
  void launch(int64_t base, int64_t inst, int32_t task, int32_t pred);
  void start_ptask(size_t id);
  void complete_collective(size_t id);
  double compute_rate(const GpuState& gpu) const { return gpu.comm_running > 0 ? 1.0 / (1.0 + comm_slowdown_) : 1.0; }
  void schedule_compute_end(int64_t rank);
  void change_comm_running(int64_t rank, int delta);
  int32_t record_node(double start, double end, int32_t pred, int64_t inst, int32_t task);

  nlohmann::json critical_path_json(int64_t rank) const;
  void memory_sample(int64_t rank, int64_t inst, double time);
  void check_invariants() const;

  const TaskGraph& graph_;
  const Topology& topology_;
  const EngineOptions& options_;
  const Symmetry& symmetry_;
  int64_t n_ = 0;        // simulated ranks (all of them, or the symmetric block)
  int64_t ports_ = 1;    // NIC ports per node
  double port_bw_ = 1;   // bytes/s per port per direction
  int64_t gpn_ = 1;
  int64_t nodes_ = 1;
  int64_t nodes_per_leaf_ = 1;

  std::vector<sg4::Host*> nvl_hosts_;
  std::vector<sg4::Host*> net_hosts_;
  std::vector<int64_t> host_slot_;  // start_ptask scratch: host key -> index in the ptask
  std::vector<LinkInfo> links_;  // 2 per physical split-duplex link: UP then DOWN
  int64_t nvl_link0_ = 0, nic_link0_ = 0, up_link0_ = 0;

  std::vector<Inst> insts_;
  // Per segment, per stream: indices of the tasks on that stream in program order.
  std::vector<std::array<std::vector<int32_t>, kNumStreams>> stream_tasks_;
  std::vector<std::vector<double>> base_duration_;  // [seg][task] compute time, unscaled

  std::vector<GpuState> gpus_;
  std::map<std::tuple<int32_t, int64_t, int64_t, int32_t>, Pending> pending_;
  std::vector<Active> actives_;
  std::vector<size_t> free_actives_;
  std::vector<sg4::ExecPtr> graveyard_;
  std::vector<Node> nodes_rec_;
  bool record_nodes_ = true;
  int64_t events_ = 0;
  double bytes_sent_ = 0, bytes_received_ = 0;

  std::array<std::array<double, 2>, 5> eff_{};  // [kind][intra, inter], NaN where absent
  std::vector<bool> traced_;
  Timeline timeline_;
  int64_t next_flow_ = 0;
  double comm_slowdown_ = 0;             // topology_.efficiency.kernels.comm_slowdown
  std::vector<double> activations_;      // per traced rank: saved activations now (bytes)
  std::vector<double> grads_;            // per traced rank: gradients the backward has made (bytes)
  double activation_per_layer_ = 0;      // one forward layer instance's share
  double grads_per_layer_ = 0;           // one backward layer instance's gradients
};

// Memory counter: the resident part plus saved activations, which grow by one layer's share when
// a repeated forward segment instance ends on the compute stream and shrink when a backward one
// does (the shape of the memory model's peak, not a measurement).
void Simulation::memory_sample(int64_t rank, int64_t inst, double time) {
  const Segment& segment = graph_.segments[insts_[inst].seg];
  if (segment.repeat <= 1 || segment.tasks.empty() || activation_per_layer_ <= 0) return;
  const Phase phase = segment.tasks.front().phase;
  double& held = activations_[rank];
  if (phase == Phase::kForward) held += activation_per_layer_;
  if (phase == Phase::kBackward) {
    held = std::max(0.0, held - activation_per_layer_);
    grads_[rank] += grads_per_layer_;
  }
  timeline_.counters.push_back(
      {rank, "HBM (GiB)", time,
       {{"activations", held / (1024.0 * 1024.0 * 1024.0)},
        {"grads", grads_[rank] / (1024.0 * 1024.0 * 1024.0)},
        {"resident", options_.trace_resident_bytes / (1024.0 * 1024.0 * 1024.0)}}});
}

void Simulation::build_platform() {
  // Scale-up zone: one port per GPU behind an ideal switch (the NVSwitch model; for PCIe and
  // NVLink meshes the per-GPU port bandwidth is the datasheet per-direction figure).
  auto* root = sg4::create_star_zone("cluster");
  nvl_hosts_.resize(n_);
  net_hosts_.resize(n_);
  auto* scaleup = sg4::create_star_zone("scaleup");
  scaleup->set_parent(root);
  nvl_link0_ = static_cast<int64_t>(links_.size());
  for (int64_t r = 0; r < n_; ++r) {
    nvl_hosts_[r] = scaleup->create_host("g" + std::to_string(r) + ".nvl", 1.0);
    const double bw = topology_.intra_node_bandwidth > 0 ? topology_.intra_node_bandwidth : 1.0;
    auto* link = scaleup->create_split_duplex_link("nvl" + std::to_string(r), bw);
    link->set_latency(0)->seal();
    scaleup->add_route(nvl_hosts_[r]->get_netpoint(), nullptr, nullptr, nullptr,
                       {sg4::LinkInRoute(link, LinkDir::UP)}, true);
    links_.push_back({"nvl" + std::to_string(r) + "_UP", bw, 0});
    links_.push_back({"nvl" + std::to_string(r) + "_DOWN", bw, 0});
  }
  scaleup->seal();

  // Scale-out: leaf zones (one per rail per scalable unit when rail-optimized), NIC links inside,
  // one aggregated uplink per leaf to an ideal spine (ECMP spreading assumed perfect).
  const int64_t nics = ports_;
  const int64_t leaves =
      topology_.rail_optimized ? ((nodes_ + nodes_per_leaf_ - 1) / nodes_per_leaf_) * nics
                               : (nodes_ + nodes_per_leaf_ - 1) / nodes_per_leaf_;
  std::vector<sg4::NetZone*> leaf_zones(leaves);
  std::vector<sg4::Link*> nic_links(nodes_ * nics, nullptr);
  const double nic_bw = port_bw_;
  for (int64_t leaf = 0; leaf < leaves; ++leaf) {
    leaf_zones[leaf] = sg4::create_star_zone("leaf" + std::to_string(leaf));
    leaf_zones[leaf]->set_parent(root);
  }
  nic_link0_ = static_cast<int64_t>(links_.size());
  for (int64_t nic = 0; nic < nodes_ * nics; ++nic) {
    links_.push_back({"nic" + std::to_string(nic) + "_UP", nic_bw, 0});
    links_.push_back({"nic" + std::to_string(nic) + "_DOWN", nic_bw, 0});
  }
  for (int64_t r = 0; r < n_; ++r) {
    sg4::NetZone* zone = leaf_zones[leaf_of(r)];
    net_hosts_[r] = zone->create_host("g" + std::to_string(r) + ".net", 1.0);
    const int64_t nic = nic_of(r);
    if (nic_links[nic] == nullptr) {
      nic_links[nic] = zone->create_split_duplex_link("nic" + std::to_string(nic), nic_bw);
      nic_links[nic]->set_latency(0)->seal();
    }
    zone->add_route(net_hosts_[r]->get_netpoint(), nullptr, nullptr, nullptr,
                    {sg4::LinkInRoute(nic_links[nic], LinkDir::UP)}, true);
  }
  up_link0_ = static_cast<int64_t>(links_.size());
  // Uplink = the leaf's downlink capacity / oversubscription, counting the nodes of its leaf
  // group that are simulated (src/topology does the same with the real ones). Under symmetry
  // with one leaf group, the block's share of the uplink is exactly its fair share.
  const double oversub = topology_.oversubscription >= 1.0 ? topology_.oversubscription : 1.0;
  const int64_t leaves_per_group = topology_.rail_optimized ? nics : 1;
  for (int64_t leaf = 0; leaf < leaves; ++leaf) {
    const int64_t group_first_node = (leaf / leaves_per_group) * nodes_per_leaf_;
    const int64_t group_nodes = std::min(nodes_per_leaf_, nodes_ - group_first_node);
    const double ports = static_cast<double>(group_nodes * (topology_.rail_optimized ? 1 : nics));
    const double up_bw = ports * nic_bw / oversub;
    auto* gateway = leaf_zones[leaf]->create_router("leaf" + std::to_string(leaf) + ".switch");
    leaf_zones[leaf]->seal();
    auto* up = root->create_split_duplex_link("up" + std::to_string(leaf), up_bw);
    up->set_latency(0)->seal();
    root->add_route(leaf_zones[leaf]->get_netpoint(), nullptr, gateway, nullptr,
                    {sg4::LinkInRoute(up, LinkDir::UP)}, true);
    links_.push_back({"up" + std::to_string(leaf) + "_UP", up_bw, 0});
    links_.push_back({"up" + std::to_string(leaf) + "_DOWN", up_bw, 0});
  }
  root->seal();
}

void Simulation::account_route(int64_t src, int64_t dst, double bytes, bool intra) {
  if (intra) {
    links_[nvl_link0_ + 2 * src].bytes += bytes;
    links_[nvl_link0_ + 2 * dst + 1].bytes += bytes;
    return;
  }
  links_[nic_link0_ + 2 * nic_of(src)].bytes += bytes;
  if (leaf_of(src) != leaf_of(dst)) {
    links_[up_link0_ + 2 * leaf_of(src)].bytes += bytes;
    links_[up_link0_ + 2 * leaf_of(dst) + 1].bytes += bytes;
  }
  links_[nic_link0_ + 2 * nic_of(dst) + 1].bytes += bytes;
}

void Simulation::build_program() {
  stream_tasks_.resize(graph_.segments.size());
  base_duration_.resize(graph_.segments.size());
  for (size_t s = 0; s < graph_.segments.size(); ++s) {
    const Segment& segment = graph_.segments[s];
    for (size_t t = 0; t < segment.tasks.size(); ++t) {
      const Task& task = segment.tasks[t];
      stream_tasks_[s][static_cast<int>(task.stream)].push_back(static_cast<int32_t>(t));
      base_duration_[s].push_back(
          task.kind == TaskKind::kCompute ? compute_time_s(task, topology_, graph_.precision) : 0);
    }
  }
  for (int64_t mb = 0; mb < graph_.micro_batches; ++mb) {
    const bool last = mb == graph_.micro_batches - 1;
    for (size_t s = 0; s < graph_.segments.size(); ++s) {
      const Segment& segment = graph_.segments[s];
      if (segment.when == When::kLastMicroBatch && !last) continue;
      if (segment.when == When::kAllButLastMicroBatch && last) continue;
      for (int64_t rep = 0; rep < segment.repeat; ++rep) {
        insts_.push_back({static_cast<int32_t>(s), static_cast<int32_t>(rep),
                          static_cast<int32_t>(mb)});
      }
    }
  }
}

void Simulation::normalize(StreamState& st, int stream) {
  const int64_t count = static_cast<int64_t>(insts_.size());
  while (st.inst < count &&
         st.k >= static_cast<int32_t>(stream_tasks_[insts_[st.inst].seg][stream].size())) {
    ++st.inst;
    st.k = 0;
  }
  st.finished = st.inst >= count;
}

const Recent* Simulation::find_recent(const StreamState& st, int64_t inst, int32_t task) const {
  for (const Recent& r : st.recent) {
    if (r.inst == inst && r.task == task) return &r;
  }
  return nullptr;
}

bool Simulation::dep_done(const GpuState& gpu, int64_t inst, int32_t dep) const {
  const StreamState& st = gpu.streams[static_cast<int>(task_at(inst, dep).stream)];
  return st.done_inst > inst || (st.done_inst == inst && st.done_task >= dep);
}

int32_t Simulation::record_node(double start, double end, int32_t pred, int64_t inst,
                                int32_t task) {
  if (!record_nodes_) return -1;
  if (nodes_rec_.size() >= kMaxRecordedNodes) {
    record_nodes_ = false;
    return -1;
  }
  nodes_rec_.push_back({start, end, pred, insts_[inst].seg, task});
  return static_cast<int32_t>(nodes_rec_.size() - 1);
}

void Simulation::try_advance(int64_t rank) {
  GpuState& gpu = gpus_[rank];
  for (int s = 0; s < kNumStreams; ++s) {
    StreamState& st = gpu.streams[s];
    if (st.busy || st.finished) continue;
    const int64_t inst = st.inst;
    const int32_t index = stream_tasks_[insts_[inst].seg][s][st.k];
    const Task& task = task_at(inst, index);
    bool ready = true;
    for (const int32_t dep : task.deps) {
      if (dep >= 0 && !dep_done(gpu, inst, dep)) {
        ready = false;
        break;
      }
    }
    if (ready) {
      const auto [earlier, dep] = earlier_dep(inst, task);
      if (earlier >= 0 && !dep_done(gpu, earlier, dep)) ready = false;
    }
    // A barrier segment starts on a stream only when no stream has work left from an earlier
    // instance (as the analytic engine drains every stream).
    if (ready && st.k == 0 && graph_.segments[insts_[inst].seg].barrier) {
      for (int o = 0; o < kNumStreams; ++o) {
        if (o != s && !gpu.streams[o].finished && gpu.streams[o].inst < inst) {
          ready = false;
          break;
        }
      }
    }
    if (ready) start_task(rank, s);
  }
}

void Simulation::start_task(int64_t rank, int stream) {
  GpuState& gpu = gpus_[rank];
  StreamState& st = gpu.streams[stream];
  const int64_t inst = st.inst;
  const int32_t index = stream_tasks_[insts_[inst].seg][stream][st.k];
  const Task& task = task_at(inst, index);
  const double now = sg4::Engine::get_clock();
  // What let this task start: the latest-finishing of its stream predecessor and its deps.
  const Recent* pred = nullptr;
  const Recent& previous = st.recent[(st.recent_head + kRecent - 1) % kRecent];
  if (previous.inst >= 0) pred = &previous;
  for (const int32_t dep : task.deps) {
    if (dep < 0) continue;
    const Recent* r = find_recent(gpu.streams[static_cast<int>(task_at(inst, dep).stream)], inst, dep);
    if (r != nullptr && (pred == nullptr || r->finish > pred->finish)) pred = r;
  }
  if (const auto [earlier, dep] = earlier_dep(inst, task); earlier >= 0) {
    const Recent* r = find_recent(gpu.streams[static_cast<int>(task_at(earlier, dep).stream)], earlier, dep);
    if (r != nullptr && (pred == nullptr || r->finish > pred->finish)) pred = r;
  }
  if (st.k == 0 && graph_.segments[insts_[inst].seg].barrier) {
    // Past a barrier, whatever finished last on any stream is what this task waited for.
    for (int o = 0; o < kNumStreams; ++o) {
      const StreamState& other = gpu.streams[o];
      const Recent& r = other.recent[(other.recent_head + kRecent - 1) % kRecent];
      if (r.inst >= 0 && r.inst < inst && (pred == nullptr || r.finish > pred->finish)) pred = &r;
    }
  }
  st.busy = true;
  st.start = now;
  st.pred_node = pred != nullptr ? pred->node : -1;
  if (task.kind == TaskKind::kCompute) {
    // Idle compute stream before this task: exposed time of whatever it waited for.
    const double idle = now - gpu.compute_free_at;
    if (idle > 0 && pred != nullptr) {
      gpu.exposed[static_cast<int>(pred->category)] += idle;
    }
    double duration = base_duration_[insts_[inst].seg][index];
    if (!task.work_scale.empty()) {
      const CommGroup& group = graph_.groups[task.group];
      const double scale = task.work_scale[group_position(group, rank)];
      Task scaled;
      scaled.op_class = task.op_class;
      scaled.kernels = task.kernels;
      scaled.flops = task.flops * scale;
      scaled.hbm_bytes = task.hbm_bytes * scale;
      duration = compute_time_s(scaled, topology_, graph_.precision);
    }
    gpu.compute_lower_bound += duration;
    gpu.work_left = duration;
    gpu.work_at = now;
    gpu.compute_inst = inst;
    gpu.compute_index = index;
    gpu.compute_start = now;
    gpu.compute_pred = st.pred_node;
    schedule_compute_end(rank);
    return;
  }
  arrive(rank, stream, inst, index, st.pred_node);
}

// (Re)arms the timer that ends the running compute task of `rank` at the current rate. The compute
// stream is stream 0 (task_graph.h): only it runs compute tasks.
void Simulation::schedule_compute_end(int64_t rank) {
  GpuState& gpu = gpus_[rank];
  const double now = sg4::Engine::get_clock();
  gpu.compute_timer = simgrid::kernel::timer::Timer::set(now + gpu.work_left / compute_rate(gpu), [this, rank]() {
    graveyard_.clear();  // safe here: no activity callback is on the stack
    GpuState& g = gpus_[rank];
    g.compute_timer = nullptr;
    const double end = sg4::Engine::get_clock();
    const int32_t node = record_node(g.compute_start, end, g.compute_pred, g.compute_inst, g.compute_index);
    finish_task(rank, static_cast<int>(Stream::kCompute), node, g.compute_start, end, -1, -1);
  });
}

// A collective of `rank` starts (+1) or ends (-1): the running compute task keeps the work it has
// done at the old rate and finishes the rest at the new one.
void Simulation::change_comm_running(int64_t rank, int delta) {
  GpuState& gpu = gpus_[rank];
  const double before = compute_rate(gpu);
  gpu.comm_running += delta;
  if (comm_slowdown_ <= 0 || gpu.compute_timer == nullptr || compute_rate(gpu) == before) return;
  const double now = sg4::Engine::get_clock();
  gpu.work_left = std::max(0.0, gpu.work_left - (now - gpu.work_at) * before);
  gpu.work_at = now;
  gpu.compute_timer->remove();
  gpu.compute_timer = nullptr;
  schedule_compute_end(rank);
}

void Simulation::arrive(int64_t rank, int /*stream*/, int64_t inst, int32_t task_index,
                        int32_t pred) {
  const Task& task = task_at(inst, task_index);
  const CommGroup& group = graph_.groups[task.group];
  const int64_t base = group_base(group, rank);
  Pending& pending = pending_[{task.group, base, inst, task_index}];
  ++pending.arrived;
  pending.pred_node = pred;  // the last arrival decides when the collective starts
  if (pending.arrived < members_in_block(task.group)) return;
  const int32_t last_pred = pending.pred_node;
  pending_.erase({task.group, base, inst, task_index});
  launch(base, inst, task_index, last_pred);
}

void Simulation::launch(int64_t base, int64_t inst, int32_t task_index, int32_t pred) {
  const Task& task = task_at(inst, task_index);
  const CommGroup& group = graph_.groups[task.group];
  size_t id;
  if (!free_actives_.empty()) {
    id = free_actives_.back();
    free_actives_.pop_back();
  } else {
    id = actives_.size();
    actives_.emplace_back();
  }
  Active& active = actives_[id];
  active = Active{};
  active.seg = insts_[inst].seg;
  active.task = task_index;
  active.inst = inst;
  active.launch = sg4::Engine::get_clock();
  active.pred_node = pred;
  active.live = true;
  // Members in ring order; a rotated global group is closed into a ring inside the block (its
  // closing edge stands for the edge into the next copy, which crosses the same kind of links).
  const int64_t count = members_in_block(task.group);
  for (int64_t j = 0; j < count; ++j) active.members.push_back(base + j * group.stride);
  for (const int64_t member : active.members) change_comm_running(member, +1);
  const int64_t n = group.size;  // the real group: latency steps, bytes per rank
  const Placement placement = place_members(active.members, gpn_);
  const double bytes = task.bytes;
  auto add = [&](int64_t src, int64_t dst, double payload) {
    if (payload > 0) active.pairs.emplace_back(src, dst, payload, node_of(src) == node_of(dst));
  };
  if (n > 1 && bytes > 0) {
    switch (task.comm) {
      case CommKind::kAllToAll:
        // Pairwise exchange: bytes/(n-1) to every peer, over NVLink on the node, the NIC off it.
        for (const int64_t src : active.members) {
          for (const int64_t dst : active.members) {
            if (src != dst) add(src, dst, bytes / static_cast<double>(n - 1));
          }
        }
        break;
      case CommKind::kSendRecv:
        for (int64_t j = 0; j < count; ++j) add(active.members[j], active.members[(j + 1) % count], bytes);
        break;
      case CommKind::kAllGather:
      case CommKind::kReduceScatter:
      case CommKind::kAllReduce:
        if (placement.nodes == 1) {
          // Ring: every edge carries the per-GPU bytes.
          for (int64_t j = 0; j < count; ++j) add(active.members[j], active.members[(j + 1) % count], bytes);
        } else {
          // NCCL rings across nodes, one channel per member on a node (k = ranks_per_node):
          // channel c leaves node i from its c-th member on that GPU's rail to the c-th member of
          // the next node (bytes/k), and circulates through the node's k members over NVLink
          // (bytes/k per edge per channel, so each member's port carries `bytes` in all).
          const auto& by_node = placement.by_node;
          const int64_t nodes = placement.nodes;
          for (int64_t i = 0; i < nodes; ++i) {
            const auto& here = by_node[i];
            const auto& next = by_node[(i + 1) % nodes];
            const int64_t k = static_cast<int64_t>(here.size());
            for (int64_t c = 0; c < k; ++c) {
              add(here[c], next[c % next.size()], bytes / static_cast<double>(k));
              // Summed over the k channels, each NVLink edge of the node's cycle carries `bytes`.
              if (k > 1) add(here[c], here[(c + 1) % k], bytes);
            }
          }
        }
        break;
    }
  }
  const bool inter = placement.nodes > 1;
  const double alpha_step = inter ? topology_.nic_latency_s + 2 * topology_.switch_latency_s
                                  : topology_.intra_node_latency_s;
  const double alpha = static_cast<double>(latency_steps(task.comm, n)) * alpha_step *
                       static_cast<double>(std::max<int>(1, task.calls));
  const double now = sg4::Engine::get_clock();
  if (active.pairs.empty()) {
    simgrid::kernel::timer::Timer::set(now + alpha, [this, id]() {
      graveyard_.clear();
      complete_collective(id);
    });
  } else if (alpha > 0) {
    simgrid::kernel::timer::Timer::set(now + alpha, [this, id]() {
      graveyard_.clear();
      start_ptask(id);
    });
  } else {
    start_ptask(id);
  }
}

void Simulation::start_ptask(size_t id) {
  Active& active = actives_[id];
  const Task& task = graph_.segments[active.seg].tasks[active.task];
  // Efficiencies scale the bytes each flow puts on the wire (busbw = line rate x efficiency),
  // which is the same as scaling the bandwidth of the links of that scope for this collective.
  const double eff_intra = eff_[static_cast<int>(task.comm)][0];
  const double eff_inter = eff_[static_cast<int>(task.comm)][1];
  // Host slots: 2 x rank (+1 for the network host), looked up in a flat table reset afterwards.
  std::vector<sg4::Host*> hosts;
  std::vector<int64_t> used;
  if (host_slot_.size() != static_cast<size_t>(2 * n_)) host_slot_.assign(2 * n_, -1);
  auto host_index = [&](int64_t rank, bool intra) {
    const int64_t key = 2 * rank + (intra ? 0 : 1);
    if (host_slot_[key] < 0) {
      host_slot_[key] = static_cast<int64_t>(hosts.size());
      hosts.push_back(intra ? nvl_hosts_[rank] : net_hosts_[rank]);
      used.push_back(key);
    }
    return static_cast<size_t>(host_slot_[key]);
  };
  for (const auto& [src, dst, payload, intra] : active.pairs) {
    host_index(src, intra);
    host_index(dst, intra);
  }
  const size_t h = hosts.size();
  std::vector<double> matrix(h * h, 0.0);
  for (const auto& [src, dst, payload, intra] : active.pairs) {
    const size_t a = host_index(src, intra);
    const size_t b = host_index(dst, intra);
    matrix[a * h + b] += payload / (intra ? eff_intra : eff_inter);
    account_route(src, dst, payload, intra);
    bytes_sent_ += payload;
    bytes_received_ += payload;
  }
  for (const int64_t key : used) host_slot_[key] = -1;
  auto exec = sg4::Exec::init();
  exec->set_name(task.name);
  exec->set_hosts(hosts);
  exec->set_flops_amounts(std::vector<double>(h, 0.0));
  exec->set_bytes_amounts(matrix);
  exec->set_data(reinterpret_cast<void*>(static_cast<intptr_t>(id)));
  active.exec = exec;
  exec->start();
}

void Simulation::complete_collective(size_t id) {
  Active& active = actives_[id];
  const double end = sg4::Engine::get_clock();
  const double start = active.launch;
  const int32_t node = record_node(start, end, active.pred_node, active.inst, active.task);
  const Task& task = graph_.segments[active.seg].tasks[active.task];
  const int stream = static_cast<int>(task.stream);
  if (active.exec) graveyard_.push_back(std::move(active.exec));
  active.live = false;
  const std::vector<int64_t> members = std::move(active.members);
  free_actives_.push_back(id);  // `active` may be reused (and moved) from here on
  // Flow arrows for point-to-point steps between traced ranks: j sends to j+1.
  int64_t flow_base = -1;
  if (task.comm == CommKind::kSendRecv && !options_.trace_path.empty()) {
    flow_base = next_flow_;
    next_flow_ += static_cast<int64_t>(members.size());
  }
  for (const int64_t member : members) change_comm_running(member, -1);
  const int64_t n = static_cast<int64_t>(members.size());
  for (int64_t j = 0; j < n; ++j) {
    const int64_t rank = members[j];
    int64_t flow_out = -1, flow_in = -1;
    if (flow_base >= 0 && traced_[rank]) {
      if (traced_[members[(j + 1) % n]]) flow_out = flow_base + j;
      if (traced_[members[(j + n - 1) % n]]) flow_in = flow_base + (j + n - 1) % n;
    }
    finish_task(rank, stream, node, start, end, flow_out, flow_in);
  }
}

void Simulation::finish_task(int64_t rank, int stream, int32_t node, double start, double end,
                             int64_t flow_out, int64_t flow_in) {
  GpuState& gpu = gpus_[rank];
  StreamState& st = gpu.streams[stream];
  const int64_t inst = st.inst;
  const int32_t index = stream_tasks_[insts_[inst].seg][stream][st.k];
  const Task& task = task_at(inst, index);
  ++events_;
  st.busy_s += end - start;
  if (task.kind == TaskKind::kCompute) {
    gpu.compute_free_at = end;
  } else {
    gpu.comm[static_cast<int>(task.category)] += end - start;
  }
  st.last_finish = end;
  st.last_category = task.category;
  st.done_inst = inst;
  st.done_task = index;
  st.recent[st.recent_head] = {inst, index, node, end, task.category};
  st.recent_head = (st.recent_head + 1) % kRecent;
  if (end >= gpu.finish) {
    gpu.finish = end;
    gpu.last_node = node;
  }
  if (traced_[rank]) {
    TraceEvent event;
    event.gpu = rank;
    event.track = stream;
    // Forward and backward run kernels of the same name (qkv_proj, ring_send_recv): the backward
    // ones say so, so that a trace viewer's search and aggregation tell them apart.
    event.name = task.phase == Phase::kBackward ? std::string(task.name) + " (bwd)" : std::string(task.name);
    event.category = to_string(task.category);
    event.start_s = start;
    event.dur_s = end - start;
    const Inst& where = insts_[inst];
    event.args = {{"segment", graph_.segments[where.seg].name},
                  {"layer", where.rep},
                  {"micro_batch", where.mb}};
    if (task.kind == TaskKind::kCompute) {
      event.args["flops"] = task.flops;
      event.args["hbm_bytes"] = task.hbm_bytes;
    } else {
      event.args["bytes"] = task.bytes;
      event.args["group"] = graph_.groups[task.group].name;
      event.args["kind"] = to_string(task.comm);
      event.flow_out = flow_out;
      event.flow_in = flow_in;
    }
    timeline_.events.push_back(std::move(event));
  }
  if (traced_[rank] && stream == 0 &&
      st.k + 1 == static_cast<int32_t>(stream_tasks_[insts_[inst].seg][0].size())) {
    memory_sample(rank, inst, end);
  }
  ++st.k;
  normalize(st, stream);
  st.busy = false;
  try_advance(rank);
}

nlohmann::json Simulation::critical_path_json(int64_t rank) const {
  nlohmann::json out = nlohmann::json::object();
  if (!record_nodes_) {
    out["omitted"] = "more than " + std::to_string(kMaxRecordedNodes) + " ops; not recorded";
    return out;
  }
  // Walk back from the op that ended the step on the slowest GPU through what let each op start.
  std::map<std::tuple<std::string, std::string, std::string>, std::pair<int64_t, double>> ops;
  double total = 0;
  int64_t length = 0;
  for (int32_t node = gpus_[rank].last_node; node >= 0; node = nodes_rec_[node].pred) {
    const Node& rec = nodes_rec_[node];
    const Segment& segment = graph_.segments[rec.seg];
    const Task& task = segment.tasks[rec.task];
    auto& entry = ops[{segment.name, task.name, to_string(task.category)}];
    entry.first += 1;
    entry.second += rec.end - rec.start;
    total += rec.end - rec.start;
    ++length;
  }
  std::vector<std::pair<std::tuple<std::string, std::string, std::string>, std::pair<int64_t, double>>>
      sorted(ops.begin(), ops.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second.second > b.second.second; });
  nlohmann::json list = nlohmann::json::array();
  for (const auto& [key, value] : sorted) {
    list.push_back({{"segment", std::get<0>(key)}, {"op", std::get<1>(key)},
                    {"category", std::get<2>(key)}, {"count", value.first},
                    {"time_s", value.second}});
  }
  out["ops"] = list;
  out["length"] = length;
  out["busy_s"] = total;  // step time minus the gaps (latency waits are inside collectives)
  return out;
}

SimOutput Simulation::run() {
  n_ = symmetry_.simulated;
  comm_slowdown_ = topology_.efficiency.kernels.comm_slowdown;
  gpn_ = topology_.gpus_per_node;
  nodes_ = (n_ + gpn_ - 1) / gpn_;
  nodes_per_leaf_ = topology_.nodes_per_leaf > 0 ? topology_.nodes_per_leaf : nodes_;
  ports_ = std::max<int64_t>(1, std::min<int64_t>(topology_.nics_per_node, gpn_));
  port_bw_ = topology_.nic_bandwidth > 0 && topology_.nics_per_node > 0
                 ? topology_.nic_bandwidth * static_cast<double>(topology_.nics_per_node) /
                       static_cast<double>(ports_)
                 : 1.0;
  for (int kind = 0; kind < 5; ++kind) {
    for (int scope = 0; scope < 2; ++scope) {
      try {
        eff_[kind][scope] = collective_efficiency(topology_, scope == 0 ? "intra_node" : "inter_node",
                                                  static_cast<CommKind>(kind));
      } catch (const InputError&) {
        eff_[kind][scope] = std::nan("");  // validate() rejected every use of a missing one
      }
    }
  }
  build_platform();
  build_program();
  gpus_.resize(n_);
  traced_.assign(n_, false);
  if (!options_.trace_path.empty()) {
    // Representatives: the first ranks (rank 0's node), plus rank 0's P2P ring partners so that
    // the ring's flow arrows have both ends in the trace.
    const int64_t traced = options_.trace_all_gpus ? n_ : std::min(n_, kDefaultTracedGpus);
    for (int64_t r = 0; r < traced; ++r) traced_[r] = true;
    if (!options_.trace_all_gpus) {
      for (const Segment& segment : graph_.segments) {
        for (const Task& task : segment.tasks) {
          if (task.kind != TaskKind::kCollective || task.comm != CommKind::kSendRecv) continue;
          const int64_t count = std::min<int64_t>(members_in_block(task.group), kDefaultTracedGpus);
          for (int64_t j = 0; j < count; ++j) traced_[j * graph_.groups[task.group].stride] = true;
        }
      }
    }
    for (int64_t r = 0; r < n_; ++r) {
      if (traced_[r]) timeline_.gpus.push_back(r);
    }
  }
  for (GpuState& gpu : gpus_) {
    for (int s = 0; s < kNumStreams; ++s) normalize(gpu.streams[s], s);
  }
  // One forward layer's share of the saved activations: the peak over the forward layers of one
  // micro-batch (repeated forward segments that run in micro-batch 0).
  int64_t forward_layers = 0;
  for (const Segment& segment : graph_.segments) {
    if (segment.repeat > 1 && !segment.tasks.empty() && segment.tasks.front().phase == Phase::kForward &&
        segment.when != When::kLastMicroBatch) {
      forward_layers += segment.repeat;
    }
  }
  if (forward_layers > 0) {
    activation_per_layer_ = options_.trace_activation_bytes / static_cast<double>(forward_layers);
    // Gradients made in the backward come with a step of one micro-batch: as many backward
    // layers as forward ones.
    grads_per_layer_ = options_.trace_backward_grad_bytes / static_cast<double>(forward_layers);
  }
  activations_.assign(n_, 0.0);
  grads_.assign(n_, 0.0);
  if (!options_.trace_path.empty() &&
      (options_.trace_resident_bytes > 0 || options_.trace_activation_bytes > 0)) {
    for (const int64_t rank : timeline_.gpus) {
      timeline_.counters.push_back(
          {rank, "HBM (GiB)", 0.0,
           {{"activations", 0.0},
            {"grads", 0.0},
            {"resident", options_.trace_resident_bytes / (1024.0 * 1024.0 * 1024.0)}}});
    }
  }
  sg4::Activity::on_completion_cb([this](const sg4::Activity& activity) {
    complete_collective(static_cast<size_t>(reinterpret_cast<intptr_t>(activity.get_data<void>())));
  });
  for (int64_t r = 0; r < n_; ++r) try_advance(r);
  sg4::Engine::get_instance()->run();

  // Every stream of every GPU must have run its whole program.
  for (int64_t r = 0; r < n_; ++r) {
    for (const StreamState& st : gpus_[r].streams) {
      if (!st.finished || st.busy) {
        throw Error("des: rank " + std::to_string(r) + " stopped before the end of the step "
                    "(a collective whose members never all arrived)");
      }
    }
  }
  int64_t slowest = 0;
  double step = 0;
  for (int64_t r = 0; r < n_; ++r) {
    GpuState& gpu = gpus_[r];
    // Compute-stream idle after its last task: exposed time of the comm that ended last.
    double last = gpu.compute_free_at;
    Category category = Category::kCompute;
    for (int s = 1; s < kNumStreams; ++s) {
      if (gpu.streams[s].last_finish > last) {
        last = gpu.streams[s].last_finish;
        category = gpu.streams[s].last_category;
      }
    }
    if (last > gpu.compute_free_at) {
      gpu.exposed[static_cast<int>(category)] += last - gpu.compute_free_at;
    }
    if (gpu.finish > step) {
      step = gpu.finish;
      slowest = r;
    }
    // Invariant: no GPU finishes before its compute lower bound (its compute tasks back to back).
    if (gpu.finish < gpu.compute_lower_bound * (1 - 1e-12)) {
      throw Error("des: rank " + std::to_string(r) + " finished before its compute lower bound");
    }
  }
  // Invariant: bytes sent == bytes received, counted on the GPU-side ports (every flow leaves
  // through exactly one egress port and enters through one ingress port).
  double sent = 0, received = 0;
  for (int64_t l = nvl_link0_; l < up_link0_; l += 2) {
    sent += links_[l].bytes;
    received += links_[l + 1].bytes;
  }
  if (std::abs(sent - received) > 1e-9 * std::max(1.0, sent)) {
    throw Error("des: bytes sent != bytes received");
  }

  const GpuState& worst = gpus_[slowest];
  StepResult result;
  result.engine = "des";
  result.step_time_s = step;
  result.compute_s = worst.streams[0].busy_s;
  result.comm_s = worst.comm;
  result.exposed_s = worst.exposed;
  nlohmann::json& extra = result.extra;
  extra["slowest_rank"] = slowest;
  extra["simulated_gpus"] = n_;
  extra["symmetry"] = symmetry_.note;
  extra["events"] = events_;
  extra["bytes_sent"] = sent;
  extra["bytes_received"] = received;
  extra["compute_lower_bound_s"] = worst.compute_lower_bound;
  nlohmann::json exposed = nlohmann::json::object();
  for (int c = 1; c < kNumCategories; ++c) {
    if (worst.exposed[c] > 0) exposed[to_string(static_cast<Category>(c))] = worst.exposed[c];
  }
  extra["exposed_comm_s"] = exposed;
  // Per-GPU compute busy/idle: summary always, the list on small runs.
  double busy_min = 0, busy_max = 0, busy_sum = 0;
  nlohmann::json per_gpu = nlohmann::json::array();
  for (int64_t r = 0; r < n_; ++r) {
    const double busy = gpus_[r].streams[0].busy_s;
    busy_min = r == 0 ? busy : std::min(busy_min, busy);
    busy_max = r == 0 ? busy : std::max(busy_max, busy);
    busy_sum += busy;
    if (n_ <= kMaxPerGpuListed) {
      nlohmann::json streams = nlohmann::json::object();
      for (int s = 0; s < kNumStreams; ++s) {
        streams[to_string(static_cast<Stream>(s))] = gpus_[r].streams[s].busy_s;
      }
      per_gpu.push_back({{"rank", r}, {"compute_busy_s", busy}, {"compute_idle_s", step - busy},
                         {"finish_s", gpus_[r].finish}, {"stream_busy_s", streams}});
    }
  }
  extra["compute_busy_s"] = {{"min", busy_min}, {"max", busy_max},
                             {"mean", busy_sum / static_cast<double>(n_)}};
  if (n_ <= kMaxPerGpuListed) extra["per_gpu"] = per_gpu;
  // Most loaded links.
  std::vector<size_t> order(links_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return links_[a].bytes / links_[a].bandwidth >
                                                    links_[b].bytes / links_[b].bandwidth; });
  nlohmann::json top = nlohmann::json::array();
  for (size_t i = 0; i < order.size() && static_cast<int>(top.size()) < kTopLinks; ++i) {
    const LinkInfo& link = links_[order[i]];
    if (link.bytes <= 0) break;
    top.push_back({{"link", link.name}, {"bandwidth_GBps", link.bandwidth / 1e9},
                   {"bytes", link.bytes},
                   {"utilization", step > 0 ? link.bytes / (link.bandwidth * step) : 0.0}});
  }
  extra["top_links"] = top;
  extra["platform"] = {{"nodes", nodes_}, {"links", links_.size() / 2},
                       {"model", "ptask_L07, TCP-gamma 0"}};
  extra["critical_path"] = critical_path_json(slowest);

  SimOutput output;
  output.result = std::move(result);
  if (!options_.trace_path.empty()) {
    for (int s = 0; s < kNumStreams; ++s) {
      timeline_.track_names.push_back(to_string(static_cast<Stream>(s)));
    }
    timeline_.metadata = {{"tool", "spsim"},
                          {"engine", "des"},
                          {"strategy", graph_.strategy},
                          {"num_gpus", graph_.num_gpus},
                          {"step_time_s", step},
                          {"traced_gpus", timeline_.gpus.size()},
                          {"simulated_gpus", n_},
                          {"symmetry", symmetry_.note}};
    output.trace = write_chrome_trace(timeline_);
  }
  return output;
}

}  // namespace

SimOutput simulate(const TaskGraph& graph, const Topology& topology, const EngineOptions& options,
                   const Symmetry& symmetry) {
  // One engine per process (SimGrid 3.32 keeps global state); the caller forks for us.
  int argc = 1;
  char name[] = "spsim";
  char* argv[] = {name, nullptr};
  sg4::Engine engine(&argc, argv);
  xbt_log_control_set("root.thres:critical");
  // Exact alpha-beta: parallel-task model (equal sharing, no RTT bias), no TCP window bound.
  engine.set_config("host/model:ptask_L07");
  engine.set_config("network/TCP-gamma:0");
  Simulation simulation(graph, topology, options, symmetry);  // destroyed before the engine
  return simulation.run();
}

}  // namespace spsim::des
