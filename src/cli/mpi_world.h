// The one interface to MPI. Only mpi_world.cc includes mpi.h (and only when CMake found MPI and
// defined SPSIM_HAVE_MPI); everything else, the library included, sees ranks and an all-gather.
#ifndef SPSIM_CLI_MPI_WORLD_H_
#define SPSIM_CLI_MPI_WORLD_H_

#include <string>
#include <vector>

namespace spsim::cli {

/// Whether this process was started by mpirun/mpiexec/srun with more than one rank, from the
/// environment (OMPI_COMM_WORLD_SIZE for Open MPI, PMI_SIZE for MPICH/Slurm); never calls MPI.
bool launched_by_mpirun();

/// The MPI world of a command started by mpirun: rank 0 of 1 otherwise. MPI is initialised only
/// when spsim was built with MPI and launched_by_mpirun(), so a plain `spsim` never touches MPI;
/// the destructor finalises it.
class MpiWorld {
 public:
  /// Throws InputError when launched by mpirun with several ranks but built without MPI (every
  /// rank would otherwise run the whole sweep and overwrite the same files).
  MpiWorld();
  ~MpiWorld();
  MpiWorld(const MpiWorld&) = delete;
  MpiWorld& operator=(const MpiWorld&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  /// Every rank's `mine`, in rank order, on every rank (a collective: every rank must call it).
  std::vector<std::string> all_gather(const std::string& mine) const;

 private:
  bool initialised_ = false;
  int rank_ = 0, size_ = 1;
};

}  // namespace spsim::cli

#endif  // SPSIM_CLI_MPI_WORLD_H_
