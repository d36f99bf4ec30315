// Running a sweep: points shared out over forked worker processes (one engine per process) or
// MPI ranks, every finished row journaled by one process (the parent, or rank 0), final files
// written atomically in point order, so the bytes depend neither on --jobs, on the number of
// ranks nor on interruptions.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "common/atomic_write.h"
#include "common/process.h"
#include "spsim/error.h"
#include "sweep/row_inputs.h"
#include "spsim/report.h"
#include "spsim/strategy.h"
#include "spsim/sweep.h"

namespace spsim {

namespace {

// FNV-1a, 64 bit: a stable fingerprint of the sweep's inputs (not security relevant).
std::string fingerprint(const SweepPlan& plan) {
  uint64_t hash = 1469598103934665603ull;
  const std::string text = plan.meta.dump() + fmt::format("|points={}|best={}", plan.points.size(), plan.best);
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return fmt::format("{:016x}", hash);
}

bool write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

// A journaled row must be the one its point gives: same model, topology, strategy, GPUs and
// sequence (D10: rows were taken as written).
void check_journal_rows(const SweepPlan& plan, const std::map<size_t, SweepRow>& rows, const std::string& path) {
  for (const auto& [index, row] : rows) {
    const SweepPlan::Point& point = plan.points.at(index);
    if (row.model != plan.models.at(point.model).name || row.topology != plan.topologies.at(point.topology).name ||
        row.strategy != point.job.strategy || row.gpus != point.job.num_gpus ||
        row.seq_length != point.job.seq_length) {
      throw InputError(path, fmt::format("the row of point {} ({} {} {} GPUs seq {}) is not that point's ({} {} "
                                         "{} GPUs seq {}); delete the file to start over",
                                         index, row.model, row.strategy, row.gpus, row.seq_length,
                                         plan.models.at(point.model).name, point.job.strategy,
                                         point.job.num_gpus, point.job.seq_length));
    }
  }
}

// A worker: evaluates its share of `todo` and writes one journal line per row to `fd`. Never
// returns; an error becomes an {"error": ...} line and exit code 3.
[[noreturn]] void worker(const SweepPlan& plan, const std::vector<size_t>& todo, int jobs, int k, int fd) {
  int code = 0;
  try {
    for (size_t position = static_cast<size_t>(k); position < todo.size(); position += static_cast<size_t>(jobs)) {
      const size_t index = todo[position];
      if (!write_all(fd, journal_line(index, run_point(plan, index)))) _exit(4);  // parent gone
    }
  } catch (const InputError& e) {
    write_all(fd, nlohmann::json{{"error", e.full()}}.dump() + "\n");
    code = 3;
  } catch (const std::exception& e) {
    write_all(fd, nlohmann::json{{"error", e.what()}}.dump() + "\n");
    code = 3;
  }
  ::close(fd);
  _exit(code);
}

// The rows in point order, best_at_point marked, written atomically; then the journal goes.
std::vector<SweepRow> write_outputs(const SweepPlan& plan, const SweepRunOptions& options,
                                    std::map<size_t, SweepRow>& rows, SweepJournal& journal) {
  std::vector<SweepRow> out;
  out.reserve(rows.size());
  for (auto& [index, row] : rows) out.push_back(std::move(row));
  mark_best_at_point(out);
  write_file_atomically(options.output_prefix + ".csv", sweep_csv(out));
  write_file_atomically(options.output_prefix + ".json", sweep_json(out, plan.meta));
  journal.remove();
  return out;
}

// run_sweep over MPI ranks. Every rank makes the same sequence of all_gather calls, whatever
// fails where, so no rank is left waiting: first rank 0's journal (rows already done, or the
// error that stops everyone), then one round per `ranks` points, in which rank k evaluates
// todo[round * ranks + k] and rank 0 journals the round's rows. Lockstep rounds keep the journal
// current (an interrupted MPI sweep resumes like a one-process one) and give rank 0 progress.
std::vector<SweepRow> run_sweep_ranks(const SweepPlan& plan, const SweepRunOptions& options) {
  if (!options.all_gather) throw Error("a sweep over MPI ranks needs an all_gather");
  if (options.rank < 0 || options.rank >= options.ranks) {
    throw Error(fmt::format("rank {} outside 0..{}", options.rank, options.ranks - 1));
  }
  const bool root = options.rank == 0;
  std::optional<SweepJournal> journal;
  std::exception_ptr failure;
  std::string head;
  if (root) {
    try {
      journal.emplace(options.output_prefix + ".partial", fingerprint(plan), options.resume, plan.points.size());
      check_journal_rows(plan, journal->done(), journal->path());
      nlohmann::json done = nlohmann::json::array();
      for (const auto& [index, row] : journal->done()) done.push_back(index);
      head = nlohmann::json{{"done", done}}.dump();
    } catch (const std::exception& e) {
      failure = std::current_exception();
      head = nlohmann::json{{"error", e.what()}}.dump();
    }
  }
  const auto heads = options.all_gather(head);
  const auto head_json = nlohmann::json::parse(heads.at(0));
  if (head_json.contains("error")) {
    if (failure) std::rethrow_exception(failure);
    throw Error("rank 0 stopped the sweep: " + head_json.at("error").get<std::string>());
  }
  std::set<size_t> done;
  for (const auto& index : head_json.at("done")) done.insert(index.get<size_t>());
  std::vector<size_t> todo;
  for (size_t i = 0; i < plan.points.size(); ++i) {
    if (done.count(i) == 0) todo.push_back(i);
  }

  std::map<size_t, SweepRow> rows;
  if (root) rows = journal->done();
  const size_t total = plan.points.size();
  if (root && options.on_row) options.on_row(rows.size(), total);
  const size_t ranks = static_cast<size_t>(options.ranks);
  std::string error;
  for (size_t first = 0; first < todo.size() && error.empty(); first += ranks) {
    std::string mine;
    const size_t position = first + static_cast<size_t>(options.rank);
    if (position < todo.size()) {
      try {
        mine = journal_line(todo[position], run_point(plan, todo[position]));
      } catch (const InputError& e) {
        mine = nlohmann::json{{"error", e.full()}}.dump() + "\n";
      } catch (const std::exception& e) {
        mine = nlohmann::json{{"error", e.what()}}.dump() + "\n";
      }
    }
    // Every rank sees every line, so an error anywhere ends the loop on every rank together.
    for (const auto& line : options.all_gather(mine)) {
      if (line.empty()) continue;
      const auto json = nlohmann::json::parse(line);
      if (json.contains("error")) {
        if (error.empty()) error = json.at("error").get<std::string>();
        continue;
      }
      if (!root) continue;
      journal->append_line(line);
      const size_t index = json.at("i").get<size_t>();
      rows.emplace(index, row_from_json(json.at("row")));
      if (options.on_row) options.on_row(rows.size(), total);
    }
  }
  if (!error.empty()) {
    if (root) throw InputError("sweep", error + " (finished rows are kept; fix and rerun with --resume)");
    throw Error("stopped: " + error);
  }
  if (!root) return {};
  if (rows.size() != total) throw Error("an MPI sweep finished with rows missing");
  return write_outputs(plan, options, rows, *journal);
}

}  // namespace

SweepRow run_point(const SweepPlan& plan, size_t index) {
  const auto& point = plan.points.at(index);
  const ModelSpec& model = plan.models.at(point.model);
  const Topology& topology = plan.topologies.at(point.topology);
  try {
    const auto strategy = make_strategy(point.job.strategy);
    if (plan.best) return search_best_plan(model, topology, *strategy, point.job, plan.space, plan.engine);
    return evaluate_row(model, topology, *strategy, point.job, plan.engine);
  } catch (const InputError& e) {
    // Anything else this point cannot do (e.g. a precision the GPU has no peak for) is its row's
    // reason, not the end of the sweep.
    SweepRow row;
    const JobConfig& job = point.job;
    fill_inputs(row, model, topology, job, plan.engine);
    row.status = "invalid";
    row.reason = e.full();
    return row;
  }
}

std::vector<SweepRow> run_sweep(const SweepPlan& plan, const SweepRunOptions& options) {
  if (options.output_prefix.empty()) throw InputError("--output", "an output prefix is required");
  if (options.jobs < 1 || options.jobs > 1024) {
    throw InputError("--jobs", fmt::format("must be between 1 and 1024 (got {})", options.jobs));
  }
  if (options.ranks < 1) throw Error(fmt::format("{} MPI ranks", options.ranks));
  if (options.ranks > 1) {
    if (options.jobs > 1) {
      throw InputError("--jobs", fmt::format("cannot be combined with mpirun (got --jobs {} under {} ranks); "
                                             "use mpirun -n N for more processes and drop --jobs",
                                             options.jobs, options.ranks));
    }
    return run_sweep_ranks(plan, options);
  }
  SweepJournal journal(options.output_prefix + ".partial", fingerprint(plan), options.resume, plan.points.size());
  check_journal_rows(plan, journal.done(), journal.path());
  std::map<size_t, SweepRow> rows = journal.done();
  std::vector<size_t> todo;
  for (size_t i = 0; i < plan.points.size(); ++i) {
    if (rows.find(i) == rows.end()) todo.push_back(i);
  }
  const size_t total = plan.points.size();
  auto finished = [&](size_t index, SweepRow row) {
    rows.emplace(index, std::move(row));
    if (options.on_row) options.on_row(rows.size(), total);
  };
  if (options.on_row) options.on_row(rows.size(), total);

  const int jobs = static_cast<int>(std::min<size_t>(static_cast<size_t>(options.jobs), todo.size()));
  if (jobs <= 1) {
    for (size_t index : todo) {
      SweepRow row = run_point(plan, index);
      journal.append(index, row);
      finished(index, std::move(row));
    }
  } else {
    std::vector<int> fds;
    std::vector<pid_t> pids;
    std::vector<std::string> buffers(static_cast<size_t>(jobs));
    const pid_t parent = ::getpid();
    for (int k = 0; k < jobs; ++k) {
      int pipe_fds[2];
      if (::pipe(pipe_fds) != 0) throw Error(fmt::format("pipe failed: {}", std::strerror(errno)));
      const pid_t pid = ::fork();
      if (pid < 0) throw Error(fmt::format("fork failed: {}", std::strerror(errno)));
      if (pid == 0) {
        detail::die_with_parent(parent);  // D12: workers outlived a killed sweep
        ::close(pipe_fds[0]);
        for (int fd : fds) ::close(fd);
        worker(plan, todo, jobs, k, pipe_fds[1]);
      }
      ::close(pipe_fds[1]);
      fds.push_back(pipe_fds[0]);
      pids.push_back(pid);
    }
    std::string error;
    size_t open = fds.size();
    std::vector<pollfd> polls(fds.size());
    while (open > 0) {
      for (size_t k = 0; k < fds.size(); ++k) polls[k] = {fds[k], POLLIN, 0};
      if (::poll(polls.data(), polls.size(), -1) < 0) {
        if (errno == EINTR) continue;
        throw Error(fmt::format("poll failed: {}", std::strerror(errno)));
      }
      for (size_t k = 0; k < fds.size(); ++k) {
        if (fds[k] < 0 || (polls[k].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
        char chunk[65536];
        const ssize_t n = ::read(fds[k], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          ::close(fds[k]);
          fds[k] = -1;
          --open;
          continue;
        }
        buffers[k].append(chunk, static_cast<size_t>(n));
        size_t end;
        while ((end = buffers[k].find('\n')) != std::string::npos) {
          const std::string line = buffers[k].substr(0, end + 1);
          buffers[k].erase(0, end + 1);
          const auto json = nlohmann::json::parse(line);
          if (json.contains("error")) {
            if (error.empty()) error = json.at("error").get<std::string>();
            continue;
          }
          journal.append_line(line);
          finished(json.at("i").get<size_t>(), row_from_json(json.at("row")));
        }
      }
    }
    bool crashed = false;
    for (pid_t pid : pids) {
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 3)) crashed = true;
    }
    if (!error.empty()) throw InputError("sweep", error + " (finished rows are kept; fix and rerun with --resume)");
    if (crashed || rows.size() != total) {
      throw Error("a sweep worker process died; finished rows are kept, rerun with --resume");
    }
  }

  return write_outputs(plan, options, rows, journal);
}

}  // namespace spsim
