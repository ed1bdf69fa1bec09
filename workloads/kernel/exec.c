/* exec: load a program from the engine's archive (abi.h) into a fresh address space.
 *
 * A program's text was placed by the engine at gPA == VA in the program's own slot, so exec
 * maps those very frames read-only (every process running the program shares them). Its
 * data segments get fresh frames holding a copy of the file bytes; the rest is zero. */
#include "kernel.h"
#include "x86.h"

/* ELF64 (System V ABI, "ELF-64 Object File Format" 1.5): only what a static executable needs. */
struct elf64_ehdr {
    u8 ident[16];
    u16 type, machine;
    u32 version;
    u64 entry, phoff, shoff;
    u32 flags;
    u16 ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct elf64_phdr {
    u32 type, flags;
    u64 offset, vaddr, paddr, filesz, memsz, align;
};
#define ET_EXEC 2
#define EM_X86_64 62
#define PT_LOAD 1
#define PF_X 1
#define PF_W 2
#define ELF_MAX_PHDRS 16

static int name_equal(const char *entry_name, const char *name) {
    for (int i = 0; i < VMMU_ARCHIVE_NAME_MAX; ++i) {
        if (entry_name[i] != name[i])
            return 0;
        if (!name[i])
            return 1;
    }
    return 0;
}

/* Finds `name` in the archive; checks every bound it relies on. */
static int find_program(const char *name, const u8 **file, u64 *size) {
    const u8 *base = (const u8 *)P2V(boot->archive_gpa);
    const struct vmmu_archive_header *h = (const void *)base;
    u64 bytes = boot->archive_bytes;
    if (bytes < sizeof *h || h->magic != VMMU_ARCHIVE_MAGIC)
        return -VMMU_ENOENT;
    if (h->count > (bytes - sizeof *h) / sizeof(struct vmmu_archive_entry))
        return -VMMU_ENOEXEC;
    const struct vmmu_archive_entry *e = (const void *)(base + sizeof *h);
    for (u64 i = 0; i < h->count; ++i) {
        if (!name_equal(e[i].name, name))
            continue;
        if (e[i].offset > bytes || e[i].size > bytes - e[i].offset)
            return -VMMU_ENOEXEC;
        *file = base + e[i].offset;
        *size = e[i].size;
        return 0;
    }
    return -VMMU_ENOENT;
}

static int map_text(struct mm *mm, const struct elf64_phdr *ph) {
    u64 start = ph->vaddr, end = ph->vaddr + ph->memsz;
    if ((ph->flags & PF_W) || ph->vaddr != ph->paddr || start < VMMU_PROG_TEXT_BASE ||
        end > VMMU_CODE_END || end > boot->mem_bytes)
        return -VMMU_ENOEXEC;
    for (u64 va = page_down(start); va < end; va += PAGE_SIZE)
        if (vm_map(mm->pml4, va, va, PTE_P | PTE_U) < 0)
            return -VMMU_ENOMEM;
    return 0;
}

static int load_data(struct mm *mm, const struct elf64_phdr *ph, const u8 *file) {
    u64 start = ph->vaddr, end = ph->vaddr + ph->memsz, file_end = start + ph->filesz;
    if (start < VMMU_USER_DATA_BASE || end > VMMU_USER_MMAP_BASE)
        return -VMMU_ENOEXEC;
    /* Two segments sharing a page would need two sets of rights for it. */
    if (region_find(mm, page_down(start)) || region_find(mm, page_up(end) - 1))
        return -VMMU_ENOEXEC;
    u32 rights = ph->flags & PF_W ? RF_W : 0;
    if (!region_add(mm, page_down(start), page_up(end), R_DATA, rights))
        return -VMMU_ENOMEM;
    for (u64 va = page_down(start); va < end; va += PAGE_SIZE) {
        u64 f = frame_alloc();
        if (!f || vm_map(mm->pml4, va, f, PTE_P | PTE_U | PTE_NX | (rights ? PTE_W : 0)) < 0)
            return -VMMU_ENOMEM;
        u64 lo = va > start ? va : start;
        u64 hi = va + PAGE_SIZE < file_end ? va + PAGE_SIZE : file_end;
        if (lo < hi)
            memcpy((u8 *)P2V(f) + (lo - va), file + ph->offset + (lo - start), hi - lo);
    }
    if (page_up(end) > mm->brk_base)
        mm->brk_base = page_up(end);
    return 0;
}

static int load_elf(struct mm *mm, const u8 *file, u64 size, u64 *entry) {
    const struct elf64_ehdr *eh = (const void *)file;
    if (size < sizeof *eh || eh->ident[0] != 0x7f || eh->ident[1] != 'E' || eh->ident[2] != 'L' ||
        eh->ident[3] != 'F' || eh->ident[4] != 2 /* 64-bit */ || eh->ident[5] != 1 /* LE */ ||
        eh->type != ET_EXEC || eh->machine != EM_X86_64 ||
        eh->phentsize != sizeof(struct elf64_phdr) || eh->phnum == 0 ||
        eh->phnum > ELF_MAX_PHDRS || eh->phoff > size ||
        eh->phnum * sizeof(struct elf64_phdr) > size - eh->phoff)
        return -VMMU_ENOEXEC;
    const struct elf64_phdr *ph = (const void *)(file + eh->phoff);
    int entry_in_text = 0;
    mm->brk_base = VMMU_USER_DATA_BASE;
    for (int i = 0; i < eh->phnum; ++i) {
        if (ph[i].type != PT_LOAD || ph[i].memsz == 0)
            continue;
        if (ph[i].filesz > ph[i].memsz || ph[i].offset > size ||
            ph[i].filesz > size - ph[i].offset || ph[i].vaddr + ph[i].memsz < ph[i].vaddr)
            return -VMMU_ENOEXEC;
        int err = ph[i].flags & PF_X ? map_text(mm, &ph[i]) : load_data(mm, &ph[i], file);
        if (err)
            return err;
        if ((ph[i].flags & PF_X) && eh->entry >= ph[i].vaddr &&
            eh->entry < ph[i].vaddr + ph[i].memsz)
            entry_in_text = 1;
    }
    if (!entry_in_text)
        return -VMMU_ENOEXEC;
    *entry = eh->entry;
    mm->brk = mm->brk_base;
    return 0;
}

/* The top stack page holds the argument strings and the argv array; the rest of the stack
 * region is demand-zero. */
static int setup_stack(struct mm *mm, int argc, char **argv, u64 *sp) {
    if (!region_add(mm, user_stack_top - USER_STACK_MAX, user_stack_top, R_STACK, RF_W))
        return -VMMU_ENOMEM;
    u64 page_va = user_stack_top - PAGE_SIZE;
    u64 f = frame_alloc();
    if (!f || vm_map(mm->pml4, page_va, f, PTE_P | PTE_U | PTE_W | PTE_NX) < 0)
        return -VMMU_ENOMEM;
    u8 *page = (u8 *)P2V(f);
    u64 ptrs[VMMU_ARGV_MAX + 1];
    u64 off = PAGE_SIZE;
    for (int i = argc - 1; i >= 0; --i) {
        u64 n = strlen(argv[i]) + 1;
        off -= n;
        memcpy(page + off, argv[i], n);
        ptrs[i] = page_va + off;
    }
    ptrs[argc] = 0;
    off = (off & ~15ULL) - (argc + 1) * 8;
    off &= ~15ULL;
    memcpy(page + off, ptrs, (argc + 1) * 8);
    *sp = page_va + off;
    return 0;
}

/* Replaces p's image; argv holds argc kernel strings (at most VMMU_ARGS_BYTES in all). On
 * success tf describes the first entry into the program: _start(argc, argv). */
int exec_load(struct proc *p, struct trapframe *tf, const char *name, int argc, char **argv) {
    const u8 *file;
    u64 size, entry, sp;
    int err = find_program(name, &file, &size);
    if (err)
        return err;
    struct mm *mm = mm_alloc();
    if (!mm)
        return -VMMU_ENOMEM;
    mm->pml4 = vm_new();
    if (!mm->pml4) {
        mm_put(mm);
        return -VMMU_ENOMEM;
    }
    err = load_elf(mm, file, size, &entry);
    if (!err)
        err = setup_stack(mm, argc, argv, &sp);
    u32 heap_flags = RF_W | (boot->flags & VMMU_BOOT_FLAG_GUEST_2M ? RF_HUGE : 0);
    if (!err && !region_add(mm, mm->brk_base, mm->brk_base, R_HEAP, heap_flags))
        err = -VMMU_ENOMEM;
    if (err) {
        mm_put(mm);
        return err;
    }
    /* Other threads sharing the old image keep it; the last user frees it. */
    struct mm *old = p->mm;
    p->mm = mm;
    if (p == cur)
        vm_activate(mm->pml4);
    if (old)
        mm_put(old);
    int n = 0;
    for (; name[n] && n < PROC_NAME_MAX - 1; ++n)
        p->name[n] = name[n];
    p->name[n] = 0;
    fpu_exec(p);
    memset(tf, 0, sizeof *tf);
    tf->rip = entry;
    tf->cs = VMMU_SEL_KERNEL_CS;
    tf->rflags = RFLAGS_IF | RFLAGS_RESERVED1; /* user code runs with interrupts on */
    tf->rsp = sp;
    tf->ss = VMMU_SEL_KERNEL_DS;
    tf->rdi = (u64)argc;
    tf->rsi = sp; /* the argv array sits at the stack pointer */
    kstats.execs++;
    return 0;
}

/* Starts init with the boot command line split into words; ';' and '&' are words of their own
 * (init reads them as "then" and "meanwhile"). */
void kernel_start_init(const char *cmdline) {
    static char words[2 * VMMU_CMDLINE_MAX + 8];
    static char *argv[VMMU_ARGV_MAX];
    int argc = 0, n = 0;
    char init_name[] = "init";
    argv[argc++] = init_name;
    for (const char *c = cmdline; *c;) {
        if (*c == ' ' || *c == '\t' || *c == '\n') {
            ++c;
            continue;
        }
        if (argc == VMMU_ARGV_MAX)
            panic("boot command line has more than %d words", VMMU_ARGV_MAX - 1);
        argv[argc++] = &words[n];
        if (*c == ';' || *c == '&') {
            words[n++] = *c++;
        } else {
            while (*c && *c != ' ' && *c != '\t' && *c != '\n' && *c != ';' && *c != '&')
                words[n++] = *c++;
        }
        words[n++] = 0;
    }
    if (n + 5 > VMMU_ARGS_BYTES)
        panic("boot command line too long for init's arguments");
    struct proc *p = proc_alloc();
    initproc = p;
    struct trapframe tf;
    int err = exec_load(p, &tf, "init", argc, argv);
    if (err)
        panic("cannot start init: error %d (is init in the program archive?)", err);
    proc_start(p, &tf);
}
