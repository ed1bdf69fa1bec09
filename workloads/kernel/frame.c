/* Physical frame allocator with reference counts.
 *
 * Frames below `first_free` belong to the engine (kernel image, program text, the archive)
 * or to this allocator's count array and are never handed out. Free memory is handed out
 * from a bump pointer; freed frames go on LIFO free lists (one for 4 KiB, one for 2 MiB
 * frames) linked through their first word, so the allocator needs no memory of its own
 * beyond one 16-bit count per frame. The count is how many page-table entries map the
 * frame: fork adds one per shared page, and copy-on-write may reuse a page whose count is 1.
 * One lock guards the counts, the lists and the bump pointer; zeroing a new frame happens
 * outside it (the frame is already the caller's).
 */
#include "kernel.h"

u64 frames_in_use;
static struct spinlock frame_lock = SPINLOCK("frames");

static u16 *refs;       /* one count per frame; for a 2 MiB frame the first frame's count */
static u64 first_free;  /* frames below this are reserved */
static u64 bump, bump_end;
static u64 free4k, free2m; /* heads of the free lists (gPA), 0 when empty */

static u64 *link_of(u64 pa) { return (u64 *)P2V(pa); }

static void zero_frame(u64 pa, u64 size) {
    u64 *p = (u64 *)P2V(pa);
    for (u64 i = 0; i < size / 8; ++i)
        p[i] = 0;
}

void frame_init(u64 free_start, u64 mem_bytes) {
    u64 nframes = mem_bytes / PAGE_SIZE;
    refs = (u16 *)P2V(free_start);
    u64 refs_bytes = page_up(nframes * sizeof(u16));
    zero_frame(free_start, refs_bytes);
    first_free = free_start + refs_bytes;
    bump = first_free;
    bump_end = page_down(mem_bytes);
}

int frame_reserved(u64 pa) { return pa < first_free; }
int frame_count(u64 pa) { return refs[pa / PAGE_SIZE]; }

static void push4k(u64 pa) {
    *link_of(pa) = free4k;
    free4k = pa;
}

u64 frame_alloc(void) {
    u64 pa;
    spin_lock(&frame_lock);
    if (free4k) {
        pa = free4k;
        free4k = *link_of(pa);
    } else if (bump < bump_end) {
        pa = bump;
        bump += PAGE_SIZE;
    } else if (free2m) {
        /* Out of fresh memory: break a free 2 MiB frame into 4 KiB ones. */
        pa = free2m;
        free2m = *link_of(pa);
        for (u64 f = pa + PAGE_SIZE; f < pa + HUGE_SIZE; f += PAGE_SIZE)
            push4k(f);
    } else {
        spin_unlock(&frame_lock);
        return 0;
    }
    refs[pa / PAGE_SIZE] = 1;
    frames_in_use += 1;
    spin_unlock(&frame_lock);
    zero_frame(pa, PAGE_SIZE);
    return pa;
}

u64 frame_alloc_huge(void) {
    u64 pa;
    spin_lock(&frame_lock);
    if (free2m) {
        pa = free2m;
        free2m = *link_of(pa);
    } else {
        u64 aligned = (bump + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1);
        if (aligned + HUGE_SIZE > bump_end) {
            spin_unlock(&frame_lock);
            return 0;
        }
        /* The frames skipped to reach alignment stay usable as 4 KiB frames. */
        for (; bump < aligned; bump += PAGE_SIZE)
            push4k(bump);
        pa = aligned;
        bump = aligned + HUGE_SIZE;
    }
    refs[pa / PAGE_SIZE] = 1;
    frames_in_use += HUGE_SIZE / PAGE_SIZE;
    spin_unlock(&frame_lock);
    zero_frame(pa, HUGE_SIZE);
    return pa;
}

void frame_ref(u64 pa) {
    if (frame_reserved(pa))
        return;
    spin_lock(&frame_lock);
    if (refs[pa / PAGE_SIZE] == 0xffff)
        panic("frame %llx: reference count overflow", pa);
    refs[pa / PAGE_SIZE]++;
    spin_unlock(&frame_lock);
}

/* Drops one reference under the lock; 1 if that was the last (the frame is the caller's to
 * free). */
static int unref(u64 pa) {
    u16 *r = &refs[pa / PAGE_SIZE];
    if (*r == 0)
        panic("frame %llx freed twice", pa);
    return --*r == 0;
}

static void free_locked(u64 pa, int huge) {
    if (huge) {
        *link_of(pa) = free2m;
        free2m = pa;
        frames_in_use -= HUGE_SIZE / PAGE_SIZE;
    } else {
        push4k(pa);
        frames_in_use -= 1;
    }
}

void frame_put(u64 pa, int huge) {
    if (frame_reserved(pa))
        return;
    spin_lock(&frame_lock);
    if (unref(pa))
        free_locked(pa, huge);
    spin_unlock(&frame_lock);
}

/* A gather (Linux's mmu_gather) holds the frames an unmap freed until every CPU has flushed
 * them from its TLB; the frames are linked through themselves, newest first, and go back onto
 * the free lists in the order frame_put would have put them. */
void frame_gather_init(struct frame_gather *g) {
    g->head4k = g->tail4k = g->head2m = g->tail2m = 0;
    g->frames = 0;
}

void frame_put_gather(u64 pa, int huge, struct frame_gather *g) {
    if (frame_reserved(pa))
        return;
    spin_lock(&frame_lock);
    int last = unref(pa);
    spin_unlock(&frame_lock);
    if (!last)
        return;
    u64 *head = huge ? &g->head2m : &g->head4k, *tail = huge ? &g->tail2m : &g->tail4k;
    *link_of(pa) = *head;
    if (!*head)
        *tail = pa;
    *head = pa;
    g->frames += huge ? HUGE_SIZE / PAGE_SIZE : 1;
}

void frame_gather_release(struct frame_gather *g) {
    if (!g->head4k && !g->head2m)
        return;
    spin_lock(&frame_lock);
    if (g->head4k) {
        *link_of(g->tail4k) = free4k;
        free4k = g->head4k;
    }
    if (g->head2m) {
        *link_of(g->tail2m) = free2m;
        free2m = g->head2m;
    }
    frames_in_use -= g->frames;
    spin_unlock(&frame_lock);
    frame_gather_init(g);
}
