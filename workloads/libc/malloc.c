/* A small allocator: power-of-two size classes carved from the brk heap, each with its own
 * free list; blocks too big for the largest class come straight from mmap and go back with
 * munmap, so large working sets return their memory to the kernel when freed. One lock makes it
 * safe in threads. */
#include "libc.h"

#define HEADER 16                 /* keeps payloads 16-byte aligned */
#define MIN_SHIFT 5               /* smallest block: 32 bytes with its header */
#define MAX_SHIFT 16              /* largest class: 64 KiB */
#define LARGE_CLASS 0xffffffffu

struct header {
    uint32_t cls;  /* size-class shift, or LARGE_CLASS */
    uint32_t magic;
    uint64_t size; /* mapped bytes, for large blocks */
};
#define MAGIC 0x6d656d21u

static void *free_lists[MAX_SHIFT + 1];
static struct user_lock heap_lock;

static void *malloc_locked(size_t n) {
    if (n == 0)
        n = 1;
    if (n > ((size_t)1 << MAX_SHIFT) - HEADER) {
        size_t total = (n + HEADER + 4095) & ~(size_t)4095;
        if (total < n)
            return 0;
        struct header *h = mmap_anon(total, 0);
        if (h == (void *)-1)
            return 0;
        h->cls = LARGE_CLASS;
        h->magic = MAGIC;
        h->size = total;
        return (char *)h + HEADER;
    }
    unsigned cls = MIN_SHIFT;
    while (((size_t)1 << cls) < n + HEADER)
        ++cls;
    struct header *h = free_lists[cls];
    if (h) {
        free_lists[cls] = *(void **)((char *)h + HEADER);
    } else {
        h = sbrk((intptr_t)1 << cls);
        if (h == (void *)-1)
            return 0;
    }
    h->cls = cls;
    h->magic = MAGIC;
    h->size = 0;
    return (char *)h + HEADER;
}

void *malloc(size_t n) {
    user_lock(&heap_lock);
    void *p = malloc_locked(n);
    user_unlock(&heap_lock);
    return p;
}

void *calloc(size_t count, size_t size) {
    if (size && count > (size_t)-1 / size)
        return 0;
    void *p = malloc(count * size);
    if (p)
        memset(p, 0, count * size);
    return p;
}

void free(void *p) {
    if (!p)
        return;
    struct header *h = (struct header *)((char *)p - HEADER);
    if (h->magic != MAGIC) {
        printf("free: %p was not allocated by malloc\n", p);
        exit(3);
    }
    h->magic = 0;
    if (h->cls == LARGE_CLASS) {
        munmap(h, h->size);
        return;
    }
    user_lock(&heap_lock);
    *(void **)p = free_lists[h->cls];
    free_lists[h->cls] = h;
    user_unlock(&heap_lock);
}

/* The block's usable bytes: its class size or its mapping, less the header. */
static size_t usable(void *p) {
    struct header *h = (struct header *)((char *)p - HEADER);
    return h->cls == LARGE_CLASS ? h->size - HEADER : ((size_t)1 << h->cls) - HEADER;
}

void *realloc(void *p, size_t n) {
    if (!p)
        return malloc(n);
    if (n == 0) {
        free(p);
        return 0;
    }
    struct header *h = (struct header *)((char *)p - HEADER);
    if (h->magic != MAGIC) {
        printf("realloc: %p was not allocated by malloc\n", p);
        exit(3);
    }
    size_t have = usable(p);
    if (n <= have)
        return p;
    void *q = malloc(n);
    if (!q)
        return 0;
    memcpy(q, p, have);
    free(p);
    return q;
}

/* Payloads are 16-byte aligned; larger alignments are not provided. */
void *aligned_alloc(size_t align, size_t n) {
    if (align > HEADER || (align & (align - 1))) {
        errno = EINVAL;
        return 0;
    }
    return malloc(n);
}
