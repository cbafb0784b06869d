/* A malloc that counts: loaded with LD_PRELOAD into a compiled training
 * binary by AllocationTest.cpp. Every allocation call in the process (C++'s
 * operator new, the C library's, the kernels' halide_malloc when it reaches
 * the system) is counted; the count is written at exit to the file named by
 * FIRN_ALLOC_COUNT_FILE.
 *
 * Normally this library replaces malloc and friends, forwarding to glibc's
 * own implementations (exported as __libc_*). Under AddressSanitizer
 * (FIRN_SANITIZE=address), whose allocator must be the process's only one,
 * it replaces nothing and counts through ASan's allocation hook instead,
 * which every allocation of ASan's allocator calls. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define FIRN_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIRN_ASAN 1
#endif
#endif

static unsigned long long allocations;

static void counted(void) { __atomic_add_fetch(&allocations, 1, __ATOMIC_RELAXED); }

#ifdef FIRN_ASAN
/* From <sanitizer/allocator_interface.h>, which GCC does not install. */
int __sanitizer_install_malloc_and_free_hooks(
    void (*malloc_hook)(const volatile void *, size_t),
    void (*free_hook)(const volatile void *));

static void onMalloc(const volatile void *block, size_t size) {
  (void)block;
  (void)size;
  counted();
}
static void onFree(const volatile void *block) { (void)block; }

__attribute__((constructor)) static void install(void) {
  __sanitizer_install_malloc_and_free_hooks(onMalloc, onFree);
}
#else
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *block, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *block);

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
#endif

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
