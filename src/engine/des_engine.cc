// The discrete-event engine's front: input checks, one forked process per simulation (SimGrid
// allows one engine per process and keeps global state), result transport over a pipe, and the
// atomic trace write.
#include "engine/des_engine.h"

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "common/atomic_write.h"
#include "common/process.h"
#include "engine/des_internal.h"
#include "spsim/error.h"
#include "spsim/limits.h"

namespace spsim {

namespace des {

int64_t group_base(const CommGroup& group, int64_t rank) {
  return rank - ((rank / group.stride) % group.size) * group.stride;
}

int64_t group_position(const CommGroup& group, int64_t rank) {
  return (rank / group.stride) % group.size;
}

Placement place_members(const std::vector<int64_t>& members, int64_t gpus_per_node) {
  Placement placement;
  placement.size = static_cast<int64_t>(members.size());
  std::map<int64_t, size_t> slot;  // node -> index in by_node (ring order of first appearance)
  for (const int64_t rank : members) {
    const int64_t node = rank / gpus_per_node;
    auto [it, inserted] = slot.emplace(node, placement.by_node.size());
    if (inserted) placement.by_node.emplace_back();
    placement.by_node[it->second].push_back(rank);
  }
  placement.nodes = static_cast<int64_t>(placement.by_node.size());
  placement.ranks_per_node = 0;
  for (const auto& on_node : placement.by_node) {
    placement.ranks_per_node = std::max<int64_t>(placement.ranks_per_node,
                                                 static_cast<int64_t>(on_node.size()));
  }
  return placement;
}

int64_t latency_steps(CommKind kind, int64_t n) {
  if (n <= 1) return 0;
  switch (kind) {
    case CommKind::kAllGather:
    case CommKind::kReduceScatter: return n - 1;
    case CommKind::kAllReduce: return 2 * (n - 1);
    case CommKind::kAllToAll:
    case CommKind::kSendRecv: return 1;
  }
  return 1;
}

double collective_efficiency(const Topology& topology, const std::string& scope, CommKind kind) {
  const auto scope_it = topology.efficiency.collective.find(scope);
  const std::string where = (topology.path.empty() ? topology.name : topology.path) +
                            ":/efficiency/collective/" + scope + "/" + to_string(kind);
  if (scope_it == topology.efficiency.collective.end()) {
    throw InputError(where, "missing collective efficiency (got no \"" + scope +
                                "\" entry); add the measured busbw / line-rate fraction");
  }
  const auto kind_it = scope_it->second.find(to_string(kind));
  if (kind_it == scope_it->second.end()) {
    throw InputError(where, "missing collective efficiency; add the measured busbw / line-rate "
                            "fraction for this kind");
  }
  if (!(kind_it->second > 0 && kind_it->second <= 1)) {
    throw InputError(where, "efficiency must be in (0, 1] (got " +
                                std::to_string(kind_it->second) + "); fix the topology file");
  }
  return kind_it->second;
}

void validate(const TaskGraph& graph, const Topology& topology) {
  const std::string topo = topology.path.empty() ? topology.name : topology.path;
  if (graph.num_gpus <= 0) {
    throw InputError("config", "num_gpus must be positive (got " +
                                   std::to_string(graph.num_gpus) + "); set --num-gpus");
  }
  if (topology.gpus_per_node <= 0) {
    throw InputError(topo + ":/gpus_per_node", "must be positive (got " +
                                                   std::to_string(topology.gpus_per_node) +
                                                   "); fix the topology file");
  }
  const int64_t nodes = (graph.num_gpus + topology.gpus_per_node - 1) / topology.gpus_per_node;
  if (topology.max_nodes > 0 && nodes > topology.max_nodes) {
    throw InputError(topo + ":/max_nodes",
                     "the topology cannot host the job: " + std::to_string(graph.num_gpus) +
                         " GPUs need " + std::to_string(nodes) + " nodes of " +
                         std::to_string(topology.gpus_per_node) + " GPUs (got max_nodes " +
                         std::to_string(topology.max_nodes) +
                         "); use fewer GPUs or a larger topology");
  }
  if (topology.gpus_per_node > 1 && !(topology.intra_node_bandwidth > 0)) {
    throw InputError(topo + ":/intra_node_bandwidth", "must be positive for nodes of several GPUs; "
                                                      "fix the topology file");
  }
  if (nodes > 1 && (topology.nics_per_node <= 0 || !(topology.nic_bandwidth > 0))) {
    throw InputError(topo + ":/network", "a job of " + std::to_string(nodes) +
                                             " nodes needs nics_per_node > 0 and a positive "
                                             "nic_bandwidth; fix the topology file");
  }
  if (nodes > 1 && !(topology.oversubscription >= 1.0)) {
    throw InputError(topo + ":/network/oversubscription",
                     "must be >= 1 (got " + std::to_string(topology.oversubscription) +
                         "); 2.0 means 2:1");
  }
  for (size_t g = 0; g < graph.groups.size(); ++g) {
    const CommGroup& group = graph.groups[g];
    if (group.size <= 0 || group.stride <= 0 || graph.num_gpus % (group.size * group.stride) != 0) {
      throw InputError("strategy", std::string("the des engine cannot lower group \"") + group.name +
                                       "\" (size " + std::to_string(group.size) + ", stride " +
                                       std::to_string(group.stride) +
                                       "): size x stride must divide num_gpus " +
                                       std::to_string(graph.num_gpus) + "; use the analytic engine");
    }
  }
  if (graph.micro_batches <= 0) {
    throw InputError("config", "micro_batches must be positive (got " +
                                   std::to_string(graph.micro_batches) + ")");
  }
  std::vector<std::optional<Placement>> placements(graph.groups.size());
  for (size_t k = 0; k < graph.segments.size(); ++k) {
    const Segment& segment = graph.segments[k];
    if (segment.repeat < 0) {
      throw InputError("strategy", std::string("segment \"") + segment.name +
                                       "\" has a negative repeat; the des engine cannot lower it");
    }
    for (size_t i = 0; i < segment.tasks.size(); ++i) {
      const Task& task = segment.tasks[i];
      for (const int32_t dep : task.deps) {
        if (dep >= static_cast<int>(i)) {
          throw InputError("strategy", std::string("task \"") + task.name + "\" of segment \"" +
                                           segment.name + "\" depends on a later task (" +
                                           std::to_string(dep) + "); the des engine cannot lower "
                                           "it");
        }
      }
      if (task.prev_instance_dep >= static_cast<int>(segment.tasks.size())) {
        throw InputError("strategy", std::string("task \"") + task.name + "\" of segment \"" + segment.name +
                                         "\" waits for task " + std::to_string(task.prev_instance_dep) +
                                         " of the previous instance, which the segment does not have; the "
                                         "des engine cannot lower it");
      }
      if (task.continued_dep >= 0 && segment.continues && k > 0 &&
          task.continued_dep >= static_cast<int>(graph.segments[k - 1].tasks.size())) {
        throw InputError("strategy", std::string("task \"") + task.name + "\" of segment \"" + segment.name +
                                         "\" waits for a task the segment before it does not have; the des "
                                         "engine cannot lower it");
      }
      if (static_cast<int>(task.stream) >= kNumStreams) {
        throw InputError("strategy", std::string("task \"") + task.name + "\" has an unknown stream");
      }
      if (task.kind == TaskKind::kCompute) {
        if (!task.work_scale.empty() &&
            (task.group < 0 || task.group >= static_cast<int>(graph.groups.size()) ||
             static_cast<int64_t>(task.work_scale.size()) != graph.groups[task.group].size)) {
          throw InputError("strategy", std::string("task \"") + task.name +
                                           "\": work_scale needs one entry per rank of its group");
        }
        continue;
      }
      if (task.group < 0 || task.group >= static_cast<int>(graph.groups.size())) {
        throw InputError("strategy", std::string("collective \"") + task.name +
                                         "\" has no valid group; the des engine cannot lower it");
      }
      if (!(task.bytes >= 0) || !std::isfinite(task.bytes)) {
        throw InputError("strategy", std::string("collective \"") + task.name +
                                         "\" has invalid bytes");
      }
      const CommGroup& group = graph.groups[task.group];
      if (group.size <= 1 || task.bytes == 0) continue;
      // The scopes the first instance of this group crosses (all instances are alike), placed once
      // per group: a ring of 4,096 has thousands of step tasks over one 4,096-rank group, and
      // placing it per task took seconds before the DES work limit could refuse the run.
      std::optional<Placement>& placed = placements[task.group];
      if (!placed) {
        std::vector<int64_t> members;
        for (int64_t j = 0; j < group.size; ++j) members.push_back(j * group.stride);
        placed = place_members(members, topology.gpus_per_node);
      }
      const Placement& placement = *placed;
      if (placement.nodes == 1 || placement.ranks_per_node > 1) {
        collective_efficiency(topology, "intra_node", task.comm);
      }
      if (placement.nodes > 1) collective_efficiency(topology, "inter_node", task.comm);
    }
  }
}

namespace {

int64_t lcm64(int64_t a, int64_t b) { return a / std::gcd(a, b) * b; }

}  // namespace

Symmetry choose_symmetry(const TaskGraph& graph, const Topology& topology, bool simulate_all) {
  const int64_t n = graph.num_gpus;
  const int64_t gpn = topology.gpus_per_node;
  Symmetry sym;
  sym.simulated = n;
  sym.rotated.assign(graph.groups.size(), false);
  if (simulate_all) {
    sym.note = "none (--simulate-all-gpus)";
    return sym;
  }
  if (n <= gpn || n % gpn != 0) {
    sym.note = "none (one node)";
    return sym;
  }
  const int64_t nodes = n / gpn;
  const int64_t per_leaf = topology.nodes_per_leaf > 0 ? topology.nodes_per_leaf : nodes;
  const bool multi_leaf = nodes > per_leaf;
  if (multi_leaf && nodes % per_leaf != 0) {
    sym.note = "none (the last leaf group is partial, so leaf groups differ)";
    return sym;
  }
  // How each group is used: all-to-all and per-position work are not invariant under rotation.
  std::vector<bool> used(graph.groups.size(), false), rotation_breaks(graph.groups.size(), false);
  for (const Segment& segment : graph.segments) {
    for (const Task& task : segment.tasks) {
      if (task.group < 0 || task.group >= static_cast<int>(graph.groups.size())) continue;
      if (task.kind == TaskKind::kCompute) {
        if (!task.work_scale.empty()) used[task.group] = rotation_breaks[task.group] = true;
        continue;
      }
      if (graph.groups[task.group].size <= 1 || task.bytes <= 0) continue;
      used[task.group] = true;
      if (task.comm == CommKind::kAllToAll) rotation_breaks[task.group] = true;
    }
  }
  int64_t step = gpn;     // the shift must move whole nodes
  int64_t minimum = 0;    // and the block must be at least this large
  bool any_rotated = false;
  std::vector<bool> rotatable(graph.groups.size(), false);
  for (size_t g = 0; g < graph.groups.size(); ++g) {
    if (!used[g]) continue;
    const CommGroup& group = graph.groups[g];
    const int64_t span = group.size * group.stride;
    if (span == n && !rotation_breaks[g]) {
      // A global ring: the shift rotates it; the block must hold >= 2 of its nodes so the
      // closing edge crosses the network as the real edge does.
      rotatable[g] = any_rotated = true;
      step = lcm64(step, group.stride);
      minimum = std::max(minimum, 2 * std::max(group.stride, gpn));
    } else {
      step = lcm64(step, span);
    }
  }
  if (multi_leaf) {
    // Whole leaf groups, so no uplink is shared between copies; with a rotated ring, two of
    // them, so its closing edge crosses the spine like the real ones.
    step = lcm64(step, per_leaf * gpn);
    if (any_rotated) minimum = std::max(minimum, 2 * per_leaf * gpn);
  }
  for (int64_t s = step; s < n; s += step) {
    if (n % s != 0 || s < minimum) continue;
    sym.simulated = s;
    sym.copies = n / s;
    for (size_t g = 0; g < graph.groups.size(); ++g) sym.rotated[g] = rotatable[g];
    sym.note = "ranks 0.." + std::to_string(s - 1) + " simulated; rank r stands for r + k x " +
               std::to_string(s) + " (" + std::to_string(n / s) + " identical copies)";
    return sym;
  }
  sym.note = "none (no exact symmetry: a group or the leaf layout spans every rank)";
  return sym;
}

}  // namespace des

namespace {

nlohmann::json result_to_json(const StepResult& r) {
  return {{"engine", r.engine},       {"step_time_s", r.step_time_s}, {"compute_s", r.compute_s},
          {"comm_s", r.comm_s},       {"exposed_s", r.exposed_s},     {"bubble_s", r.bubble_s},
          {"extra", r.extra}};
}

StepResult result_from_json(const nlohmann::json& j) {
  StepResult r;
  r.engine = j.at("engine").get<std::string>();
  r.step_time_s = j.at("step_time_s").get<double>();
  r.compute_s = j.at("compute_s").get<double>();
  r.comm_s = j.at("comm_s").get<std::array<double, kNumCategories>>();
  r.exposed_s = j.at("exposed_s").get<std::array<double, kNumCategories>>();
  r.bubble_s = j.at("bubble_s").get<double>();
  r.extra = j.at("extra");
  return r;
}

void write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Runs the simulation in a child process: SimGrid 3.32 supports one engine per process (a second
// one keeps the old clock or aborts), so every run gets a fresh process and callers may run the
// engine as often as they like.
des::SimOutput simulate_in_child(const TaskGraph& graph, const Topology& topology,
                                 const EngineOptions& options, const des::Symmetry& symmetry) {
  int fds[2];
  if (::pipe(fds) != 0) throw Error("des: pipe failed");
  std::fflush(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw Error("des: fork failed");
  if (pid == 0) {
    detail::die_with_parent(parent);  // D12: the simulation outlived a killed spsim
    ::close(fds[0]);
    nlohmann::json message;
    try {
      des::SimOutput output = des::simulate(graph, topology, options, symmetry);
      message = {{"ok", true}, {"result", result_to_json(output.result)}, {"trace", output.trace}};
    } catch (const InputError& e) {
      message = {{"ok", false}, {"input", true}, {"where", e.where()}, {"what", e.what()}};
    } catch (const std::exception& e) {
      message = {{"ok", false}, {"input", false}, {"what", e.what()}};
    }
    write_all(fds[1], message.dump());
    ::close(fds[1]);
    ::_exit(0);
  }
  ::close(fds[1]);
  const std::string data = detail::read_until_eof(fds[0]);
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (data.empty()) {
    throw Error("des: the simulation process died (status " + std::to_string(status) + ")");
  }
  const nlohmann::json message = nlohmann::json::parse(data);
  if (!message.at("ok").get<bool>()) {
    const std::string what = message.at("what").get<std::string>();
    if (message.at("input").get<bool>()) {
      throw InputError(message.at("where").get<std::string>(), what);
    }
    // Internal errors already carry their "internal error:" prefix.
    throw std::runtime_error(what);
  }
  return {result_from_json(message.at("result")), message.at("trace").get<std::string>()};
}

// The work of one simulation: per simulated GPU, each compute task counts 1 and each collective
// the flows it starts per member (an all-to-all over g ranks g - 1, a ring 2), times the layers
// and micro-batches it runs in; times the simulated GPUs, and once more (1 + GPUs / 256) for the
// flows SimGrid shares bandwidth among. About 1 us per unit on one core (measured from 8 to
// 1,024 simulated GPUs).
double des_work(const TaskGraph& graph, int64_t simulated) {
  const double m = static_cast<double>(std::max<int64_t>(1, graph.micro_batches));
  double per_gpu = 0;
  for (const Segment& segment : graph.segments) {
    const double runs = segment.when == When::kEveryMicroBatch ? m
                        : segment.when == When::kLastMicroBatch ? 1.0
                                                                 : m - 1;
    double weight = 0;
    for (const Task& task : segment.tasks) {
      const bool valid_group = task.group >= 0 && task.group < static_cast<int>(graph.groups.size());
      const double size = valid_group ? static_cast<double>(graph.groups[task.group].size) : 1.0;
      if (task.kind != TaskKind::kCollective || size <= 1) {
        weight += 1;
      } else {
        weight += task.comm == CommKind::kAllToAll ? size - 1 : 2;
      }
    }
    per_gpu += weight * static_cast<double>(segment.repeat) * runs;
  }
  const double gpus = static_cast<double>(simulated);
  return per_gpu * gpus * (1 + gpus / 256);
}

class DesEngine final : public Engine {
 public:
  StepResult run(const TaskGraph& graph, const Topology& topology,
                 const EngineOptions& options) const override {
    if (graph.num_gpus > kMaxGpus) {
      throw InputError("--gpus", fmt::format("{} GPUs is past the limit of {} (README \"Limits and "
                                             "errors\")", graph.num_gpus, kMaxGpus));
    }
    des::validate(graph, topology);
    const des::Symmetry symmetry =
        des::choose_symmetry(graph, topology, options.simulate_all_gpus);
    const double work = des_work(graph, symmetry.simulated);
    if (work > static_cast<double>(kMaxDesWork)) {
      throw InputError(
          "--engine",
          fmt::format("the des simulation of {} GPUs{} would take {:.0f} units of work (tasks and flows x "
                      "layers x micro-batches), past the limit of {} (README \"Limits and errors\"); "
                      "use --engine analytic, fewer GPUs, a smaller group or fewer micro-batches{}",
                      symmetry.simulated,
                      symmetry.simulated < graph.num_gpus ? fmt::format(" (standing for {})", graph.num_gpus) : "",
                      work, kMaxDesWork, options.simulate_all_gpus ? ", or drop --simulate-all-gpus" : ""));
    }
    des::SimOutput output = simulate_in_child(graph, topology, options, symmetry);
    // Written only after the whole simulation succeeded, through a temporary file and a rename,
    // so an error never leaves a partial trace.
    if (!options.trace_path.empty()) write_file_atomically(options.trace_path, output.trace);
    return output.result;
  }
};

}  // namespace

std::unique_ptr<Engine> make_des_engine() { return std::make_unique<DesEngine>(); }

}  // namespace spsim
