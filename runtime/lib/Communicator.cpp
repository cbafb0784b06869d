//===- Communicator.cpp - Joining an Open MPI job without linking MPI -----===//
//
// See Communicator.h and MpiAbi.h. libmpi is opened with RTLD_GLOBAL: Open
// MPI loads its own components (transports, collectives) as plugins that
// resolve symbols against it.
//
//===----------------------------------------------------------------------===//

#include "firn/Runtime/Communicator.h"

#include "MpiAbi.h"

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <vector>

namespace firn::runtime {

namespace {

/// A non-negative integer environment variable, or -1 when unset or
/// malformed.
int envInt(const char *name) {
  const char *text = std::getenv(name);
  if (!text || !*text)
    return -1;
  char *end = nullptr;
  const long value = std::strtol(text, &end, 10);
  return *end || value < 0 || value > INT_MAX ? -1 : int(value);
}

/// A large buffer goes in pieces that MPI's int counts can hold.
constexpr int64_t kMaxPiece = int64_t(1) << 30;

} // namespace

Launch detectLaunch() {
  Launch launch;
  const int size = envInt("OMPI_COMM_WORLD_SIZE");
  if (size > 0) {
    launch.launcher = "mpirun (Open MPI)";
    launch.ranks = size;
    launch.rank = std::max(envInt("OMPI_COMM_WORLD_RANK"), 0);
    return launch;
  }
  // MPICH's and Intel MPI's hydra set PMI_SIZE/PMI_RANK; MVAPICH
  // MPI_LOCALNRANKS. One process of theirs is just a process.
  for (const char *name : {"PMI_SIZE", "MPI_LOCALNRANKS"}) {
    const int other = envInt(name);
    if (other > 1) {
      launch.launcher = std::string("an MPI launcher that is not Open MPI's (") +
                        name + "=" + std::to_string(other) + ")";
      launch.unsupported =
          "this process was started by " + launch.launcher +
          "; firn binaries join Open MPI jobs only (Debian: openmpi-bin, "
          "libopenmpi3; launch with Open MPI's mpirun)";
      launch.ranks = other;
      launch.rank = std::max(envInt("PMI_RANK"), 0);
      return launch;
    }
  }
  return launch;
}

struct Communicator::Library {
  void *handle = nullptr;
  bool initialized = false;
  mpi::InitThreadFn initThread = nullptr;
  mpi::CommRankFn commRank = nullptr;
  mpi::CommSizeFn commSize = nullptr;
  mpi::AllreduceFn allreduce = nullptr;
  mpi::IallreduceFn iallreduce = nullptr;
  mpi::IreduceScatterFn ireduceScatter = nullptr;
  mpi::WaitallFn waitall = nullptr;
  mpi::TestallFn testall = nullptr;
  mpi::BcastFn bcast = nullptr;
  mpi::SendFn send = nullptr;
  mpi::RecvFn recv = nullptr;
  mpi::AbortFn abortJob = nullptr;
  mpi::FinalizeFn finalize = nullptr;
  mpi::Comm world = nullptr;
  mpi::Datatype floatType = nullptr, doubleType = nullptr, byteType = nullptr;
  mpi::Op sumOp = nullptr;
  /// The requests in flight; their storage is kept across steps.
  std::vector<mpi::Request> pending;

  template <typename T> bool bind(T &out, const char *name, std::string &error) {
    out = reinterpret_cast<T>(dlsym(handle, name));
    if (out)
      return true;
    error = std::string("the MPI library has no symbol ") + name +
            " (it is not Open MPI 3 to 5)";
    return false;
  }

  bool load(std::string &error) {
    for (const char *name : {"libmpi.so.40", "libmpi.so"})
      if ((handle = dlopen(name, RTLD_NOW | RTLD_GLOBAL)))
        break;
    if (!handle) {
      error = std::string("cannot load Open MPI's library (libmpi.so.40): ") +
              dlerror() +
              "; install it (Debian: apt-get install openmpi-bin "
              "libopenmpi3) on every host of the job";
      return false;
    }
    return bind(initThread, "MPI_Init_thread", error) &&
           bind(commRank, "MPI_Comm_rank", error) &&
           bind(commSize, "MPI_Comm_size", error) &&
           bind(allreduce, "MPI_Allreduce", error) &&
           bind(iallreduce, "MPI_Iallreduce", error) &&
           bind(ireduceScatter, "MPI_Ireduce_scatter", error) &&
           bind(waitall, "MPI_Waitall", error) &&
           bind(testall, "MPI_Testall", error) &&
           bind(bcast, "MPI_Bcast", error) &&
           bind(send, "MPI_Send", error) && bind(recv, "MPI_Recv", error) &&
           bind(abortJob, "MPI_Abort", error) &&
           bind(finalize, "MPI_Finalize", error) &&
           bind(world, mpi::kCommWorld, error) &&
           bind(floatType, mpi::kFloat, error) &&
           bind(doubleType, mpi::kDouble, error) &&
           bind(byteType, mpi::kByte, error) && bind(sumOp, mpi::kSum, error);
  }
};

Communicator::Communicator() = default;

Communicator::~Communicator() {
  if (mpi && mpi->initialized)
    mpi->finalize();
}

bool Communicator::join(const Launch &launch, std::string &error) {
  if (!launch.unsupported.empty()) {
    error = launch.unsupported;
    return false;
  }
  if (launch.ranks <= 1)
    return true;
  mpi = std::make_unique<Library>();
  if (!mpi->load(error))
    return false;
  int provided = 0;
  if (mpi->initThread(nullptr, nullptr, mpi::kThreadFunneled, &provided) !=
      mpi::kSuccess) {
    error = "MPI_Init_thread failed";
    return false;
  }
  mpi->initialized = true;
  mpi->commRank(mpi->world, &myRank);
  mpi->commSize(mpi->world, &numRanks);
  if (myRank != launch.rank || numRanks != launch.ranks) {
    error = "MPI says this is rank " + std::to_string(myRank) + " of " +
            std::to_string(numRanks) + ", but " + launch.launcher +
            " started rank " + std::to_string(launch.rank) + " of " +
            std::to_string(launch.ranks);
    return false;
  }
  mpi->pending.reserve(64);
  return true;
}

bool Communicator::startSum(float *data, int64_t count, std::string &error) {
  if (!distributed())
    return true;
  for (int64_t done = 0; done < count; done += kMaxPiece) {
    mpi::Request request = nullptr;
    const int piece = int(std::min(kMaxPiece, count - done));
    if (mpi->iallreduce(mpi::kInPlace, data + done, piece, mpi->floatType,
                        mpi->sumOp, mpi->world, &request) != mpi::kSuccess) {
      error = "MPI_Iallreduce failed";
      return false;
    }
    mpi->pending.push_back(request);
  }
  return true;
}

bool Communicator::startReduceScatter(const float *data, float *mine,
                                      const int *counts, std::string &error) {
  if (!distributed())
    return true;
  mpi::Request request = nullptr;
  if (mpi->ireduceScatter(data, mine, counts, mpi->floatType, mpi->sumOp,
                          mpi->world, &request) != mpi::kSuccess) {
    error = "MPI_Ireduce_scatter failed";
    return false;
  }
  mpi->pending.push_back(request);
  return true;
}

void Communicator::progress() {
  if (!distributed() || mpi->pending.empty())
    return;
  int done = 0;
  mpi->testall(int(mpi->pending.size()), mpi->pending.data(), &done,
               mpi::kStatusesIgnore);
  if (done)
    mpi->pending.clear();
}

bool Communicator::finish(std::string &error) {
  if (!distributed() || mpi->pending.empty())
    return true;
  const int status = mpi->waitall(int(mpi->pending.size()),
                                  mpi->pending.data(), mpi::kStatusesIgnore);
  mpi->pending.clear();
  if (status == mpi::kSuccess)
    return true;
  error = "MPI_Waitall failed";
  return false;
}

bool Communicator::sum(double *data, int count, std::string &error) {
  if (!distributed())
    return true;
  if (mpi->allreduce(mpi::kInPlace, data, count, mpi->doubleType, mpi->sumOp,
                     mpi->world) == mpi::kSuccess)
    return true;
  error = "MPI_Allreduce failed";
  return false;
}

bool Communicator::sum(float *data, int64_t count, std::string &error) {
  if (!distributed())
    return true;
  for (int64_t done = 0; done < count; done += kMaxPiece) {
    const int piece = int(std::min(kMaxPiece, count - done));
    if (mpi->allreduce(mpi::kInPlace, data + done, piece, mpi->floatType,
                       mpi->sumOp, mpi->world) != mpi::kSuccess) {
      error = "MPI_Allreduce failed";
      return false;
    }
  }
  return true;
}

bool Communicator::broadcast(void *data, int64_t bytes, int root,
                             std::string &error) {
  if (!distributed())
    return true;
  for (int64_t done = 0; done < bytes; done += kMaxPiece) {
    const int piece = int(std::min(kMaxPiece, bytes - done));
    if (mpi->bcast(static_cast<char *>(data) + done, piece, mpi->byteType,
                   root, mpi->world) != mpi::kSuccess) {
      error = "MPI_Bcast failed";
      return false;
    }
  }
  return true;
}

bool Communicator::send(const void *data, int64_t bytes, int to,
                        std::string &error) {
  for (int64_t done = 0; done < bytes; done += kMaxPiece) {
    const int piece = int(std::min(kMaxPiece, bytes - done));
    if (mpi->send(static_cast<const char *>(data) + done, piece,
                  mpi->byteType, to, 0, mpi->world) != mpi::kSuccess) {
      error = "MPI_Send failed";
      return false;
    }
  }
  return true;
}

bool Communicator::receive(void *data, int64_t bytes, int from,
                           std::string &error) {
  for (int64_t done = 0; done < bytes; done += kMaxPiece) {
    const int piece = int(std::min(kMaxPiece, bytes - done));
    if (mpi->recv(static_cast<char *>(data) + done, piece, mpi->byteType,
                  from, 0, mpi->world, mpi::kStatusesIgnore) != mpi::kSuccess) {
      error = "MPI_Recv failed";
      return false;
    }
  }
  return true;
}

void Communicator::abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (distributed())
    mpi->abortJob(mpi->world, code);
  std::exit(code);
}

} // namespace firn::runtime
