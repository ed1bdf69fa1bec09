/* Address spaces: 4-level page tables, or 5-level ones when the engine booted with CR4.LA57
 * (VMMU_BOOT_FLAG_LA57) (Intel SDM vol. 3, 4.5), demand-zero and copy-on-write.
 *
 * Layout of every address space (abi.h):
 *   PML4[0]        code: the kernel text (one page table shared by every address space)
 *                  and the running program's text, both at VA == gPA, read-only;
 *   PML4[1..127]   user data: program data and heap, anonymous mmap, the stack;
 *   PML4[128..]    kernel half: the direct map, the same entries in every address space.
 * With 5 levels that PML4 is the one under PML5[0], and the mmap region and the stack move to
 * PML5[1] (2^48 up). The root is what CR3 holds (a PML4 or a PML5); `pml4` names it below.
 * The kernel only ever edits page tables through the direct map. An mm's lock guards its page
 * tables and regions; a change that drops translations other CPUs may cache is shot down on them
 * (smp.c) before the frames it unmapped are freed.
 */
#include "kernel.h"
#include "x86.h"

u64 kernel_pml4;
int paging_levels = 4;                    /* 5 with VMMU_BOOT_FLAG_LA57 */
u64 user_mmap_base = VMMU_USER_MMAP_BASE; /* moved up by 2^48 with 5 levels */
u64 user_stack_top = VMMU_USER_STACK_TOP;
static u64 ktext_pt;    /* page table mapping the kernel text, shared by all address spaces */
extern char __text_start[], __text_end[];

/* PML4 slots below the direct map's hold the per-process part of an address space. */
#define PML4_USER_SLOTS ((VMMU_DIRECT_MAP >> 39) & 0x1ff)

static unsigned pt_index(u64 va, int level) { return (va >> (12 + 9 * (level - 1))) & 0x1ff; }
static u64 *table(u64 pa) { return (u64 *)P2V(pa); }

/* Under a hypervisor that recommends it (hv.c), by HvSwitchVirtualAddressSpace. cr3_loads
 * counts the plain `mov cr3` loads only. */
void switch_cr3(u64 pml4) {
    /* Published before the load: a shootdown that reads it (the cpumask) after changing a table
     * either targets this CPU or comes after its CR3 load saw the change. */
    mycpu()->loaded_cr3 = pml4;
    if (hv_recommended & VMMU_HV_REC_SWITCH_AS) {
        hv_switch_address_space(pml4);
        return;
    }
    kstats.cr3_loads++;
    write_cr3(pml4);
}

/* Switching to the address space already loaded needs no flush. */
void vm_activate(u64 pml4) {
    if (pml4 != mycpu()->loaded_cr3)
        switch_cr3(pml4);
}

/* Every non-global entry of the address space, on every CPU: here a CR3 reload, or
 * HvFlushVirtualAddressSpace where Hyper-V recommends it; elsewhere a shootdown. */
void vm_flush_all(u64 pml4) {
    if (pml4 == mycpu()->loaded_cr3) {
        if (hv_recommended & VMMU_HV_REC_LOCAL_FLUSH)
            hv_flush_address_space(pml4);
        else
            switch_cr3(pml4);
    }
    tlb_shootdown(pml4, FLUSH_ALL, 0, 0);
}

/* The pages one vm_unmap or fault removes or downgrades: flushed here at once (invlpg) or as one
 * HvFlushVirtualAddressList (Windows batches its flushes the same way), on other CPUs by one
 * shootdown at the end; the frames they mapped are freed only after that (a stale translation
 * on another CPU must never reach a frame already given to someone else). */
struct flush_batch {
    u64 va[FLUSH_CEILING_PAGES];
    u32 n;
    int overflow;  /* more than the ceiling: flush the whole space instead */
    int hv_listed; /* va[] waits for one local HvFlushVirtualAddressList */
    struct frame_gather freed;
};

/* A changed or removed entry may still sit in a TLB: invalidate it here if this address space
 * is the loaded one (others are flushed when CR3 is next loaded with them), and note it for the
 * other CPUs. */
static void flush_page(u64 pml4, u64 va, struct flush_batch *b) {
    if (b->n < FLUSH_CEILING_PAGES)
        b->va[b->n++] = va;
    else
        b->overflow = 1;
    if (pml4 != mycpu()->loaded_cr3)
        return;
    if (hv_recommended & VMMU_HV_REC_LOCAL_FLUSH) {
        b->hv_listed = 1;
        return;
    }
    kstats.invlpgs++;
    invlpg(va);
}

/* After the edits: the local hypercall if one is due, the remote shootdown, then the frames. */
static void flush_finish(u64 pml4, struct flush_batch *b, int full) {
    if (b->hv_listed && !full)
        hv_flush_address_list(pml4, b->va, b->n);
    if (b->n || b->overflow)
        tlb_shootdown(pml4, full || b->overflow ? FLUSH_ALL : FLUSH_PAGES, b->va, b->n);
    frame_gather_release(&b->freed);
}

/* The entry at `level` (1 = PT ... 4 = PML4, 5 = PML5) that maps va, creating the tables above
 * it if `create`. Returns 0 if a table is missing (or cannot be allocated) or a 2 MiB page sits
 * where a table was needed. Upper levels are permissive; the leaf decides the rights. With five
 * levels the PML5 entry comes first; it leads to both halves, so it always lets users through.
 * (The four-level loop below keeps its constant bounds: the compiler unrolls it.) */
static inline __attribute__((always_inline)) u64 *entry_at(u64 pml4, u64 va, int level,
                                                           int create) {
    u64 *t = table(pml4);
    u64 up = va < VMMU_DIRECT_MAP || va >= VMMU_LA57_HIGH ? PTE_P | PTE_W | PTE_U : PTE_P | PTE_W;
    if (paging_levels == 5) {
        u64 *e = &t[pt_index(va, 5)];
        if (level == 5)
            return e;
        if (!(*e & PTE_P)) {
            if (!create)
                return 0;
            u64 f = frame_alloc();
            if (!f)
                return 0;
            *e = f | PTE_P | PTE_W | PTE_U;
        }
        t = table(*e & PTE_ADDR);
    }
    for (int l = 4; l > level; --l) {
        u64 *e = &t[pt_index(va, l)];
        if (!(*e & PTE_P)) {
            if (!create)
                return 0;
            u64 f = frame_alloc();
            if (!f)
                return 0;
            *e = f | up;
        } else if (*e & PTE_PS) {
            return 0;
        }
        t = table(*e & PTE_ADDR);
    }
    return &t[pt_index(va, level)];
}

u64 *vm_entry(u64 pml4, u64 va, int level, int create) {
    return entry_at(pml4, va, level, create);
}

void vm_init(u64 mem_bytes) {
    if (boot->flags & VMMU_BOOT_FLAG_LA57) {
        paging_levels = 5;
        user_mmap_base = VMMU_USER_MMAP_BASE_LA57;
        user_stack_top = VMMU_USER_STACK_TOP_LA57;
        kprintf("vmmu kernel: 5-level paging (LA57), stack and mmap above 2^48\n");
    }
    kernel_pml4 = frame_alloc();
    if (!kernel_pml4)
        panic("no memory for the kernel page tables");
    /* Direct map: 2 MiB pages, global (they are the same in every address space, so a CR3
     * load need not flush them, SDM 4.10.2.4), never executable. */
    for (u64 pa = 0; pa + HUGE_SIZE <= mem_bytes; pa += HUGE_SIZE) {
        u64 *e = entry_at(kernel_pml4, VMMU_DIRECT_MAP + pa, 2, 1);
        if (!e)
            panic("no memory for the direct map");
        *e = pa | PTE_P | PTE_W | PTE_PS | PTE_G | PTE_NX;
    }
    /* Kernel text: identity-mapped, read-only, global. */
    if ((u64)__text_end > HUGE_SIZE)
        panic("kernel text must end below 2 MiB to share one page table");
    for (u64 va = page_down(__text_start); va < (u64)__text_end; va += PAGE_SIZE) {
        u64 *e = entry_at(kernel_pml4, va, 1, 1);
        if (!e)
            panic("no memory for the kernel text map");
        *e = va | PTE_P | PTE_G;
    }
    ktext_pt = *entry_at(kernel_pml4, 0, 2, 0) & PTE_ADDR;
    switch_cr3(kernel_pml4);
}

u64 vm_new(void) {
    u64 pml4 = frame_alloc();
    if (!pml4)
        return 0;
    u64 *t = table(pml4), *k = table(kernel_pml4);
    if (paging_levels == 5) {
        /* The kernel half lives in the PML4 under PML5[0]. */
        if (!entry_at(pml4, 0, 4, 1)) {
            frame_put(pml4, 0);
            return 0;
        }
        t = table(t[0] & PTE_ADDR);
        k = table(k[0] & PTE_ADDR);
    }
    for (unsigned i = PML4_USER_SLOTS; i < 512; ++i)
        t[i] = k[i];
    u64 *pde = entry_at(pml4, 0, 2, 1);
    if (!pde) {
        vm_free(pml4);
        return 0;
    }
    *pde = ktext_pt | PTE_P | PTE_W;
    return pml4;
}

static void free_table(u64 pa, int level) {
    u64 *t = table(pa);
    for (int i = 0; i < 512; ++i) {
        u64 e = t[i];
        if (!(e & PTE_P))
            continue;
        if (level == 1 || (e & PTE_PS))
            frame_put(e & PTE_ADDR, level == 2);
        else if ((e & PTE_ADDR) != ktext_pt)
            free_table(e & PTE_ADDR, level - 1);
    }
    frame_put(pa, 0);
}

/* The user slots of a PML4 (below the kernel half), then the PML4 itself. */
static void free_user_pml4(u64 pml4) {
    u64 *t = table(pml4);
    for (unsigned i = 0; i < PML4_USER_SLOTS; ++i)
        if (t[i] & PTE_P)
            free_table(t[i] & PTE_ADDR, 3);
    frame_put(pml4, 0);
}

void vm_free(u64 pml4) {
    for (u32 i = 0; i < ncpus; ++i)
        if (cpus[i].loaded_cr3 == pml4)
            panic("freeing the address space CPU %u has loaded", i);
    if (paging_levels == 5) {
        /* PML5[0] holds the PML4 with the kernel half; the slots above are all the process's. */
        u64 *t = table(pml4);
        for (unsigned i = 1; i < 512; ++i)
            if (t[i] & PTE_P)
                free_table(t[i] & PTE_ADDR, 4);
        free_user_pml4(t[0] & PTE_ADDR);
        frame_put(pml4, 0);
        return;
    }
    free_user_pml4(pml4);
}

/* Copies the table at `src` into `dst`. Private writable pages become read-only + COW in
 * both; shared text and shared anonymous pages are simply mapped again. */
static int copy_table(u64 dst, u64 src, int level) {
    u64 *d = table(dst), *s = table(src);
    /* The kernel half is already shared. Only the PML4 under PML5[0] has one, but no user region
     * reaches PML4 slot 128 in the others either (abi.h), so the rule holds for all of them. */
    int n = level == 4 ? (int)PML4_USER_SLOTS : 512;
    for (int i = 0; i < n; ++i) {
        u64 e = s[i];
        if (!(e & PTE_P))
            continue;
        if (level > 1 && !(e & PTE_PS)) {
            if ((e & PTE_ADDR) == ktext_pt) {
                d[i] = e;
                continue;
            }
            u64 t = d[i] & PTE_P ? d[i] & PTE_ADDR : frame_alloc();
            if (!t)
                return -1;
            d[i] = t | (e & ~PTE_ADDR);
            if (copy_table(t, e & PTE_ADDR, level - 1) < 0)
                return -1;
            continue;
        }
        u64 pa = e & PTE_ADDR;
        if (!frame_reserved(pa) && !(e & PTE_SHARED) && (e & PTE_W)) {
            e = (e & ~PTE_W) | PTE_COW;
            s[i] = e;
        }
        frame_ref(pa);
        d[i] = e;
    }
    return 0;
}

u64 vm_fork(u64 pml4) {
    u64 child = vm_new();
    if (!child)
        return 0;
    if (copy_table(child, pml4, paging_levels) < 0) {
        vm_free(child);
        return 0;
    }
    return child;
}

int vm_map(u64 pml4, u64 va, u64 pa, u64 flags) {
    u64 *e = entry_at(pml4, va, 1, 1);
    if (!e)
        return -1;
    *e = pa | flags;
    return 0;
}

/* Beyond FLUSH_CEILING_PAGES pages one CR3 load is cheaper than an invlpg each (Linux's
 * tlb_single_page_flush_ceiling, arch/x86/mm/tlb.c). The mm's lock is held. */
void vm_unmap(u64 pml4, u64 start, u64 end) {
    int ranged_full = (end - start) / PAGE_SIZE > FLUSH_CEILING_PAGES;
    int full_flush = ranged_full && pml4 == mycpu()->loaded_cr3;
    struct flush_batch b;
    b.n = 0;
    b.overflow = b.hv_listed = 0;
    frame_gather_init(&b.freed);
    int removed = 0;
    u64 va = start;
    while (va < end) {
        u64 next2m = (va & ~(HUGE_SIZE - 1)) + HUGE_SIZE;
        u64 *pde = entry_at(pml4, va, 2, 0);
        if (!pde || !(*pde & PTE_P)) {
            va = next2m;
            continue;
        }
        if (*pde & PTE_PS) {
            /* A 2 MiB page goes only when the range covers all of it. */
            if ((va & (HUGE_SIZE - 1)) == 0 && next2m <= end) {
                frame_put_gather(*pde & PTE_ADDR, 1, &b.freed);
                *pde = 0;
                removed = 1;
                if (!ranged_full)
                    flush_page(pml4, va, &b);
            }
            va = next2m;
            continue;
        }
        /* The rest of this page table's span, one entry after another. */
        u64 *pt = table(*pde & PTE_ADDR);
        u64 stop = next2m < end ? next2m : end;
        for (; va < stop; va += PAGE_SIZE) {
            u64 *pte = &pt[pt_index(va, 1)];
            if (!(*pte & PTE_P))
                continue;
            frame_put_gather(*pte & PTE_ADDR, 0, &b.freed);
            *pte = 0;
            removed = 1;
            if (!ranged_full)
                flush_page(pml4, va, &b);
        }
    }
    if (full_flush && removed) {
        if (hv_recommended & VMMU_HV_REC_LOCAL_FLUSH)
            hv_flush_address_space(pml4);
        else
            switch_cr3(pml4);
    }
    b.overflow |= ranged_full && removed;
    flush_finish(pml4, &b, 0);
}

struct region *region_find(struct mm *mm, u64 va) {
    for (int i = 0; i < NREGION; ++i) {
        struct region *r = &mm->regions[i];
        if (r->kind && va >= r->start && va < r->end)
            return r;
    }
    return 0;
}

struct region *region_add(struct mm *mm, u64 start, u64 end, u32 kind, u32 flags) {
    for (int i = 0; i < NREGION; ++i) {
        struct region *r = &mm->regions[i];
        if (!r->kind) {
            r->start = start;
            r->end = end;
            r->kind = kind;
            r->flags = flags;
            return r;
        }
    }
    return 0;
}

/* Write to a copy-on-write page: the last sharer takes the frame back, others copy it. */
static int cow_fault(struct mm *mm, u64 va) {
    u64 *e = entry_at(mm->pml4, va, 2, 0);
    if (!e || !(*e & PTE_P))
        return -1;
    int huge = (*e & PTE_PS) != 0;
    if (!huge) {
        e = entry_at(mm->pml4, va, 1, 0);
        if (!e || !(*e & PTE_P))
            return -1;
    }
    if (!(*e & PTE_COW))
        return -1;
    kstats.pf_cow++;
    u64 size = huge ? HUGE_SIZE : PAGE_SIZE;
    u64 old = *e & PTE_ADDR;
    u64 flags = ((*e & ~PTE_ADDR) & ~PTE_COW) | PTE_W;
    struct flush_batch b;
    b.n = 0;
    b.overflow = b.hv_listed = 0;
    frame_gather_init(&b.freed);
    if (frame_count(old) == 1) {
        kstats.cow_reuse++;
        *e = old | flags;
    } else {
        u64 copy = huge ? frame_alloc_huge() : frame_alloc();
        if (!copy)
            return -1;
        memcpy(P2V(copy), P2V(old), size);
        *e = copy | flags;
        frame_put_gather(old, huge, &b.freed);
        kstats.cow_copy++;
    }
    /* The read-only translation may be cached, here or on a CPU running another thread of this
     * mm: drop it (SDM 4.10.4.1). */
    flush_page(mm->pml4, va & ~(size - 1), &b);
    flush_finish(mm->pml4, &b, 0);
    return 0;
}

/* Not-present fault in a region: map a zeroed page (a 2 MiB one if the region asks for it and
 * the whole aligned block lies inside the region). */
static int demand_zero(struct mm *mm, struct region *r, u64 va) {
    u64 leaf = PTE_P | PTE_U | PTE_NX | (r->flags & RF_W ? PTE_W : 0) |
               (r->flags & RF_SHARED ? PTE_SHARED : 0);
    if (r->flags & RF_HUGE) {
        u64 base = va & ~(HUGE_SIZE - 1);
        if (base >= r->start && base + HUGE_SIZE <= r->end) {
            u64 *pde = entry_at(mm->pml4, base, 2, 1);
            if (!pde)
                return -1;
            if (*pde & PTE_PS)
                return 0; /* another thread faulted it in meanwhile */
            if (!(*pde & PTE_P)) {
                u64 f = frame_alloc_huge();
                if (f) {
                    *pde = f | leaf | PTE_PS;
                    kstats.pf_demand_zero_2m++;
                    return 0;
                }
            }
        }
    }
    u64 *pte = entry_at(mm->pml4, va, 1, 1);
    if (!pte)
        return -1;
    if (*pte & PTE_P)
        return 0; /* already mapped: nothing to do */
    u64 f = frame_alloc();
    if (!f)
        return -1;
    *pte = f | leaf;
    kstats.pf_demand_zero++;
    return 0;
}

static int vm_fault_locked(struct mm *mm, u64 va, u64 err) {
    struct region *r = region_find(mm, va);
    if (!r || (err & VMMU_PF_I))
        return -1;
    if ((err & VMMU_PF_W) && !(r->flags & RF_W))
        return -1;
    if (!(err & VMMU_PF_P))
        return demand_zero(mm, r, va);
    if (err & VMMU_PF_W) {
        /* Another thread may have resolved it meanwhile (its shootdown reached this CPU while
         * it waited for the lock): then the entry is writable now. */
        u64 *e = vm_entry(mm->pml4, va, 2, 0);
        if (e && (*e & PTE_P) && !(*e & PTE_PS))
            e = vm_entry(mm->pml4, va, 1, 0);
        if (e && (*e & (PTE_P | PTE_W)) == (PTE_P | PTE_W))
            return 0;
        return cow_fault(mm, va);
    }
    return -1;
}

int vm_fault(struct mm *mm, u64 va, u64 err) {
    spin_lock(&mm->lock);
    int r = vm_fault_locked(mm, va, err);
    spin_unlock(&mm->lock);
    return r;
}

/* ---- The pool of address spaces ---------------------------------------------------------- */
static struct mm mms[NPROC];
static struct spinlock mm_pool_lock = SPINLOCK("mm pool");

struct mm *mm_alloc(void) {
    spin_lock(&mm_pool_lock);
    for (int i = 0; i < NPROC; ++i) {
        struct mm *mm = &mms[i];
        if (mm->users || mm->pml4)
            continue;
        memset(mm, 0, sizeof *mm);
        mm->users = 1;
        mm->lock.cpu = NOCPU;
        mm->lock.name = "mm";
        spin_unlock(&mm_pool_lock);
        return mm;
    }
    spin_unlock(&mm_pool_lock);
    return 0;
}

void mm_get(struct mm *mm) {
    spin_lock(&mm_pool_lock);
    mm->users++;
    spin_unlock(&mm_pool_lock);
}

/* The last user has already left the address space on its own CPU; idle CPUs that still hold
 * it lazily are sent away before the tables go (smp.c, FLUSH_LEAVE). */
void mm_put(struct mm *mm) {
    spin_lock(&mm_pool_lock);
    int last = --mm->users == 0;
    spin_unlock(&mm_pool_lock);
    if (!last)
        return;
    if (mm->pml4) {
        tlb_shootdown(mm->pml4, FLUSH_LEAVE, 0, 0);
        vm_free(mm->pml4);
    }
    spin_lock(&mm_pool_lock);
    mm->pml4 = 0;
    spin_unlock(&mm_pool_lock);
}
