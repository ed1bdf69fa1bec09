/* System calls (numbers in vmmu/syscalls.h). User pointers are checked against the calling
 * process's regions before the kernel touches them; the pages behind them may still be
 * absent or copy-on-write, which the page-fault handler resolves as for user code. */
#include "kernel.h"
#include "x86.h"

int user_range_ok(u64 va, u64 len, int write) {
    struct region *r = region_find(cur->mm, va);
    if (!r || len > r->end - va)
        return 0;
    return !write || (r->flags & RF_W);
}

/* Copies a NUL-terminated user string of at most max-1 bytes; its length, or -errno. */
static int user_string(char *dst, u64 uva, int max) {
    struct region *r = region_find(cur->mm, uva);
    if (!r)
        return -VMMU_EFAULT;
    for (int i = 0; i < max; ++i) {
        if (uva + i >= r->end)
            return -VMMU_EFAULT;
        dst[i] = *(const char *)(uva + i);
        if (!dst[i])
            return i;
    }
    return -VMMU_E2BIG;
}

static i64 sys_write(u64 fd, u64 buf, u64 len) {
    char chunk[256];
    if (fd != 1 && fd != 2)
        return -VMMU_EINVAL;
    if (len && !user_range_ok(buf, len, 0))
        return -VMMU_EFAULT;
    for (u64 done = 0; done < len;) {
        u64 n = len - done < sizeof chunk ? len - done : sizeof chunk;
        memcpy(chunk, (const void *)(buf + done), n);
        hc_write_program(chunk, n);
        done += n;
    }
    return (i64)len;
}

static i64 sys_report(u64 key_uva, u64 value) {
    char key[64];
    int n = user_string(key, key_uva, sizeof key);
    if (n < 0)
        return n;
    hc_report(key, (u64)n, value);
    return 0;
}

static i64 sys_exec(struct trapframe *tf, u64 name_uva, u64 argv_uva) {
    char name[VMMU_ARCHIVE_NAME_MAX];
    char strings[VMMU_ARGS_BYTES];
    char *argv[VMMU_ARGV_MAX];
    int err = user_string(name, name_uva, sizeof name);
    if (err < 0)
        return err;
    int argc = 0, used = 0;
    for (;; ++argc) {
        u64 slot = argv_uva + 8 * (u64)argc;
        if (!user_range_ok(slot, 8, 0))
            return -VMMU_EFAULT;
        u64 s = *(const u64 *)slot;
        if (!s)
            break;
        if (argc == VMMU_ARGV_MAX - 1)
            return -VMMU_E2BIG;
        int n = user_string(&strings[used], s, VMMU_ARGS_BYTES - used);
        if (n < 0)
            return n;
        argv[argc] = &strings[used];
        used += n + 1;
    }
    return exec_load(cur, tf, name, argc, argv);
}

static struct region *heap_region(void) {
    for (int i = 0; i < NREGION; ++i)
        if (cur->mm->regions[i].kind == R_HEAP)
            return &cur->mm->regions[i];
    return 0;
}

/* brk(0) returns the heap end; brk(addr) moves it (Linux semantics: the current end on
 * failure). Memory below the new end is demand-zero; shrinking unmaps whole pages. */
static i64 sys_brk(u64 addr) {
    struct mm *mm = cur->mm;
    spin_lock(&mm->lock);
    struct region *heap = heap_region();
    if (!addr || !heap || addr < mm->brk_base || addr > VMMU_USER_MMAP_BASE) {
        spin_unlock(&mm->lock);
        return (i64)mm->brk;
    }
    u64 new_end = page_up(addr);
    if (new_end < heap->end)
        vm_unmap(mm->pml4, new_end, heap->end);
    heap->end = new_end;
    mm->brk = addr;
    spin_unlock(&mm->lock);
    return (i64)addr;
}

static int overlaps_mmap(struct mm *mm, u64 start, u64 end, u64 *after) {
    for (int i = 0; i < NREGION; ++i) {
        struct region *r = &mm->regions[i];
        if (r->kind == R_MMAP && r->start < end && start < r->end) {
            *after = r->end;
            return 1;
        }
    }
    return 0;
}

/* Anonymous memory at the lowest free address of the mmap area (so a region unmapped is
 * reused, as Linux's allocator does). */
static i64 mmap_locked(struct mm *mm, u64 len, u64 flags) {
    if (len == 0 || len > user_stack_top - USER_STACK_MAX - user_mmap_base ||
        (flags & ~(u64)(VMMU_MAP_HUGE | VMMU_MAP_SHARED)))
        return -VMMU_EINVAL;
    len = page_up(len);
    u32 rf = RF_W;
    if (flags & VMMU_MAP_SHARED)
        rf |= RF_SHARED;
    else if ((flags & VMMU_MAP_HUGE) || (boot->flags & VMMU_BOOT_FLAG_GUEST_2M))
        rf |= RF_HUGE;
    u64 align = (rf & RF_HUGE) && len >= HUGE_SIZE ? HUGE_SIZE : PAGE_SIZE;
    u64 start = user_mmap_base, after;
    while (overlaps_mmap(mm, start, start + len, &after))
        start = (after + align - 1) & ~(align - 1);
    if (start + len > user_stack_top - USER_STACK_MAX)
        return -VMMU_ENOMEM;
    struct region *r = region_add(mm, start, start + len, R_MMAP, rf);
    if (!r)
        return -VMMU_ENOMEM;
    if (rf & RF_SHARED) {
        /* Populate now: a page faulted in after a fork would be private to one process. */
        for (u64 va = start; va < start + len; va += PAGE_SIZE) {
            u64 f = frame_alloc();
            if (!f || vm_map(mm->pml4, va, f, PTE_P | PTE_U | PTE_W | PTE_NX | PTE_SHARED) < 0) {
                if (f)
                    frame_put(f, 0);
                vm_unmap(mm->pml4, start, start + len);
                r->kind = 0;
                return -VMMU_ENOMEM;
            }
        }
    }
    return (i64)start;
}

static i64 sys_mmap(u64 len, u64 flags) {
    struct mm *mm = cur->mm;
    spin_lock(&mm->lock);
    i64 r = mmap_locked(mm, len, flags);
    spin_unlock(&mm->lock);
    return r;
}

/* Unmaps [addr, addr+len) from mmap regions, trimming or splitting them. A cut may not fall
 * inside a region backed by 2 MiB pages unless it is 2 MiB aligned. */
static i64 munmap_locked(struct mm *mm, u64 addr, u64 len) {
    if ((addr & (PAGE_SIZE - 1)) || len == 0 || addr + len < addr)
        return -VMMU_EINVAL;
    u64 end = page_up(addr + len);
    int free_slots = 0, splits = 0;
    for (int i = 0; i < NREGION; ++i) {
        struct region *r = &mm->regions[i];
        if (!r->kind) {
            ++free_slots;
            continue;
        }
        if (r->kind != R_MMAP || r->end <= addr || end <= r->start)
            continue;
        int cut_lo = addr > r->start, cut_hi = end < r->end;
        if ((r->flags & RF_HUGE) && ((cut_lo && (addr & (HUGE_SIZE - 1))) ||
                                     (cut_hi && (end & (HUGE_SIZE - 1)))))
            return -VMMU_EINVAL;
        splits += cut_lo && cut_hi;
    }
    if (splits > free_slots)
        return -VMMU_ENOMEM;
    for (int i = 0; i < NREGION; ++i) {
        struct region *r = &mm->regions[i];
        if (r->kind != R_MMAP || r->end <= addr || end <= r->start)
            continue;
        u64 lo = addr > r->start ? addr : r->start, hi = end < r->end ? end : r->end;
        vm_unmap(mm->pml4, lo, hi);
        if (lo > r->start && hi < r->end) {
            region_add(mm, hi, r->end, R_MMAP, r->flags);
            r->end = lo;
        } else if (lo > r->start) {
            r->end = lo;
        } else if (hi < r->end) {
            r->start = hi;
        } else {
            r->kind = 0;
        }
    }
    return 0;
}

static i64 sys_munmap(u64 addr, u64 len) {
    struct mm *mm = cur->mm;
    spin_lock(&mm->lock);
    i64 r = munmap_locked(mm, addr, len);
    spin_unlock(&mm->lock);
    return r;
}

void syscall_dispatch(struct trapframe *tf) {
    kstats.syscalls++;
    u64 a0 = tf->rdi, a1 = tf->rsi, a2 = tf->rdx;
    i64 ret;
    switch (tf->rax) {
    case SYS_EXIT: proc_exit((int)a0);
    case SYS_FORK: ret = proc_fork(tf); break;
    case SYS_EXEC: ret = sys_exec(tf, a0, a1); break;
    case SYS_WAIT: ret = proc_wait(a0); break;
    case SYS_GETPID: ret = cur->pid; break;
    case SYS_YIELD: yield(); ret = 0; break;
    case SYS_SLEEP:
        if (a0)
            sleep_ticks(a0);
        else
            yield();
        ret = 0;
        break;
    case SYS_BRK: ret = sys_brk(a0); break;
    case SYS_MMAP: ret = sys_mmap(a0, a1); break;
    case SYS_MUNMAP: ret = sys_munmap(a0, a1); break;
    case SYS_WRITE: ret = sys_write(a0, a1, a2); break;
    case SYS_REPORT: ret = sys_report(a0, a1); break;
    case SYS_SHUTDOWN:
        kprintf("kernel: shutdown requested by pid %d, status %d\n", cur->pid, (int)a0);
        report_kernel_stats();
        hc_exit(a0);
    case SYS_UPTIME: ret = (i64)ticks; break;
    case SYS_CLOCK: ret = (i64)hc_clock(); break;
    case SYS_CLONE: ret = proc_clone(tf, a0, a1); break;
    case SYS_JOIN: ret = proc_join((int)a0, a1); break;
    case SYS_NCPUS: ret = ncpus; break;
    default: ret = -VMMU_ENOSYS; break;
    }
    tf->rax = (u64)ret;
}
