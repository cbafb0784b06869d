/*===- firn.h - The C API of a compiled firn model ----------------*- C -*-===*\
 *
 * What a C or C++ program uses to embed a model that `firnc --emit=lib`
 * compiled: the static library defines the model table `firn_model`
 * (ModelABI.h) and its kernels, libFirnRuntime.a defines the functions
 * below. The same operations the compiled binary's `train`, `predict` and
 * checkpoints offer, one batch at a time from the program's own arrays:
 *
 *   firn_session *s = firn_create(&firn_model, firn_model.seed);
 *   if (!s) abort();                                  // out of memory
 *   if (firn_load(s, "init.safetensors") != 0)        // optional
 *     fprintf(stderr, "%s\n", firn_last_error(s));
 *   for (...) {                                       // training
 *     const float *inputs[] = {x};
 *     float loss;
 *     if (firn_train_step(s, batch, inputs, y, &loss) != 0) ...
 *   }
 *   firn_predict(s, batch, inputs, out);              // inference
 *   firn_save(s, "trained.safetensors", 0);
 *   firn_destroy(s);
 *
 * Data layout. Every array is row-major (the last dimension contiguous, as
 * in NumPy and PyTorch), with no padding between rows. Input i of the model
 * (in the order the .firn file declares them; names in
 * `model->input_names`) is float32 of shape [batch, ...] where `...` is the
 * per-sample shape firn_input_shape reports; the target is int64 (class
 * indices) or float32 as firn_target_dtype says, of shape [batch, ...]
 * (firn_target_shape); predict's output is float32 [batch, ...]
 * (firn_output_shape). The API copies what it is given and never keeps a
 * pointer to a caller's array after a call returns.
 *
 * Errors. Every function that can fail returns 0 on success and non-zero
 * on failure; it never aborts or crashes on a bad argument (a NULL pointer,
 * batch <= 0, an index out of range, an unknown tensor name, a size that
 * does not match, a model without a train block asked to train). After a
 * failed call on a session, firn_last_error(session) is a NUL-terminated
 * message naming the function and what was wrong (the file, the tensor, the
 * argument); after a successful call it is "". The message is owned by the
 * session and valid until the next call on it or firn_destroy. The
 * introspection functions, which take the model rather than a session,
 * report failure by their return value only.
 *
 * State. A session holds one copy of the model's state: every parameter
 * and buffer (gradients `grad/<name>`, optimizer state `optim/...`, step
 * counters), each under its checkpoint name, as the binary's checkpoints
 * (safetensors) store them. A failed call leaves the state as it was,
 * except where a function's comment says otherwise.
 *
 * Threads. A session is not thread-safe: calls on one session must not
 * overlap (serialize them yourself). Different sessions share nothing
 * mutable and may be used from different threads at once, also on the same
 * model. The introspection functions only read the constant model table and
 * are safe from any thread.
 *
\*===----------------------------------------------------------------------===*/
#ifndef FIRN_RUNTIME_FIRN_H
#define FIRN_RUNTIME_FIRN_H

#include "firn/Runtime/ModelABI.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque handle: one model's state and the last error message. */
typedef struct firn_session firn_session;

/*===------------------------------------------------------------------------===
 * Sessions
 *===------------------------------------------------------------------------===*/

/* Creates a session for `model` (usually `&firn_model`, which must outlive
 * the session) and initializes its state as the binary's `train` does with
 * `--seed seed`: constants and zeros from the table, FIRN_INIT_UNIFORM
 * parameters drawn from `seed` (pass `model->seed` for the compiled
 * default), the step counter at 0. Parameters whose init is
 * FIRN_INIT_LOAD have no value yet: give them one with firn_load or
 * firn_set_tensor before training or predicting (those calls fail, naming
 * the parameter, until then).
 *
 * Returns NULL only when memory runs out. A NULL or malformed `model` still
 * gives a session, on which every call fails with a message saying what is
 * wrong with the table; check with firn_last_error right after creating.
 * Free the session with firn_destroy. */
firn_session *firn_create(const firn_model_desc *model, uint64_t seed);

/* Frees the session and everything it owns (including the message
 * firn_last_error returned). NULL is allowed and does nothing. */
void firn_destroy(firn_session *session);

/* The message of the last failed call on `session` ("" when the last call
 * succeeded), NUL-terminated, owned by the session: valid until the next
 * call on it or firn_destroy. Never NULL; for a NULL session a fixed
 * message. */
const char *firn_last_error(const firn_session *session);

/*===------------------------------------------------------------------------===
 * Checkpoints (safetensors, as the binary's --init and --save)
 *===------------------------------------------------------------------------===*/

/* Loads the safetensors file at `checkpoint_path`: a full firn checkpoint
 * (from firn_save or the binary's --save, which also restores the step
 * counter and optimizer state) or a parameters-only file (a PyTorch state
 * dict converted to safetensors; the step counter restarts at 0). Every
 * parameter of the model must be in the file; buffers it lacks keep their
 * values; keys the model does not have are ignored. F64 data for a float32
 * state and I32 for an int64 state are converted. A missing, corrupt or
 * misfitting file (wrong shape or dtype, a missing parameter) fails with a
 * message naming the file and the tensor, and then nothing has changed; so
 * does a file holding NaN or an infinity in any tensor (a diverged run's),
 * as the binary's --init does without --allow-nonfinite. */
int firn_load(firn_session *session, const char *checkpoint_path);

/* Writes the state to `path` as a firn checkpoint: parameters and buffers
 * under their checkpoint names, gradients (`grad/<name>`) only when
 * `save_grads` is non-zero, and the metadata {"firn_model", "format",
 * "step"}. The file is replaced atomically (written to a temporary file,
 * then renamed). */
int firn_save(firn_session *session, const char *path, int save_grads);

/*===------------------------------------------------------------------------===
 * Training: PyTorch's loop, one call per line of it
 *===------------------------------------------------------------------------===*/

/* optimizer.zero_grad(): clears the gradients the compiled zero_grad policy
 * says to clear (`model->zero_grad`; nothing when it is "none"). Fails for
 * a model without a train block. */
int firn_zero_grad(firn_session *session);

/* loss = criterion(model(inputs), target); loss.backward(): one forward and
 * backward pass in training mode over one micro-batch of `batch` (> 0)
 * samples. The gradients are ADDED to the gradient buffers, as backward()
 * adds to `.grad`; the parameters do not change. `inputs` holds
 * `firn_num_inputs(model)` pointers, inputs[i] to float32 [batch, ...input
 * i's per-sample shape]; `target` points to the target array (int64 or
 * float32, see firn_target_dtype) and must be NULL when the model's loss
 * takes none. When `loss_out` is not NULL it receives the micro-batch's
 * loss (the value the compiled loss computes, usually a mean over the
 * batch). Fails for a model without a train block or whose FIRN_INIT_LOAD
 * parameters have no value yet; a failed call leaves the state unchanged. */
int firn_backward(firn_session *session, int64_t batch,
                  const float *const *inputs, const void *target,
                  float *loss_out);

/* optimizer.step(): updates the parameters from the gradients (and the
 * optimizer's state: momenta, step counts), then counts one step (the
 * "step" a checkpoint records). Fails for a model without a train block or
 * whose FIRN_INIT_LOAD parameters have no value yet; a failed call leaves
 * the state unchanged. */
int firn_optimizer_step(firn_session *session);

/* One optimizer step on one micro-batch: firn_zero_grad, firn_backward,
 * firn_optimizer_step, in that order, exactly as PyTorch's usual loop body
 *
 *   optimizer.zero_grad(); loss = criterion(model(x), y); loss.backward();
 *   optimizer.step()
 *
 * and as the compiled binary's `train` takes a step with accumulation 1.
 * (A model compiled with `accumulate K` takes, in the binary, K
 * micro-batches per step: call firn_zero_grad, then firn_backward K times,
 * then firn_optimizer_step to do the same.) The arguments are
 * firn_backward's. If a part fails the later parts are not run: the
 * gradients may then be cleared already, but the parameters, the optimizer
 * state and the step counter are unchanged. */
int firn_train_step(firn_session *session, int64_t batch,
                    const float *const *inputs, const void *target,
                    float *loss_out);

/*===------------------------------------------------------------------------===
 * Inference
 *===------------------------------------------------------------------------===*/

/* The model's output for `batch` (> 0) samples, in evaluation mode (no
 * dropout, running statistics for batch norm), as the binary's `predict`:
 * `inputs` as for firn_backward; `output` receives float32 [batch, ...the
 * per-sample output shape] (firn_output_shape), batch * that many floats.
 * Changes no state. Fails for a model compiled without a predict function
 * or whose FIRN_INIT_LOAD parameters have no value yet; `output` is written
 * only on success. */
int firn_predict(firn_session *session, int64_t batch,
                 const float *const *inputs, float *output);

/*===------------------------------------------------------------------------===
 * Tensors of the state, by checkpoint name
 *===------------------------------------------------------------------------===*/

/* Copies the state tensor `name` (a parameter such as "fc1.weight", or a
 * buffer such as "grad/fc1.weight" or "optim/sgd/0/lr") into `dst`:
 * row-major, float32 or int64 as its dtype (firn_tensor_shape), and
 * `dst_bytes` must be exactly its size in bytes (elements * 4 or 8). */
int firn_get_tensor(firn_session *session, const char *name, void *dst,
                    int64_t dst_bytes);

/* Replaces the state tensor `name` with the `src_bytes` bytes at `src`,
 * laid out as firn_get_tensor writes them (`src_bytes` must be exactly the
 * tensor's size). A FIRN_INIT_LOAD parameter set this way counts as
 * loaded. */
int firn_set_tensor(firn_session *session, const char *name, const void *src,
                    int64_t src_bytes);

/*===------------------------------------------------------------------------===
 * Introspection of the model table (no session needed)
 *
 * The shape functions write `*rank` and shape[0 .. *rank) into `shape`,
 * which must have room for FIRN_MAX_RANK values. The batch dimension (the
 * first one of inputs, target and output) is reported as -1. They return 0
 * on success and non-zero for a NULL or malformed model, a NULL `shape` or
 * `rank`, or an index or name the model does not have.
 *===------------------------------------------------------------------------===*/

/* The number of inputs the model's forward takes (the length of the
 * `inputs` arrays above), or -1 for a NULL or malformed model. */
int firn_num_inputs(const firn_model_desc *model);

/* The shape of input `i` (0 <= i < firn_num_inputs), batch first. */
int firn_input_shape(const firn_model_desc *model, int i, int64_t *shape,
                     int *rank);

/* The shape of predict's output, batch first. Fails for a model without a
 * predict function. */
int firn_output_shape(const firn_model_desc *model, int64_t *shape, int *rank);

/* The target's dtype (FIRN_I64 for class indices, FIRN_F32 otherwise), or
 * -1 when the model's loss takes no target (or the model is NULL or
 * malformed). */
int firn_target_dtype(const firn_model_desc *model);

/* The target's shape, batch first. Fails when the model takes no target. */
int firn_target_shape(const firn_model_desc *model, int64_t *shape, int *rank);

/* The dtype (enum firn_dtype) and shape of the state tensor `name` (state
 * has no batch dimension); `dtype` may be NULL. */
int firn_tensor_shape(const firn_model_desc *model, const char *name,
                      int *dtype, int64_t *shape, int *rank);

#ifdef __cplusplus
}
#endif

#endif /* FIRN_RUNTIME_FIRN_H */
