//===- MpiAbiTest.cpp - MpiAbi.h against the installed mpi.h --------------===//
//
// The runtime calls Open MPI through its own declarations (MpiAbi.h), so
// that binaries need no MPI to link. This test, built only where Open MPI's
// mpi.h is installed and linked with its libmpi, checks them against it:
// every signature is mpi.h's, the predefined handles are the exported
// objects MpiAbi.h names, and the constants are mpi.h's.
//
//===----------------------------------------------------------------------===//
#include "../../runtime/lib/MpiAbi.h"

// The C API only (not Open MPI's deprecated C++ bindings, which need libmpi_cxx).
#define OMPI_SKIP_MPICXX 1

#include <mpi.h>

#include <gtest/gtest.h>

#include <dlfcn.h>
#include <type_traits>

namespace mpi = firn::runtime::mpi;

static_assert(std::is_same_v<decltype(&MPI_Init_thread), mpi::InitThreadFn>);
static_assert(std::is_same_v<decltype(&MPI_Comm_rank), mpi::CommRankFn>);
static_assert(std::is_same_v<decltype(&MPI_Comm_size), mpi::CommSizeFn>);
static_assert(std::is_same_v<decltype(&MPI_Allreduce), mpi::AllreduceFn>);
static_assert(std::is_same_v<decltype(&MPI_Iallreduce), mpi::IallreduceFn>);
static_assert(std::is_same_v<decltype(&MPI_Ireduce_scatter),
                             mpi::IreduceScatterFn>);
static_assert(std::is_same_v<decltype(&MPI_Waitall), mpi::WaitallFn>);
static_assert(std::is_same_v<decltype(&MPI_Testall), mpi::TestallFn>);
static_assert(std::is_same_v<decltype(&MPI_Bcast), mpi::BcastFn>);
static_assert(std::is_same_v<decltype(&MPI_Send), mpi::SendFn>);
static_assert(std::is_same_v<decltype(&MPI_Recv), mpi::RecvFn>);
static_assert(std::is_same_v<decltype(&MPI_Abort), mpi::AbortFn>);
static_assert(std::is_same_v<decltype(&MPI_Finalize), mpi::FinalizeFn>);
static_assert(std::is_same_v<MPI_Comm, mpi::Comm>);
static_assert(std::is_same_v<MPI_Request, mpi::Request>);
static_assert(std::is_same_v<MPI_Status, mpi::Status>);
static_assert(mpi::kThreadFunneled == MPI_THREAD_FUNNELED);
static_assert(mpi::kSuccess == MPI_SUCCESS);

TEST(MpiAbi, ThePredefinedHandlesAreTheNamedObjects) {
  auto object = [](const char *name) { return dlsym(RTLD_DEFAULT, name); };
  EXPECT_EQ(object(mpi::kCommWorld), static_cast<void *>(MPI_COMM_WORLD));
  EXPECT_EQ(object(mpi::kFloat), static_cast<void *>(MPI_FLOAT));
  EXPECT_EQ(object(mpi::kDouble), static_cast<void *>(MPI_DOUBLE));
  EXPECT_EQ(object(mpi::kByte), static_cast<void *>(MPI_BYTE));
  EXPECT_EQ(object(mpi::kSum), static_cast<void *>(MPI_SUM));
  EXPECT_EQ(mpi::kInPlace, MPI_IN_PLACE);
  EXPECT_EQ(mpi::kStatusesIgnore, MPI_STATUSES_IGNORE);
}
