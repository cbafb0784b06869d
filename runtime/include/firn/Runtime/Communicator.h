//===- Communicator.h - The processes of a data-parallel run ----*- C++ -*-===//
//
// `mpirun -np K ./model train ...` runs K copies of the same binary; each
// is one rank of the job. A Communicator is this process's place in it:
//
//   - launched alone (no mpirun, or mpirun -np 1), it is rank 0 of 1 and
//     loads no MPI at all: the binary runs as on a machine without MPI;
//   - launched by Open MPI's mpirun with K > 1 processes, join() loads
//     Open MPI's libmpi.so.40 (MpiAbi.h: binaries do not link it) and
//     initializes MPI; the ranks then sum gradients (nonblocking
//     MPI_Iallreduce, several in flight) and scalars, and share buffers
//     (MPI_Bcast). Every collective is called by every rank in the same
//     order; a failed one ends the whole job (MPI's default error handler).
//
// A launcher that is not Open MPI's (MPICH's, Intel MPI's) is recognized
// from its environment and refused with a message, rather than each
// process training alone.
//
// No exceptions; messages come back through `error`.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_COMMUNICATOR_H
#define FIRN_RUNTIME_COMMUNICATOR_H

#include <cstdint>
#include <memory>
#include <string>

namespace firn::runtime {

/// How this process was started, from the launcher's environment.
struct Launch {
  int rank = 0;
  int ranks = 1;
  /// The launcher, for messages: "mpirun (Open MPI)", or the other MPI's.
  std::string launcher;
  /// Set when the launcher is one firn cannot join (not Open MPI).
  std::string unsupported;
};

/// Reads OMPI_COMM_WORLD_SIZE/RANK (Open MPI), and PMI_SIZE, PMI_RANK or
/// MPI_LOCALNRANKS (other MPIs, refused when they start several
/// processes).
Launch detectLaunch();

class Communicator {
public:
  Communicator();
  ~Communicator(); // MPI_Finalize, once joined.
  Communicator(const Communicator &) = delete;
  Communicator &operator=(const Communicator &) = delete;

  /// Joins the job `launch` describes (nothing to do for one process):
  /// loads libmpi, initializes MPI and checks that MPI sees the same rank
  /// and size as the launcher's environment.
  bool join(const Launch &launch, std::string &error);

  int rank() const { return myRank; }
  int ranks() const { return numRanks; }
  /// More than one process: gradients must be summed across them.
  bool distributed() const { return numRanks > 1; }

  /// Starts summing `count` floats in place across the ranks (nonblocking;
  /// the data must stay put until finish()).
  bool startSum(float *data, int64_t count, std::string &error);
  /// Starts summing `data` across the ranks and keeping this rank's part of
  /// the sum (MPI_Ireduce_scatter): rank r's part is the counts[r] floats
  /// after those of the ranks before it, written to `mine`. Nonblocking, as
  /// startSum; `data`, `mine` and `counts` must stay put until finish().
  bool startReduceScatter(const float *data, float *mine, const int *counts,
                          std::string &error);
  /// Lets the sums started so far progress (MPI progresses nonblocking
  /// collectives only inside MPI calls): call between pieces of work.
  void progress();
  /// Waits for every sum started since the last finish().
  bool finish(std::string &error);
  /// Sums `count` doubles or floats in place across the ranks (blocking).
  bool sum(double *data, int count, std::string &error);
  bool sum(float *data, int64_t count, std::string &error);
  /// Rank `root`'s `bytes` bytes at `data` on every rank (blocking).
  bool broadcast(void *data, int64_t bytes, int root, std::string &error);
  /// Sends `bytes` bytes to rank `to`, which receives them (blocking; a
  /// distributed job only).
  bool send(const void *data, int64_t bytes, int to, std::string &error);
  bool receive(void *data, int64_t bytes, int from, std::string &error);
  /// Ends the whole job (MPI_Abort) with `code`; for one process, exit.
  [[noreturn]] void abort(int code);

private:
  struct Library;
  std::unique_ptr<Library> mpi;
  int myRank = 0, numRanks = 1;
};

} // namespace firn::runtime

#endif // FIRN_RUNTIME_COMMUNICATOR_H
