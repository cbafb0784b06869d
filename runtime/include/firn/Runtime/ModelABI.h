/*===- ModelABI.h - What a compiled model tells the runtime -------*- C -*-===*\
 *
 * The contract between the code firnc generates and runtime/: firnc emits,
 * next to the Halide kernels, one C table `firn_model` describing the
 * model's state (every parameter and buffer, under its checkpoint name) and
 * its functions (each one AOT-compiled Halide pipeline with its ports). The
 * runtime allocates the state, initializes it, binds buffers to ports and
 * calls the kernels in PyTorch's loop order. Plain C so that a C or C++
 * program can embed a model.
 *
 * Buffers are row-major (the last dimension contiguous, as in PyTorch and
 * NumPy); the kernels take halide_buffer_t whose dimension 0 is the tensor's
 * last dimension (see firn_describe_buffer in Buffers.h).
 *
\*===----------------------------------------------------------------------===*/
#ifndef FIRN_RUNTIME_MODELABI_H
#define FIRN_RUNTIME_MODELABI_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FIRN_MAX_RANK 8

enum firn_dtype { FIRN_F32 = 0, FIRN_I64 = 1 };

enum firn_state_kind {
  FIRN_STATE_PARAM = 0,  /* a learnable parameter: `fc1.weight` */
  FIRN_STATE_BUFFER = 1, /* running statistics, `grad/...`, `optim/...`, `rng/...` */
};

enum firn_init_kind {
  FIRN_INIT_UNIFORM = 0,  /* U(-bound, bound) from the seeded generator */
  FIRN_INIT_CONSTANT = 1, /* `data`: one value (a fill) or all of them */
  FIRN_INIT_LOAD = 2,     /* must come from a checkpoint (--init) */
  FIRN_INIT_NORMAL = 3,   /* N(0, bound^2) from the seeded generator */
};

typedef struct firn_state_desc {
  const char *name; /* the checkpoint key */
  int kind;         /* enum firn_state_kind */
  int dtype;        /* enum firn_dtype */
  int rank;
  int64_t shape[FIRN_MAX_RANK]; /* state never has the batch dimension */
  int init;                     /* enum firn_init_kind */
  double bound;                 /* UNIFORM: the bound; NORMAL: the std */
  const void *data;             /* FIRN_INIT_CONSTANT: float or int64_t */
  int64_t data_count;           /* 1 for a fill, else the element count */
  int trainable;                /* parameters: requires_grad */
  const char *optimizer;        /* parameters: the owner, or NULL */
  int group;                    /* the owner's parameter group */
  /* FIRN_INIT_NORMAL: the row of a [rows, dim] parameter set to zero after
   * drawing (an Embedding's padding_idx), or -1 for none. */
  int64_t zero_row;
} firn_state_desc;

/* One input or output of a function: a piece of state, or an argument or
 * result (then `state` is -1 and `index` says which). */
typedef struct firn_port {
  int state;
  int index;
  int dtype;
  int rank;
  int64_t shape[FIRN_MAX_RANK]; /* -1 marks the batch dimension */
} firn_port;

/* Calls the function's kernels: `buffers` holds one halide_buffer_t* per
 * input, then one per output, then one per temporary, in port order.
 * Returns 0 on success (Halide's error code otherwise). */
typedef int (*firn_kernel_fn)(void **buffers);

/* One kernel of a function, for a runtime that runs them one by one (to
 * send gradients as soon as they exist, or to leave out the updates of
 * parameters another rank owns): `call` takes the function's buffers as
 * `call` below does and passes the kernel those at `slots` (indices into
 * them); once it has run, the function's first `outputs_done` outputs (in
 * port order) are final. In a data-parallel job the buffers at `sum_slots`
 * (temporaries: the inputs of its cross-replica sums, SyncBatchNorm's
 * statistics) must first be summed over the ranks, in place; in one
 * process they are left as they are. */
typedef struct firn_kernel_desc {
  firn_kernel_fn call;
  int num_slots;
  const int *slots;
  int outputs_done;
  int num_sums;
  const int *sum_slots;
} firn_kernel_desc;

typedef struct firn_function_desc {
  const char *name;
  int num_inputs;
  const firn_port *inputs;
  int num_outputs;
  const firn_port *outputs;
  firn_kernel_fn call;
  /* Values one kernel of the function computes and a later one reads
   * (state -1, index its number): the caller provides their buffers, of
   * the port's shape at the call's batch size, and may reuse them. */
  int num_temps;
  const firn_port *temps;
  /* The kernels `call` runs, in order; NULL when the table does not list
   * them (then only `call` can run the function). */
  int num_kernels;
  const firn_kernel_desc *kernels;
} firn_function_desc;

/* A learning-rate schedule (torch.optim.lr_scheduler) attached to an
 * optimizer: the runtime computes each group's learning rate from its base
 * rate and writes it into the group's lr buffer, which the update kernels
 * read (so a schedule costs no recompilation). */
typedef struct firn_schedule_desc {
  const char *name;
  const char *kind;      /* "StepLR", "MultiStepLR", "ExponentialLR", ... */
  const char *optimizer; /* the optimizer it drives */
  int num_groups;
  const int *lr_states;    /* per group: the state index of its lr buffer */
  const double *base_lrs;  /* per group: the configured learning rate */
  /* The schedule's arguments as written, PyTorch's names, `;`-separated:
   * "step_size=10;gamma=0.1", "milestones=2,5,8", "mode=min". */
  const char *options;
} firn_schedule_desc;

typedef struct firn_model_desc {
  const char *name;
  uint64_t seed;
  int accumulate;        /* micro-batches per optimizer step */
  const char *zero_grad; /* "optimizer", "model" or "none" */
  int num_states;
  const firn_state_desc *states;
  /* The forward inputs, in order (names as the .firn file declares them),
   * and the target (NULL when the loss needs none). */
  int num_inputs;
  const char *const *input_names;
  const char *target_name;
  /* Functions; NULL when the model has no train block. */
  const firn_function_desc *predict;        /* inputs -> output, eval mode */
  const firn_function_desc *eval_loss;      /* inputs, target -> loss, eval mode */
  const firn_function_desc *train_step;     /* inputs, target -> loss; grads += */
  const firn_function_desc *zero_grad_fn;   /* clears gradients per policy */
  const firn_function_desc *optimizer_step; /* updates parameters */
  /* zero_grad + train_step + optimizer_step in one kernel, the gradients
   * of cleared buffers never stored (NULL when the model's options, such
   * as accumulate or clipping, need the buffers). */
  const firn_function_desc *fused_step;
  /* Learning-rate schedules, in the order the .firn file declares them. */
  int num_schedules;
  const firn_schedule_desc *schedules;
  /* Per input: an int64 input's values must lie in [0, limit) (the rows of
   * the Embedding tables it indexes); 0 for none (float inputs). NULL: no
   * limits. */
  const int64_t *input_index_limits;
  /* Where the kernels run: "host" (this CPU; NULL means it too) or "cuda"
   * (an NVIDIA GPU: state stays on the device between calls, and the host
   * copy is brought up to date when the host reads it; see Buffers.h). */
  const char *target;
  /* The class-index target value the loss ignores (cross_entropy's
   * ignore_index: padding, PyTorch's -100), which the data may hold besides
   * the classes; NULL for none. */
  const int64_t *target_ignore_index;
} firn_model_desc;

/* The table firnc generates for one model. */
extern const firn_model_desc firn_model;

#ifdef __cplusplus
}
#endif

#endif /* FIRN_RUNTIME_MODELABI_H */
