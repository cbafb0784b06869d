/*===- Main.h - The entry point of a compiled model's binary ------*- C -*-===*\
 *
 * firnc generates, next to the kernels and the `firn_model` table,
 *
 *   #include "firn/Runtime/Main.h"
 *   int main(int argc, char **argv) {
 *     return firn_main(argc, argv, &firn_model);
 *   }
 *
 * and links libFirnRuntime.a: everything a binary does (train, eval,
 * predict, info; checkpoints, data, progress) lives behind this one call.
 * Plain C, so the generated file can be C.
 *
\*===----------------------------------------------------------------------===*/
#ifndef FIRN_RUNTIME_MAIN_H
#define FIRN_RUNTIME_MAIN_H

#include "firn/Runtime/ModelABI.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Runs the command line of issue 4 (`train`, `predict`, `eval`, `info`,
 * `--help`) on `model`. Returns the process exit status: 0 on success, 1 for
 * a user error (bad arguments, a missing or corrupt file, data or a
 * checkpoint that does not fit the model, a kernel failure, a non-finite
 * loss under --on-nonfinite=stop, metrics that could not be written), 2 when
 * `model` itself is malformed (a code-generator bug), 128 + N when signal N
 * (SIGINT: 130, SIGTERM: 143) stopped training and its checkpoint was
 * saved (Interrupt.h). Errors are printed to stderr as
 * `PROGRAM: error: MESSAGE`, PROGRAM being the basename of argv[0]. */
int firn_main(int argc, char **argv, const firn_model_desc *model);

#ifdef __cplusplus
}
#endif

#endif /* FIRN_RUNTIME_MAIN_H */
