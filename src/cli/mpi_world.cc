// MPI behind MpiWorld: init/finalize and one all-gather of strings. Without SPSIM_HAVE_MPI this
// file compiles to a one-rank world and spsim uses the fork path of `sweep --jobs`.
#include "cli/mpi_world.h"

#include <climits>
#include <cstdlib>

#include <fmt/format.h>

#include "spsim/error.h"

#ifdef SPSIM_HAVE_MPI
// The C API only: Open MPI's and MPICH's C++ bindings are deprecated and need another library.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace spsim::cli {

namespace {

// The world size the launcher announced, or 0 when none did.
long launcher_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && value[0] != '\0') return std::strtol(value, nullptr, 10);
  }
  return 0;
}

}  // namespace

bool launched_by_mpirun() { return launcher_size() > 1; }

#ifdef SPSIM_HAVE_MPI

namespace {

void check(int code, const char* call) {
  if (code != MPI_SUCCESS) throw Error(fmt::format("{} failed (MPI error {})", call, code));
}

}  // namespace

MpiWorld::MpiWorld() {
  if (launcher_size() == 0) return;  // not started by a launcher: no MPI at all
  int already = 0;
  check(MPI_Initialized(&already), "MPI_Init");
  if (already) throw Error("MPI initialised twice");
  check(MPI_Init(nullptr, nullptr), "MPI_Init");
  initialised_ = true;
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
}

MpiWorld::~MpiWorld() {
  if (initialised_) MPI_Finalize();
}

std::vector<std::string> MpiWorld::all_gather(const std::string& mine) const {
  if (!initialised_ || size_ == 1) return {mine};
  if (mine.size() > static_cast<size_t>(INT_MAX)) throw Error("MPI all-gather: a message over 2 GiB");
  const int length = static_cast<int>(mine.size());
  std::vector<int> lengths(static_cast<size_t>(size_));
  check(MPI_Allgather(&length, 1, MPI_INT, lengths.data(), 1, MPI_INT, MPI_COMM_WORLD), "MPI_Allgather");
  std::vector<int> offsets(lengths.size());
  long long total = 0;
  for (size_t k = 0; k < lengths.size(); ++k) {
    if (total > INT_MAX) throw Error("MPI all-gather: over 2 GiB in one round");
    offsets[k] = static_cast<int>(total);
    total += lengths[k];
  }
  std::string all(static_cast<size_t>(total), '\0');
  check(MPI_Allgatherv(mine.data(), length, MPI_CHAR, all.data(), lengths.data(), offsets.data(), MPI_CHAR,
                       MPI_COMM_WORLD),
        "MPI_Allgatherv");
  std::vector<std::string> out;
  out.reserve(lengths.size());
  for (size_t k = 0; k < lengths.size(); ++k) {
    out.push_back(all.substr(static_cast<size_t>(offsets[k]), static_cast<size_t>(lengths[k])));
  }
  return out;
}

#else

MpiWorld::MpiWorld() {
  if (launched_by_mpirun()) {
    throw InputError("mpirun", fmt::format("this spsim was built without MPI (launcher says {} ranks); install "
                                           "libopenmpi-dev and rebuild, or run without mpirun and use --jobs N",
                                           launcher_size()));
  }
}

MpiWorld::~MpiWorld() = default;

std::vector<std::string> MpiWorld::all_gather(const std::string& mine) const { return {mine}; }

#endif

}  // namespace spsim::cli
