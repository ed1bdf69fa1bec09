/* vmmu guest ABI: the contract between the engine and the guest it boots.
 *
 * Included by the engine (C++) and by guest code (freestanding C and assembly), so it holds
 * only macros and plain structs. Every address here is a guest address; see
 * docs/ARCHITECTURE.md ("Guest address map") for why the map looks like this:
 * code is identity-mapped below G (VA == gPA), every data address lies in the MMIO window.
 */
#ifndef VMMU_ABI_H
#define VMMU_ABI_H

/* ---- Address map ------------------------------------------------------------------------ */

/* Kernel text: VA == gPA, linked here. */
#define VMMU_KERNEL_TEXT_BASE 0x100000ULL
/* Kernel direct map of all guest-physical memory: VA = VMMU_DIRECT_MAP + gPA (2 MiB pages). */
#define VMMU_DIRECT_MAP 0x400000000000ULL
/* User program text slots: program i is linked at VMMU_PROG_TEXT_BASE + i * SLOT (1 MiB), VA ==
 * gPA. */
#define VMMU_PROG_TEXT_BASE 0x1000000ULL
#define VMMU_PROG_TEXT_SLOT 0x100000ULL
#define VMMU_PROG_MAX_SLOTS 16ULL
/* End of the region the engine reserves for code: frames below it are never given to the
 * kernel's allocator. */
#define VMMU_CODE_END (VMMU_PROG_TEXT_BASE + VMMU_PROG_MAX_SLOTS * VMMU_PROG_TEXT_SLOT)
/* User data (.data/.bss of programs, then the brk heap). PML4 slot 1 and up. */
#define VMMU_USER_DATA_BASE 0x8000000000ULL
/* Anonymous mmap region. */
#define VMMU_USER_MMAP_BASE 0x100000000000ULL
/* Top of the user stack (grows down). */
#define VMMU_USER_STACK_TOP 0x200000000000ULL
/* Five-level paging (VMMU_BOOT_FLAG_LA57): the same map, except that the anonymous mmap region
 * and the stack move up by 2^48 (PML5 slot 1), so every process has translations in two PML5
 * slots and its stack and mmap addresses have bit 48 set: canonical only with 57-bit addresses.
 * Code, user data, the heap and the direct map stay in PML5 slot 0, as with 4 levels. */
#define VMMU_LA57_HIGH 0x1000000000000ULL /* 2^48 */
#define VMMU_USER_MMAP_BASE_LA57 (VMMU_LA57_HIGH + VMMU_USER_MMAP_BASE)
#define VMMU_USER_STACK_TOP_LA57 (VMMU_LA57_HIGH + VMMU_USER_STACK_TOP)

/* Engine-owned low memory (gPA, below the kernel). */
#define VMMU_BOOT_INFO_GPA 0x1000ULL
#define VMMU_BOOT_GDT_GPA 0x2000ULL
#define VMMU_BOOT_TABLES_GPA 0x10000ULL /* boot page tables, up to VMMU_KERNEL_TEXT_BASE */

/* Paging features: Unicorn 2.0.1's CPU models have no CPUID NX bit, so EFER.NXE cannot be set
 * and PTE bit 63 is *reserved*: a guest that sets NX gets a #PF with the RSVD bit. Never set NX.
 * EFER.SCE cannot be set either; `syscall` works regardless (the engine implements it). */

/* ---- Segments (the engine's boot GDT; a kernel that loads its own should keep these) ----- */
#define VMMU_SEL_KERNEL_CS 0x08
#define VMMU_SEL_KERNEL_DS 0x10

/* ---- Ports (out to these reaches the engine) --------------------------------------------- */
/* out al: one console byte. */
#define VMMU_PORT_CONSOLE 0x3f8
/* out eax (port in dx): a hypercall; eax = number, arguments in rdi, rsi, r10 (dx carries the
 * port, so the third argument moves to r10, as Linux moves syscall argument 4 out of rcx). */
#define VMMU_PORT_HYPERCALL 0x510

#define VMMU_HC_WRITE 1  /* rdi = VA of bytes, rsi = length, r10 = stream: console output */
#define VMMU_HC_REPORT 2 /* rdi = VA of key, rsi = key length, r10 = value: a named result */
#define VMMU_HC_PANIC 3  /* rdi = VA of message, rsi = length: kernel panic, stops the run */
#define VMMU_HC_EXIT 4   /* rdi = status: the guest is done, stops the run */
/* VMMU_HC_WRITE's stream: the kernel's own messages, or a program's write() to fd 1 or 2 (what
 * `vmmu run --guest-output` keeps: the programs' output without the kernel's). */
#define VMMU_STREAM_KERNEL 0
#define VMMU_STREAM_PROGRAM 1
/* Regions of interest (docs: README.md, "Windows"). The engine snapshots every counter at each
 * marker. A region may repeat and nest one level deep; a marker itself (its `out` and the exits
 * it causes) lies outside the region it opens or closes. */
#define VMMU_HC_ROI_BEGIN                                                                          \
    5                        /* rdi = VA of name, rsi = name length, r10 = VA of the program's     \
                                NUL-terminated name (for errors) */
#define VMMU_HC_ROI_END 6    /* rdi = VA of the program's NUL-terminated name (for errors) */
#define VMMU_ROI_NAME_MAX 64 /* longest region name; [A-Za-z0-9_.-] only */
/* The guest's monotonic clock: rax returns the guest instructions retired before this `out`
 * (exact and deterministic; the run's instruction count, not wall time). */
#define VMMU_HC_CLOCK 16

/* ---- SMP: several vCPUs per VM (`vmmu run --vcpus N`) ------------------------------------ *
 * CPU 0 (the BSP) boots as with one vCPU; boot info's `ncpus` says how many there are (1..8).
 * The others (APs) do nothing until the kernel starts them with VMMU_HC_START_CPU; an AP never
 * started is never scheduled, so a kernel that ignores `ncpus` runs as on one vCPU.
 *
 * Scheduling: the engine runs the started, not halted vCPUs round-robin in quanta of
 * `--vcpu-quantum` guest instructions (at block granularity; an instruction, atomic or not, is
 * never split), CPU 0 first. The interleaving depends only on the guest, N and the quantum:
 * reruns are bit-identical. All vCPUs share guest memory; each has its own registers, CR3,
 * TLB, timer and instruction count. */
#define VMMU_MAX_CPUS 8
/* Start an AP: rdi = CPU index (1..ncpus-1), rsi = entry RIP (kernel VA), r10 = initial RSP
 * (kernel VA). The AP starts at the next scheduling point with the caller's CR0, CR3, CR4, EFER,
 * GDTR, IDTR, TR and segment selectors (FS/GS bases 0), RDI = its CPU index, RFLAGS = 0x2
 * (interrupts disabled), other registers 0. Starting a CPU twice, CPU 0, or an index >= ncpus
 * is a guest error: the run stops (exit 3). rax returns 0. Every other MSR is the AP's own, as on
 * hardware: program LSTAR and FMASK (syscall), GS base (per-CPU data) on the AP itself. TR is
 * copied too, so the APs share the caller's TSS until they load their own (interrupts at CPL0
 * switch stacks only through IST entries). An AP halted with interrupts disabled (`cli; hlt`)
 * stays halted for good; the run stops with an error only when every started CPU is. */
#define VMMU_HC_START_CPU 7

/* Local APIC: `out dx, eax` to this port; eax = command << 24 | payload. Reading the own CPU
 * index needs no port: keep it in per-CPU data (IA32_GS_BASE / swapgs). */
#define VMMU_PORT_APIC 0x520
#define VMMU_APIC_CMD_SHIFT 24
/* IPI: payload bits 7:0 vector (32..255), bits 15:8 destination CPU, bits 17:16 shorthand. The
 * vector becomes pending at the target (one bit per vector, as the IRR: two IPIs of one vector
 * before it is taken are delivered once) and is delivered when the target runs with IF=1 and
 * no vector >= it is in service; it wakes a halted target. A destination that is not a started
 * CPU, or a vector < 32, is a guest error (exit 3). Sending to oneself is allowed. */
#define VMMU_APIC_IPI 1u
#define VMMU_APIC_SH_DEST 0u         /* the CPU in bits 15:8 */
#define VMMU_APIC_SH_ALL_BUT_SELF 1u /* every started CPU but the sender (bits 15:8 ignored) */
#define VMMU_APIC_IPI_VALUE(vec, dest, sh)                                                        \
    ((VMMU_APIC_IPI << VMMU_APIC_CMD_SHIFT) | ((unsigned)(sh) << 16) | ((unsigned)(dest) << 8) | \
     (unsigned)(vec))
/* EOI: ends the highest-numbered vector in service on this CPU (payload ignored); with none in
 * service it does nothing. Delivery marks a vector in service; the same or a lower vector is
 * not delivered again until its EOI (higher vectors may nest if the handler sets IF).
 * The timer (VMMU_VEC_TIMER) follows this rule from the first VMMU_HC_START_CPU on: from then
 * its handler must EOI like any other. Before that (always with ncpus == 1) the timer is never
 * marked in service, so a kernel that never starts an AP runs exactly as on one vCPU and needs
 * no EOI; an EOI there is harmless. */
#define VMMU_APIC_EOI 2u
#define VMMU_APIC_EOI_VALUE (VMMU_APIC_EOI << VMMU_APIC_CMD_SHIFT)

/* ---- Hypervisor personalities: CPUID and Hyper-V hypercalls ------------------------------ */
/* The engine answers CPUID leaf 1 ECX bit 31 (a hypervisor is present) and the hypervisor range
 * 0x40000000 and up for `--hypervisor none|kvm|hyperv` (engine/core/hypervisor.h). Leaf layouts
 * and hypercall codes follow Microsoft's Hypervisor Top-Level Functional Specification (TLFS):
 * "Feature discovery" (CPUID 0x40000000-0x40000005) and "Hypercall interface". */
#define VMMU_CPUID1_ECX_HYPERVISOR (1u << 31)
#define VMMU_CPUID_HV_VENDOR 0x40000000u   /* eax = max leaf; ebx ecx edx = vendor signature */
#define VMMU_CPUID_HV_INTERFACE 0x40000001u /* eax = interface signature ("Hv#1" for Hyper-V) */
#define VMMU_CPUID_HV_RECOMMEND 0x40000004u /* Hyper-V implementation recommendations */
#define VMMU_HV_INTERFACE_HV1 0x31237648u   /* "Hv#1" */
/* CPUID 0x40000004 EAX (TLFS, "Implementation Recommendations"). */
#define VMMU_HV_REC_SWITCH_AS (1u << 0)     /* HvSwitchVirtualAddressSpace instead of mov cr3 */
#define VMMU_HV_REC_LOCAL_FLUSH (1u << 1)   /* HvFlushVirtualAddress* instead of invlpg / cr3 */
#define VMMU_HV_REC_REMOTE_FLUSH (1u << 2)  /* the same for other processors instead of IPIs */

/* A Hyper-V hypercall travels as a vmmu hypercall (the port above: Unicorn's vmcall path is not
 * what vmmu's functional layer hooks): eax = VMMU_HC_HYPERV, rdi = the TLFS hypercall input
 * value (what RCX holds on Hyper-V), rsi = the input parameters' gPA or, for a fast call, the
 * first input value (RDX on Hyper-V), r10 = the output gPA (R8). rax returns the TLFS result
 * value. The hypercall's effect on the guest's own CPU state is completed by the guest: right
 * after a switch or flush hypercall it executes `mov cr3` with the address space now loaded,
 * which the engine performs as part of the hypercall and no hypervisor sees (QEMU's soft TLB
 * has no public flush: docs/UNICORN-2.0.1.md, fact 7). */
#define VMMU_HC_HYPERV 0x4856 /* "HV" */

/* Hypercall input value (TLFS "Hypercall Inputs"): call code 15:0, fast 16, rep count 43:32,
 * rep start index 59:48. Result value: status 15:0, reps completed 43:32. */
#define VMMU_HV_CALL_SWITCH_AS 0x0001ULL   /* HvSwitchVirtualAddressSpace(AddressSpace) */
#define VMMU_HV_CALL_FLUSH_SPACE 0x0002ULL /* HvFlushVirtualAddressSpace(AddressSpace, Flags, Mask) */
#define VMMU_HV_CALL_FLUSH_LIST 0x0003ULL  /* HvFlushVirtualAddressList(..., GvaRangeList) (rep) */
#define VMMU_HV_FAST (1ULL << 16)
#define VMMU_HV_REP_COUNT_SHIFT 32
#define VMMU_HV_REP_START_SHIFT 48
#define VMMU_HV_STATUS_MASK 0xffffULL
#define VMMU_HV_STATUS_INVALID_CODE 0x0002ULL
#define VMMU_HV_STATUS_INVALID_PARAMETER 0x0005ULL
/* HV_FLUSH_FLAGS */
#define VMMU_HV_FLUSH_ALL_PROCESSORS 0x1ULL
#define VMMU_HV_FLUSH_ALL_SPACES 0x2ULL
#define VMMU_HV_FLUSH_NON_GLOBAL_ONLY 0x4ULL
/* Flush input: AddressSpace, Flags, ProcessorMask (8 bytes each), then the list's GVA ranges:
 * a page address, its low 12 bits the number of pages after it (1 to 4096 pages). */
#define VMMU_HV_FLUSH_HEADER_BYTES 24
#define VMMU_HV_GVA_EXTRA_PAGES 0xfffULL

/* ---- Interrupt vectors the engine delivers ------------------------------------------------ */
#define VMMU_VEC_DE 0
#define VMMU_VEC_UD 6
#define VMMU_VEC_DF 8
#define VMMU_VEC_GP 13
#define VMMU_VEC_PF 14
#define VMMU_VEC_TIMER 32
/* IPI vectors for the kernel's use (the engine gives them no meaning of its own; it only
 * counts them as IPIs). Per-CPU timer: every boot_info.timer_period of that CPU's own guest
 * instructions. A CPU halted with IF=1 (`sti; hlt`) waits without retiring instructions; its
 * clock advances by what the other CPUs run while it waits, so its timer fires when they have
 * run the rest of its period (every CPU halted: the earliest timer fires at once). An IPI wakes
 * it at the next scheduling point. */
#define VMMU_VEC_IPI_SHOOTDOWN 0xf0 /* TLB shootdown request: invalidate, then ack */
#define VMMU_VEC_IPI_RESCHED 0xf1   /* reschedule: look at the run queue */
#define VMMU_VEC_IPI_CALL 0xf2      /* generic cross-CPU function call */

/* #PF error code bits (Intel SDM vol. 3, 4.7). */
#define VMMU_PF_P 0x1
#define VMMU_PF_W 0x2
#define VMMU_PF_U 0x4
#define VMMU_PF_I 0x10

/* ---- Boot info: at VMMU_BOOT_INFO_GPA; its direct-map VA is passed in rdi at entry -------- */
#define VMMU_BOOT_MAGIC 0x31554d4d56ULL /* "VMMU1" */
#define VMMU_BOOT_FLAG_GUEST_2M 0x1     /* back anonymous memory with 2 MiB pages */
#define VMMU_BOOT_FLAG_LA57 0x2         /* CR4.LA57 set: 5-level tables, boot_pml4_gpa a PML5 */
#define VMMU_CMDLINE_MAX 1024

struct vmmu_boot_info {
    unsigned long long magic;
    unsigned long long mem_bytes;   /* guest-physical memory size G */
    unsigned long long free_start;  /* first gPA the kernel may allocate */
    unsigned long long archive_gpa; /* program archive (see below) */
    unsigned long long archive_bytes;
    unsigned long long timer_period;  /* guest instructions between timer interrupts */
    unsigned long long flags;         /* VMMU_BOOT_FLAG_* */
    unsigned long long boot_pml4_gpa; /* the engine's boot page tables (their root: a PML5 with
                                         VMMU_BOOT_FLAG_LA57) */
    unsigned long long ncpus;         /* vCPUs of this VM, 1..VMMU_MAX_CPUS (CPU 0 boots) */
    char cmdline[VMMU_CMDLINE_MAX];   /* NUL-terminated: "prog arg1=v1 arg2=v2 ..." */
};

/* ---- Program archive: header, entries, then the ELF files themselves ---------------------- */
#define VMMU_ARCHIVE_MAGIC 0x56435241554d4d56ULL /* "VMMUARCV" */
#define VMMU_ARCHIVE_NAME_MAX 32

struct vmmu_archive_header {
    unsigned long long magic;
    unsigned long long count;
};

struct vmmu_archive_entry {
    char name[VMMU_ARCHIVE_NAME_MAX]; /* NUL-terminated program name */
    unsigned long long offset;        /* of the ELF file, from the archive start */
    unsigned long long size;          /* of the ELF file in bytes */
};

#endif
