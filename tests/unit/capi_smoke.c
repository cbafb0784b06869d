/*===- capi_smoke.c - firn.h compiles as C99 ----------------------*- C -*-===*\
 *
 * Built (never run) as the static library firn-capi-c-check with -std=c99
 * -pedantic -Werror: proves that firn.h and the ModelABI.h it includes are
 * valid C, as a C program embedding a compiled model needs them to be. It
 * calls only the introspection functions, on a model pointer it is given.
 *
\*===----------------------------------------------------------------------===*/

#include "firn/Runtime/firn.h"

#include <stddef.h>

/* The number of scalars one sample's input 0 and output take, or -1 when
 * the model does not say. */
int64_t firn_capi_smoke_sizes(const firn_model_desc *model,
                              int64_t *output_size) {
  int64_t shape[FIRN_MAX_RANK];
  int rank = 0;
  int64_t input_size = 1;
  int d;
  if (firn_num_inputs(model) < 1 ||
      firn_input_shape(model, 0, shape, &rank) != 0)
    return -1;
  for (d = 1; d < rank; ++d)
    input_size *= shape[d];
  *output_size = -1;
  if (firn_output_shape(model, shape, &rank) == 0) {
    *output_size = 1;
    for (d = 1; d < rank; ++d)
      *output_size *= shape[d];
  }
  if (firn_target_dtype(model) == FIRN_I64 &&
      firn_target_shape(model, shape, &rank) != 0)
    return -1;
  {
    int dtype = -1;
    if (model->num_states > 0 && firn_tensor_shape(model, model->states[0].name,
                                                   &dtype, shape, &rank) != 0)
      return -1;
  }
  {
    /* The session API is declared too; taking its addresses checks the
     * prototypes without running anything. */
    firn_session *(*create)(const firn_model_desc *, uint64_t) = firn_create;
    void (*destroy)(firn_session *) = firn_destroy;
    if (create == NULL || destroy == NULL)
      return -1;
  }
  return input_size;
}
