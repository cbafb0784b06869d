/* A malloc that counts: loaded with LD_PRELOAD into a compiled training
 * binary by AllocationTest.cpp. Every allocation call in the process (C++'s
 * operator new, the C library's, the kernels' halide_malloc when it reaches
 * the system) goes through these; the count is written at exit to the file
 * named by FIRN_ALLOC_COUNT_FILE. glibc exports its own implementations as
 * __libc_*, which these forward to. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *block, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *block);

static unsigned long long allocations;

static void counted(void) { __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED); }

void *malloc(size_t size) { counted(); return __libc_malloc(size); }
void *calloc(size_t count, size_t size) { counted(); return __libc_calloc(count, size); }
void *realloc(void *block, size_t size) { counted(); return __libc_realloc(block, size); }
void *memalign(size_t alignment, size_t size) { counted(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { counted(); return __libc_memalign(alignment, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
  counted();
  void *block = __libc_memalign(alignment, size);
  if (!block)
    return ENOMEM;
  *out = block;
  return 0;
}
void free(void *block) { __libc_free(block); }

__attribute__((destructor)) static void report(void) {
  unsigned long long total = __atomic_load_n(&allocations, __ATOMIC_RELAXED);
  const char *path = getenv("FIRN_ALLOC_COUNT_FILE");
  if (!path)
    return;
  FILE *out = fopen(path, "w");
  if (!out)
    return;
  fprintf(out, "%llu\n", total);
  fclose(out);
}
