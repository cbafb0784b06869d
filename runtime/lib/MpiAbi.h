//===- MpiAbi.h - The part of Open MPI's C ABI the runtime calls -*- C++ -*-===//
//
// Training binaries do not link libmpi: a binary must run on a machine
// without MPI, and the same binary must join an `mpirun` job. So the
// runtime loads Open MPI's libmpi.so.40 (Open MPI 3 to 5) when mpirun
// started it (Communicator.cpp) and calls it through these types.
//
// They are Open MPI's ABI: its handles (MPI_Comm, MPI_Datatype, MPI_Op,
// MPI_Request) are pointers, the predefined ones the addresses of the
// exported objects named below (mpi.h's MPI_COMM_WORLD is
// `&ompi_mpi_comm_world`), and MPI_IN_PLACE is `(void *)1`. The
// signatures are mpi.h's, checked against the installed mpi.h by
// tests/unit/MpiAbiTest.cpp wherever one is installed.
//
//===----------------------------------------------------------------------===//
#ifndef FIRN_RUNTIME_MPIABI_H
#define FIRN_RUNTIME_MPIABI_H

// Open MPI's handle types (global, as mpi.h declares them).
struct ompi_communicator_t;
struct ompi_datatype_t;
struct ompi_op_t;
struct ompi_request_t;
struct ompi_status_public_t;

namespace firn::runtime::mpi {

using Comm = ::ompi_communicator_t *;
using Datatype = ::ompi_datatype_t *;
using Op = ::ompi_op_t *;
using Request = ::ompi_request_t *;
using Status = ::ompi_status_public_t; // Only passed as ..._IGNORE.

using InitThreadFn = int (*)(int *argc, char ***argv, int required,
                             int *provided);
using CommRankFn = int (*)(Comm comm, int *rank);
using CommSizeFn = int (*)(Comm comm, int *size);
using AllreduceFn = int (*)(const void *sendbuf, void *recvbuf, int count,
                            Datatype datatype, Op op, Comm comm);
using IallreduceFn = int (*)(const void *sendbuf, void *recvbuf, int count,
                             Datatype datatype, Op op, Comm comm,
                             Request *request);
using IreduceScatterFn = int (*)(const void *sendbuf, void *recvbuf,
                                 const int recvcounts[], Datatype datatype,
                                 Op op, Comm comm, Request *request);
using WaitallFn = int (*)(int count, Request requests[], Status *statuses);
using TestallFn = int (*)(int count, Request requests[], int *flag,
                          Status *statuses);
using BcastFn = int (*)(void *buffer, int count, Datatype datatype, int root,
                        Comm comm);
using SendFn = int (*)(const void *buf, int count, Datatype datatype,
                       int dest, int tag, Comm comm);
using RecvFn = int (*)(void *buf, int count, Datatype datatype, int source,
                       int tag, Comm comm, Status *status);
using AbortFn = int (*)(Comm comm, int errorcode);
using FinalizeFn = int (*)();

inline void *const kInPlace = reinterpret_cast<void *>(1);
inline Status *const kStatusesIgnore = nullptr;
constexpr int kThreadFunneled = 1; ///< MPI_THREAD_FUNNELED
constexpr int kSuccess = 0;        ///< MPI_SUCCESS

// The exported objects behind the predefined handles.
constexpr const char *kCommWorld = "ompi_mpi_comm_world";
constexpr const char *kFloat = "ompi_mpi_float";
constexpr const char *kDouble = "ompi_mpi_double";
constexpr const char *kByte = "ompi_mpi_byte";
constexpr const char *kSum = "ompi_mpi_op_sum";

} // namespace firn::runtime::mpi

#endif // FIRN_RUNTIME_MPIABI_H
