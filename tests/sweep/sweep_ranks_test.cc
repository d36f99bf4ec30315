// run_sweep over several ranks (the MPI path, with threads and an in-process all-gather standing
// in for MPI ranks, so it runs in every build): the same bytes as one process, one writer, and
// errors that stop every rank instead of leaving one waiting. mpirun itself is tested by
// tests/sweep/mpi_same_bytes.sh (registered only when CMake finds MPI).
#include <algorithm>
#include <condition_variable>
#include <exception>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "spsim/sweep.h"
#include "spsim/topology.h"
#include "test_util.h"

namespace spsim {
namespace {

namespace fs = std::filesystem;

std::string temp_dir() {
  char dir_template[] = "/tmp/spsim_ranks_XXXXXX";
  return mkdtemp(dir_template);
}

// 2 strategies x 2 GPU counts x 3 sequence lengths, best plan each: 12 rows (12 is no multiple
// of 5, so with 5 ranks the last round is partly empty).
SweepPlan small_plan() {
  SweepPlan plan;
  plan.models.push_back(test::llama3_8b());
  plan.topologies.push_back(load_topology("dgx-h100"));
  plan.best = true;
  for (const char* strategy : {"ulysses", "ring"}) {
    for (int64_t gpus : {8, 16}) {
      for (int64_t seq : {32768, 131072, 524288}) {
        SweepPlan::Point point;
        point.job.strategy = strategy;
        point.job.num_gpus = gpus;
        point.job.seq_length = seq;
        point.job.framework_reserve_bytes = kDefaultFrameworkReserveBytes;
        plan.points.push_back(point);
      }
    }
  }
  plan.meta = {{"tool", "spsim"}, {"test", "small_plan"}};
  return plan;
}

// MPI_Allgatherv between threads: every caller blocks until all `size` have called, then each
// gets every string in rank order.
class ThreadWorld {
 public:
  explicit ThreadWorld(int size) : size_(size), slots_(static_cast<size_t>(size)) {}
  std::vector<std::string> all_gather(int rank, const std::string& mine) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait(lock, [&] { return leaving_ == 0; });  // the previous round has been read
    slots_[static_cast<size_t>(rank)] = mine;
    const int64_t generation = generation_;
    if (++arrived_ == size_) {
      result_ = slots_;
      arrived_ = 0;
      leaving_ = size_;
      ++generation_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return generation_ != generation; });
    }
    std::vector<std::string> out = result_;
    if (--leaving_ == 0) cv_.notify_all();
    return out;
  }

 private:
  int size_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> slots_, result_;
  int arrived_ = 0, leaving_ = 0;
  int64_t generation_ = 0;
};

struct RankResult {
  std::vector<SweepRow> rows;
  std::exception_ptr error;
};

// Runs `plan` as `ranks` ranks (threads); each rank's rows or exception.
std::vector<RankResult> run_ranks(const SweepPlan& plan, const SweepRunOptions& base, int ranks) {
  ThreadWorld world(ranks);
  std::vector<RankResult> results(static_cast<size_t>(ranks));
  std::vector<std::thread> threads;
  for (int rank = 0; rank < ranks; ++rank) {
    threads.emplace_back([&, rank] {
      SweepRunOptions options = base;
      options.rank = rank;
      options.ranks = ranks;
      options.all_gather = [&world, rank](const std::string& mine) { return world.all_gather(rank, mine); };
      if (rank != 0) options.on_row = nullptr;
      try {
        results[static_cast<size_t>(rank)].rows = run_sweep(plan, options);
      } catch (...) {
        results[static_cast<size_t>(rank)].error = std::current_exception();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  return results;
}

std::string message(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const InputError& e) {
    return e.full();
  } catch (const std::exception& e) {
    return e.what();
  }
}

TEST(SweepRanksTest, RanksGiveTheSameBytesAsOneProcess) {
  const std::string dir = temp_dir();
  const SweepPlan plan = small_plan();
  SweepRunOptions one;
  one.output_prefix = dir + "/one";
  run_sweep(plan, one);
  for (int ranks : {2, 5}) {
    SweepRunOptions options;
    options.output_prefix = dir + "/ranks" + std::to_string(ranks);
    size_t calls = 0, last_done = 0;
    options.on_row = [&](size_t done, size_t total) {
      ++calls;
      last_done = done;
      EXPECT_EQ(total, 12u);
    };
    const auto results = run_ranks(plan, options, ranks);
    for (int rank = 0; rank < ranks; ++rank) {
      ASSERT_FALSE(results[static_cast<size_t>(rank)].error) << message(results[static_cast<size_t>(rank)].error);
      // Rank 0 returns all 12 rows; the others none (they write and print nothing).
      EXPECT_EQ(results[static_cast<size_t>(rank)].rows.size(), rank == 0 ? 12u : 0u) << "rank " << rank;
    }
    EXPECT_EQ(test::read_text(options.output_prefix + ".csv"), test::read_text(one.output_prefix + ".csv"));
    EXPECT_EQ(test::read_text(options.output_prefix + ".json"), test::read_text(one.output_prefix + ".json"));
    EXPECT_FALSE(fs::exists(options.output_prefix + ".partial"));
    EXPECT_EQ(calls, 13u) << "progress once at the start and once per row, on rank 0 only";
    EXPECT_EQ(last_done, 12u);
  }
  fs::remove_all(dir);
}

TEST(SweepRanksTest, JobsAboveOneUnderRanksIsRejected) {
  SweepRunOptions options;
  options.output_prefix = "/nonexistent/never-written";
  options.jobs = 2;
  options.rank = 1;
  options.ranks = 4;
  options.all_gather = [](const std::string&) -> std::vector<std::string> {
    ADD_FAILURE() << "the check comes before any collective";
    return {};
  };
  EXPECT_THROW_MSG(run_sweep(small_plan(), options), InputError, "cannot be combined with mpirun");
}

TEST(SweepRanksTest, ResumeUnderRanksKeepsJournaledRowsAndGivesTheSameBytes) {
  const std::string dir = temp_dir();
  const SweepPlan plan = small_plan();
  SweepRunOptions one;
  one.output_prefix = dir + "/one";
  run_sweep(plan, one);

  // A one-process run interrupted after 5 rows leaves a journal; 3 ranks finish it.
  SweepRunOptions cut;
  cut.output_prefix = dir + "/cut";
  cut.on_row = [](size_t done, size_t) {
    if (done == 5) throw std::runtime_error("interrupted");
  };
  EXPECT_THROW(run_sweep(plan, cut), std::runtime_error);
  SweepRunOptions resume;
  resume.output_prefix = cut.output_prefix;
  resume.resume = true;
  size_t first_done = 99;
  resume.on_row = [&](size_t done, size_t) {
    if (first_done == 99) first_done = done;
  };
  const auto results = run_ranks(plan, resume, 3);
  for (const auto& result : results) ASSERT_FALSE(result.error) << message(result.error);
  EXPECT_EQ(first_done, 5u) << "the 5 journaled rows are not computed again";
  EXPECT_EQ(test::read_text(cut.output_prefix + ".csv"), test::read_text(one.output_prefix + ".csv"));
  EXPECT_EQ(test::read_text(cut.output_prefix + ".json"), test::read_text(one.output_prefix + ".json"));
  fs::remove_all(dir);
}

TEST(SweepRanksTest, JournalErrorOnRankZeroStopsEveryRank) {
  const std::string dir = temp_dir();
  const SweepPlan plan = small_plan();
  SweepRunOptions options;
  options.output_prefix = dir + "/x";
  { std::ofstream(options.output_prefix + ".partial") << "left over\n"; }
  const auto results = run_ranks(plan, options, 3);  // returns: no rank waits forever
  ASSERT_TRUE(results[0].error);
  EXPECT_NE(message(results[0].error).find("--resume"), std::string::npos) << message(results[0].error);
  for (size_t rank = 1; rank < results.size(); ++rank) {
    ASSERT_TRUE(results[rank].error) << "rank " << rank;
    EXPECT_NE(message(results[rank].error).find("rank 0 stopped the sweep"), std::string::npos);
  }
  EXPECT_FALSE(fs::exists(options.output_prefix + ".csv"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace spsim
