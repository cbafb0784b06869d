/* MPI_Allreduce on float sums, as firn's gradient buckets use it: the time
 * of one allreduce of each size, the best of several repetitions, printed
 * by rank 0 as "bytes seconds" lines. bench/distributed/run.py builds it
 * with mpicc and fits the cost model's latency and bandwidth to it
 * (docs/distributed.md). A benchmark tool only: firn's binaries do not
 * link MPI (runtime/lib/Communicator.cpp loads it). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const long sizes[] = {4096, 65536, 1 << 20, 4 << 20, 16 << 20};
  float *data = malloc(16 << 20);
  for (long i = 0; i < (16 << 20) / 4; ++i)
    data[i] = 1.0f;
  for (int s = 0; s < 5; ++s) {
    const int count = (int)(sizes[s] / 4);
    const int reps = sizes[s] >= (4 << 20) ? 5 : 50;
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
      MPI_Barrier(MPI_COMM_WORLD);
      const double t = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, data, count, MPI_FLOAT, MPI_SUM,
                    MPI_COMM_WORLD);
      const double took = MPI_Wtime() - t;
      double slowest;
      MPI_Allreduce(&took, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      if (slowest < best)
        best = slowest;
    }
    if (rank == 0)
      printf("%ld %.9f\n", sizes[s], best);
  }
  free(data);
  MPI_Finalize();
  return 0;
}
