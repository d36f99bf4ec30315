// Analytic engine.
//
// Every rank runs the same program, and without contention every rank's timeline is the same
// (where ranks differ in work, the slowest sets the pace because each step ends in a collective
// with all of them), so one representative GPU is scheduled. Each task's duration is closed-form:
// the roofline for compute, alpha-beta on the group's bottleneck for communication
// (collective_time_s). Tasks are list-scheduled on in-order streams exactly as task_graph.h
// defines, which is also what the DES does, so the two agree wherever nothing is contended.
//
// A segment repeated R times (one per layer) is simulated instance by instance until an instance
// shifts every stream it uses by the same amount as the previous one; from then on each instance
// is that same shift (max-plus homogeneity: shifting all inputs by d shifts all outputs by d), so
// the remaining instances are added in closed form. This keeps a 32-layer step at a few dozen
// task evaluations.
#include "engine/analytic_engine.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "spsim/collective.h"
#include "spsim/error.h"

namespace spsim {

namespace {

struct TimedTask {
  double duration = 0;
  Stream stream = Stream::kCompute;
  Category category = Category::kCompute;
  bool is_compute = true;
  std::array<int32_t, 4> deps{};
  int32_t prev_dep = -1;  // Task::prev_instance_dep
  int32_t continued_dep = -1;  // Task::continued_dep (first instance of a continuing segment)
};

// One task's run on a stream, kept so that a wait can be blamed on what was really running.
struct Interval {
  double start = 0, end = 0;
  Category category = Category::kCompute;
};

constexpr int kHistory = 8;  // intervals remembered per stream (a wait rarely reaches further back)

struct StreamState {
  std::array<double, kNumStreams> free{};      // when each stream is next idle
  std::array<Category, kNumStreams> last{};    // category of the task that made it busy last
  // The last kHistory intervals of each stream, newest at index count % kHistory - 1.
  std::array<std::array<Interval, kHistory>, kNumStreams> history{};
  std::array<int, kNumStreams> count{};

  void record(int s, const Interval& interval) {
    history[s][count[s] % kHistory] = interval;
    ++count[s];
  }

  // Blames the idle interval [a, b) of the compute stream on the intervals stream s ran in it,
  // newest first; a gap between two of them (the stream itself waited) goes to the later one.
  void blame(int s, double a, double b, std::array<double, kNumCategories>& exposed) const {
    Category fallback = last[s];
    for (int k = 0; k < std::min(count[s], kHistory) && b > a; ++k) {
      const Interval& run = history[s][(count[s] - 1 - k + kHistory) % kHistory];
      if (run.end <= a) break;
      const double from = std::max(a, run.start);
      if (b > from) exposed[static_cast<int>(run.category)] += b - from;
      b = std::min(b, from);
      fallback = run.category;
    }
    if (b > a) exposed[static_cast<int>(fallback)] += b - a;
  }

  void shift(int s, double by) {
    for (auto& run : history[s]) {
      run.start += by;
      run.end += by;
    }
  }
};

struct Accumulator {
  double compute_s = 0;
  std::array<double, kNumCategories> comm_s{};
  std::array<double, kNumCategories> exposed_s{};
};

class Scheduler {
 public:
  Scheduler(const TaskGraph& graph, const Topology& topology)
      : roofline_(topology, graph.precision) {
    placements_.reserve(graph.groups.size());
    for (const auto& group : graph.groups) {
      placements_.push_back(place_group(group, topology.gpus_per_node));
    }
    topology_ = &topology;
    comm_slowdown_ = topology.efficiency.kernels.comm_slowdown;
  }

  std::vector<TimedTask> time_segment(const Segment& segment) const {
    std::vector<TimedTask> timed(segment.tasks.size());
    for (size_t i = 0; i < segment.tasks.size(); ++i) {
      const Task& task = segment.tasks[i];
      TimedTask& t = timed[i];
      t.stream = task.stream;
      t.category = task.category;
      t.deps = task.deps;
      t.prev_dep = task.prev_instance_dep;
      t.continued_dep = task.continued_dep;
      if (t.prev_dep >= static_cast<int32_t>(segment.tasks.size())) {
        throw Error(std::string("task ") + task.name + " waits for a task the segment does not have");
      }
      t.is_compute = task.kind == TaskKind::kCompute;
      if (t.is_compute) {
        // The most loaded rank sets the pace (its result is waited for by the next collective).
        double scale = 1.0;
        if (!task.work_scale.empty()) {
          scale = *std::max_element(task.work_scale.begin(), task.work_scale.end());
        }
        t.duration = roofline_.time_s(task, scale);
      } else {
        if (task.group < 0 || static_cast<size_t>(task.group) >= placements_.size()) {
          throw Error("collective task without a valid group");
        }
        // A ring step repeats the same transfer r-1 times: time each distinct one once.
        bool cached = false;
        for (const auto& [key, duration] : collective_cache_) {
          if (key.comm == task.comm && key.group == task.group && key.bytes == task.bytes) {
            t.duration = duration;
            cached = true;
            break;
          }
        }
        if (!cached) {
          t.duration = collective_time_s(task.comm, task.bytes, placements_[task.group], *topology_, task.calls);
          if (collective_cache_.size() < 64) collective_cache_.push_back({{task.comm, task.group, task.bytes}, t.duration});
        }
      }
    }
    return timed;
  }

  // Runs one instance of a segment from `state`; adds busy and exposed times to `acc` x weight.
  //
  // Exposed time: when the compute stream idles from a to b, the wait is walked back along the
  // chain that set b (the binding dependency, then what that task itself waited for, and so on),
  // each task taking the part of [a, b) during which it ran. So a wait is split between, say, a
  // ring send and the all-to-all queued behind it, and no kind is blamed for more than it ran.
  //
  // `prev_end`: the end times of the previous instance of the same segment (its tasks are what a
  // prev_dep names), or null for the first instance, which waits for none; or, with
  // `continued_from` (the first instance of a segment continuing the one before it), those of that
  // segment's last instance, whose tasks `continued_from` holds and continued_dep names.
  void run_instance(const std::vector<TimedTask>& tasks, StreamState& state, std::vector<double>& end,
                    const std::vector<double>* prev_end, Accumulator* acc,
                    const std::vector<TimedTask>* continued_from = nullptr) const {
    end.assign(tasks.size(), 0.0);
    begin_.assign(tasks.size(), 0.0);
    bound_by_.assign(tasks.size(), -1);
    std::array<int, kNumStreams> last_index;
    last_index.fill(-1);
    // The collectives of earlier instances still running when this one's compute can start.
    for (auto& runs : placed_) runs.clear();
    first_.fill(0);
    if (comm_slowdown_ > 0) {
      const int compute = static_cast<int>(Stream::kCompute);
      for (int s = 0; s < kNumStreams; ++s) {
        if (s == compute) continue;
        const int kept = std::min(state.count[s], kHistory);
        for (int k = 0; k < kept; ++k) {  // oldest first: each stream's list stays in time order
          const Interval& run = state.history[s][(state.count[s] - kept + k) % kHistory];
          if (run.end > state.free[compute] && run.end > run.start) placed_[s].push_back({run.start, run.end});
        }
      }
    }
    for (size_t i = 0; i < tasks.size(); ++i) {
      const TimedTask& t = tasks[i];
      const int s = static_cast<int>(t.stream);
      double ready = 0;
      int binding = -1;
      for (int32_t dep : t.deps) {
        if (dep < 0) break;
        if (end[dep] > ready) {
          ready = end[dep];
          binding = dep;
        }
      }
      // A wait for the previous instance: blamed on that task's stream history (it ran there).
      int earlier_stream = -1;
      const int32_t earlier = continued_from != nullptr ? t.continued_dep : t.prev_dep;
      if (earlier >= 0 && prev_end != nullptr && (*prev_end)[earlier] > ready) {
        ready = (*prev_end)[earlier];
        binding = -1;
        earlier_stream = static_cast<int>((continued_from != nullptr ? *continued_from : tasks)[earlier].stream);
      }
      const double free = state.free[s];
      const double start = std::max(free, ready);
      // What the task waited for: a dependency, or the task before it on its own stream
      // (-1: a task of an earlier segment instance, found in the stream's history).
      bound_by_[i] = ready > free ? binding : last_index[s];
      const double finish = t.is_compute ? compute_end(start, t.duration) : start + t.duration;
      if (acc != nullptr) {
        if (t.stream == Stream::kCompute) {
          if (start > free && binding >= 0) blame_chain(tasks, binding, free, start, state, *acc);
          if (start > free && earlier_stream >= 0) state.blame(earlier_stream, free, start, acc->exposed_s);
          acc->compute_s += finish - start;
        } else {
          acc->comm_s[static_cast<int>(t.category)] += t.duration;
        }
      }
      if (!t.is_compute && comm_slowdown_ > 0 && finish > start) placed_[s].push_back({start, finish});
      begin_[i] = start;
      end[i] = finish;
      state.free[s] = end[i];
      state.last[s] = t.category;
      last_index[s] = static_cast<int>(i);
    }
    for (size_t i = 0; i < tasks.size(); ++i) {
      if (!tasks[i].is_compute) state.record(static_cast<int>(tasks[i].stream), {begin_[i], end[i], tasks[i].category});
    }
  }

 private:
  // Splits the compute stream's idle interval [a, b) over the chain of tasks that ended at b.
  void blame_chain(const std::vector<TimedTask>& tasks, int task, double a, double b,
                   const StreamState& state, Accumulator& acc) const {
    while (b > a) {
      const TimedTask& t = tasks[task];
      // A compute task ran on the compute stream, so it ended before the idle interval began.
      if (t.is_compute) return;
      const double from = std::max(a, begin_[task]);
      acc.exposed_s[static_cast<int>(t.category)] += b - from;
      b = from;
      if (b <= a) return;
      const int next = bound_by_[task];
      if (next < 0) {
        state.blame(static_cast<int>(t.stream), a, b, acc.exposed_s);
        return;
      }
      task = next;
    }
  }

  // End of a compute task that starts at `start` with `work` seconds of uncontended work, when it
  // progresses at 1 / (1 + comm_slowdown_) while a collective of the GPU runs: the collectives
  // known at this point are those of earlier instances (the streams' histories) and those of this
  // instance placed before it in program order (`placed`). A collective issued later in program
  // order that still starts before the task ends does not slow it here (the DES sees it): the
  // lowerings issue the transfers a kernel overlaps before the kernel, so this is rare.
  double compute_end(double start, double work) const {
    if (comm_slowdown_ <= 0 || work <= 0) return start + work;
    // Compute tasks start in order (one compute stream), so a collective that ended before this
    // one starts can slow no later one either: skip it for good (keeps long ring segments linear).
    // Each stream's runs are in time order (a stream runs one task at a time), so the union of
    // the runs is a merge of the streams' lists by start.
    std::array<size_t, kNumStreams> at{};
    bool any = false;
    for (int s = 0; s < kNumStreams; ++s) {
      while (first_[s] < placed_[s].size() && placed_[s][first_[s]].second <= start) ++first_[s];
      at[s] = first_[s];
      any = any || at[s] < placed_[s].size();
    }
    if (!any) return start + work;
    auto earliest = [&]() {  // the stream whose next run starts first, or -1
      int best = -1;
      for (int s = 0; s < kNumStreams; ++s) {
        if (at[s] < placed_[s].size() && (best < 0 || placed_[s][at[s]] < placed_[best][at[best]])) best = s;
      }
      return best;
    };
    const double rate = 1.0 / (1.0 + comm_slowdown_);
    double t = start, left = work;
    for (int s = earliest(); s >= 0 && left > 0; s = earliest()) {
      // The union of the runs that begin at or before the end of this run of busy time.
      double a = std::max(t, placed_[s][at[s]].first), b = placed_[s][at[s]].second;
      ++at[s];
      for (int n = earliest(); n >= 0 && placed_[n][at[n]].first <= b; n = earliest()) {
        b = std::max(b, placed_[n][at[n]].second);
        ++at[n];
      }
      if (b <= t) continue;
      if (a > t) {  // free until the next collective
        if (a - t >= left) return t + left;
        left -= a - t;
        t = a;
      }
      if ((b - t) * rate >= left) return t + left / rate;
      left -= (b - t) * rate;
      t = b;
    }
    return t + left;
  }

  Roofline roofline_;
  double comm_slowdown_ = 0;

 public:
  bool interference() const { return comm_slowdown_ > 0; }

 private:
  // The collectives' runs (start, end) that may still slow a compute task, per stream in time
  // order, and the first of each list not yet ended before the latest compute task started.
  mutable std::array<std::vector<std::pair<double, double>>, kNumStreams> placed_;
  mutable std::array<size_t, kNumStreams> first_{};
  struct CollectiveKey {
    CommKind comm;
    int group;
    double bytes;
  };
  mutable std::vector<std::pair<CollectiveKey, double>> collective_cache_;
  // Per-instance scratch of run_instance: start of each task and what it waited for.
  mutable std::vector<double> begin_;
  mutable std::vector<int> bound_by_;
  std::vector<GroupPlacement> placements_;
  const Topology* topology_ = nullptr;
};

bool runs_in(When when, int64_t micro_batch, int64_t micro_batches) {
  const bool last = micro_batch == micro_batches - 1;
  switch (when) {
    case When::kEveryMicroBatch: return true;
    case When::kLastMicroBatch: return last;
    case When::kAllButLastMicroBatch: return !last;
  }
  return true;
}

// Drains every stream: the compute stream waits for the busiest one; the wait is exposed time of
// whatever finished last.
void barrier(StreamState& state, Accumulator& acc) {
  int latest = 0;
  for (int s = 1; s < kNumStreams; ++s) {
    if (state.free[s] > state.free[latest]) latest = s;
  }
  const double t = state.free[latest];
  const int compute = static_cast<int>(Stream::kCompute);
  if (t > state.free[compute]) {
    state.blame(latest, state.free[compute], t, acc.exposed_s);
    state.last[compute] = state.last[latest];
  }
  state.free.fill(t);
}

// Whether this instance moved the streams it uses as one: every used stream by the same shift,
// except a lagging one. A stream lags when it only runs work nothing of the instance waits for,
// queued far enough behind: everything on it ended before any other used stream was free when the
// instance began (a ZeRO-3 parameter prefetch, issued with no dependency, runs layers ahead of the
// compute it feeds), and it advances by no more than the others. Such a stream influences neither
// the other streams' times (no dependency could wait for it) nor, with interference, the compute
// (its collectives ended before the compute began), and it keeps lagging by its own fixed shift in
// every later instance: the instance repeats as exactly as a uniform one (max-plus homogeneity).
bool shifts_uniformly(const std::array<bool, kNumStreams>& used, const StreamState& before,
                      const StreamState& after, const std::array<double, kNumStreams>& shift,
                      double tolerance) {
  auto same = [tolerance](double a, double b) {
    return std::fabs(a - b) <= tolerance * std::max(1.0, std::fabs(b));
  };
  // The reference: the compute stream when the instance uses it, else the most advanced stream.
  int reference = static_cast<int>(Stream::kCompute);
  if (!used[reference]) {
    reference = -1;
    for (int s = 0; s < kNumStreams; ++s) {
      if (used[s] && (reference < 0 || shift[s] > shift[reference])) reference = s;
    }
    if (reference < 0) return true;
  }
  const double common = shift[reference];
  std::array<bool, kNumStreams> lagging{};
  double earliest = std::numeric_limits<double>::infinity();  // first free non-lagging stream
  for (int s = 0; s < kNumStreams; ++s) {
    if (!used[s]) continue;
    lagging[s] = !same(shift[s], common);
    if (!lagging[s]) earliest = std::min(earliest, before.free[s]);
  }
  for (int s = 0; s < kNumStreams; ++s) {
    if (lagging[s] && (shift[s] > common || after.free[s] > earliest)) return false;
  }
  return true;
}

}  // namespace

StepResult analytic_step(const TaskGraph& graph, const Topology& topology) {
  const Scheduler scheduler(graph, topology);
  std::vector<std::vector<TimedTask>> timed;
  timed.reserve(graph.segments.size());
  for (const auto& segment : graph.segments) timed.push_back(scheduler.time_segment(segment));
  for (size_t k = 0; k < graph.segments.size(); ++k) {
    for (const TimedTask& t : timed[k]) {
      // A segment run alone (one layer of it timed) has no segment before it: it waits for none.
      if (t.continued_dep >= 0 && graph.segments[k].continues && k > 0 &&
          t.continued_dep >= static_cast<int32_t>(timed[k - 1].size())) {
        throw Error("a task waits for a task the segment before it does not have");
      }
    }
  }

  StreamState state;
  state.last.fill(Category::kCompute);
  Accumulator acc;
  std::vector<double> end, prev_end;
  const int64_t micro_batches = std::max<int64_t>(1, graph.micro_batches);
  // Shifts equal to rounding: an interfered compute task's end is a sum over the collectives it
  // ran beside, whose rounding differs from instance to instance by more than 1e-12 s once the
  // clock reads hundreds of seconds; a nanosecond is still far below anything reported.
  const double tolerance = scheduler.interference() ? 1e-9 : 1e-12;
  // Streams a micro-batch other than the last uses (all of them if it drains them at a barrier).
  std::array<bool, kNumStreams> mb_used{};
  for (const auto& segment : graph.segments) {
    if (segment.when == When::kLastMicroBatch) continue;
    for (const auto& task : segment.tasks) mb_used[static_cast<int>(task.stream)] = true;
    if (segment.barrier) mb_used.fill(true);
  }
  std::array<double, kNumStreams> previous_mb_shift{};
  bool have_previous_mb = false;
  for (int64_t mb = 0; mb < micro_batches; ++mb) {
    const StreamState mb_before = state;
    const Accumulator acc_before = acc;
    size_t ran = graph.segments.size();  // the segment that ran last in this micro-batch
    for (size_t k = 0; k < graph.segments.size(); ++k) {
      const Segment& segment = graph.segments[k];
      if (!runs_in(segment.when, mb, micro_batches)) continue;
      if (segment.barrier) barrier(state, acc);
      const auto& tasks = timed[k];
      std::array<bool, kNumStreams> used{};
      for (const auto& t : tasks) used[static_cast<int>(t.stream)] = true;
      std::array<double, kNumStreams> previous_shift{};
      bool have_previous = false;
      // prev_end holds the last instance of the segment before (completed below after a
      // steady-state skip): a continuing segment's first instance waits for it.
      const bool continues = segment.continues && k > 0 && ran + 1 == k && !prev_end.empty();
      if (!continues) prev_end.clear();
      ran = k;
      for (int64_t rep = 0; rep < segment.repeat; ++rep) {
        const StreamState before = state;
        Accumulator one;
        if (rep == 0 && continues) {
          scheduler.run_instance(tasks, state, end, &prev_end, &one, &timed[k - 1]);
        } else {
          scheduler.run_instance(tasks, state, end, rep > 0 ? &prev_end : nullptr, &one);
        }
        std::array<double, kNumStreams> shift{};
        for (int s = 0; s < kNumStreams; ++s) shift[s] = state.free[s] - before.free[s];
        bool uniform = shifts_uniformly(used, before, state, shift, tolerance);
        // A task waiting for the previous instance: the state also holds that instance's end
        // times, so they must have moved by the compute stream's shift too.
        for (const TimedTask& t : tasks) {
          if (t.prev_dep < 0 || !uniform) continue;
          const double moved = rep > 0 ? end[t.prev_dep] - prev_end[t.prev_dep] : -1.0;
          const double common = shift[static_cast<int>(Stream::kCompute)];
          uniform = rep > 0 && std::fabs(moved - common) <= tolerance * std::max(1.0, std::fabs(common));
        }
        prev_end.swap(end);
        // Accumulate this instance.
        acc.compute_s += one.compute_s;
        for (int c = 0; c < kNumCategories; ++c) {
          acc.comm_s[c] += one.comm_s[c];
          acc.exposed_s[c] += one.exposed_s[c];
        }
        // Steady state: this instance shifted every used stream uniformly, exactly like the one
        // before, and found the streams in the same relative position: every later instance is
        // the same shift with the same busy and exposed times.
        bool same_as_previous = have_previous && uniform;
        // With interference an instance's time also depends on collectives still running on the
        // streams it does not use (a gradient reduction of an earlier segment): the shift repeats
        // only once those have finished.
        if (scheduler.interference()) {
          double earliest = std::numeric_limits<double>::infinity();
          for (int s = 0; s < kNumStreams; ++s) {
            if (used[s]) earliest = std::min(earliest, before.free[s]);
          }
          for (int s = 1; s < kNumStreams && same_as_previous; ++s) {
            if (!used[s] && state.free[s] > earliest) same_as_previous = false;
          }
        }
        for (int s = 0; s < kNumStreams && same_as_previous; ++s) {
          same_as_previous = std::fabs(shift[s] - previous_shift[s]) <=
                             tolerance * std::max(1.0, std::fabs(shift[s]));
        }
        if (same_as_previous && rep + 1 < segment.repeat) {
          const double remaining = static_cast<double>(segment.repeat - rep - 1);
          for (int s = 0; s < kNumStreams; ++s) {
            if (!used[s]) continue;
            state.free[s] += remaining * shift[s];
            state.shift(s, remaining * shift[s]);
          }
          // The last instance's end times, for a segment continuing this one.
          for (size_t i = 0; i < tasks.size(); ++i) {
            prev_end[i] += remaining * shift[static_cast<int>(tasks[i].stream)];
          }
          acc.compute_s += remaining * one.compute_s;
          for (int c = 0; c < kNumCategories; ++c) {
            acc.comm_s[c] += remaining * one.comm_s[c];
            acc.exposed_s[c] += remaining * one.exposed_s[c];
          }
          break;
        }
        previous_shift = shift;
        have_previous = uniform;
      }
    }
    // Micro-batches before the last run the same segments: once one shifts every stream it uses
    // exactly as the one before did (one stream may lag, as in a repeated segment), and the
    // streams it does not use are idle, every later one but the last is that same shift
    // (max-plus homogeneity, as for repeated layers above). A batch of thousands of
    // micro-batches then costs a few.
    if (mb + 2 >= micro_batches) continue;
    std::array<double, kNumStreams> shift{};
    for (int s = 0; s < kNumStreams; ++s) shift[s] = state.free[s] - mb_before.free[s];
    bool same = shifts_uniformly(mb_used, mb_before, state, shift, tolerance);
    double earliest = std::numeric_limits<double>::infinity();
    for (int s = 0; s < kNumStreams; ++s) {
      if (mb_used[s]) earliest = std::min(earliest, mb_before.free[s]);
    }
    for (int s = 0; s < kNumStreams && same; ++s) {
      if (!mb_used[s]) {
        same = state.free[s] <= earliest;
        continue;
      }
      same = !have_previous_mb ||
             std::fabs(shift[s] - previous_mb_shift[s]) <= tolerance * std::max(1.0, std::fabs(shift[s]));
    }
    if (same && have_previous_mb) {
      const int64_t skip = micro_batches - 2 - mb;  // the micro-batches left before the last
      const double n = static_cast<double>(skip);
      for (int s = 0; s < kNumStreams; ++s) {
        if (!mb_used[s]) continue;
        state.free[s] += n * shift[s];
        state.shift(s, n * shift[s]);
      }
      acc.compute_s += n * (acc.compute_s - acc_before.compute_s);
      for (int c = 0; c < kNumCategories; ++c) {
        acc.comm_s[c] += n * (acc.comm_s[c] - acc_before.comm_s[c]);
        acc.exposed_s[c] += n * (acc.exposed_s[c] - acc_before.exposed_s[c]);
      }
      mb += skip;
      continue;
    }
    previous_mb_shift = shift;
    have_previous_mb = same;
  }
  // The step ends when every stream is idle; a communication tail after the last compute is
  // exposed.
  barrier(state, acc);

  StepResult result;
  result.engine = "analytic";
  result.step_time_s = state.free[0];
  result.compute_s = acc.compute_s;
  result.comm_s = acc.comm_s;
  result.exposed_s = acc.exposed_s;
  return result;
}

namespace {

class AnalyticEngine final : public Engine {
 public:
  StepResult run(const TaskGraph& graph, const Topology& topology,
                 const EngineOptions& options) const override {
    if (!options.trace_path.empty()) {
      throw InputError("--trace", "the analytic engine has no timeline; add --engine des");
    }
    return analytic_step(graph, topology);
  }
};

}  // namespace

std::unique_ptr<Engine> make_analytic_engine() { return std::make_unique<AnalyticEngine>(); }

}  // namespace spsim
