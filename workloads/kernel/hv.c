/* Hyper-V enlightenments, as Windows Server 2008 uses them on a hypervisor without SLAT.
 *
 * At boot the kernel asks CPUID whether a hypervisor is present (leaf 1 ECX bit 31), whose
 * (0x40000000: "Microsoft Hv", interface 0x40000001: "Hv#1") and what it recommends
 * (0x40000004). When Hyper-V recommends it, address-space switches and local TLB flushes go
 * through hypercalls instead of `mov cr3` and `invlpg`: the hypervisor learns the intent without
 * decoding an instruction, and one hypercall flushes a whole list of pages (Microsoft's
 * Hypervisor Top-Level Functional Specification, "Virtual MMU" and the hypercall pages). The
 * constants and the hypercall transport are in abi.h. */
#include "kernel.h"
#include "x86.h"

u32 hv_recommended;

/* The hypercall input page: AddressSpace, Flags, ProcessorMask, then the GVA list. One page,
 * page-aligned, as the TLFS requires of hypercall inputs; one per CPU. */
#define HV_LIST_MAX ((4096 - VMMU_HV_FLUSH_HEADER_BYTES) / 8)
static struct hv_input {
    u64 address_space, flags, processor_mask;
    u64 gva[HV_LIST_MAX];
} hv_inputs[VMMU_MAX_CPUS] __attribute__((aligned(4096)));

static void cpuid(u32 leaf, u32 *a, u32 *b, u32 *c, u32 *d) {
    __asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

/* A Hyper-V hypercall through the engine's hypercall port (abi.h): rdi = input value, rsi = the
 * input gPA or a fast call's first value, r10 = output gPA (none here). */
static u64 hv_call(u64 input, u64 param) {
    register u64 r10 __asm__("r10") = 0;
    u64 ret = VMMU_HC_HYPERV;
    __asm__ volatile("outl %%eax, %%dx"
                     : "+a"(ret)
                     : "d"((u64)VMMU_PORT_HYPERCALL), "D"(input), "S"(param), "r"(r10)
                     : "memory");
    return ret;
}

static void hv_check(u64 result, const char *call) {
    if (result & VMMU_HV_STATUS_MASK)
        panic("%s failed: status %llx", call, result & VMMU_HV_STATUS_MASK);
}

void hv_init(void) {
    u32 a, b, c, d;
    cpuid(1, &a, &b, &c, &d);
    if (!(c & VMMU_CPUID1_ECX_HYPERVISOR))
        return;
    u32 max;
    char vendor[13];
    cpuid(VMMU_CPUID_HV_VENDOR, &max, &b, &c, &d);
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &c, 4);
    memcpy(vendor + 8, &d, 4);
    vendor[12] = 0;
    if (strcmp(vendor, "Microsoft Hv") != 0 || max < VMMU_CPUID_HV_RECOMMEND) {
        kprintf("vmmu kernel: hypervisor \"%s\": no enlightenments used\n", vendor);
        return;
    }
    cpuid(VMMU_CPUID_HV_INTERFACE, &a, &b, &c, &d);
    if (a != VMMU_HV_INTERFACE_HV1)
        return;
    cpuid(VMMU_CPUID_HV_RECOMMEND, &a, &b, &c, &d);
    hv_recommended = a & (VMMU_HV_REC_SWITCH_AS | VMMU_HV_REC_LOCAL_FLUSH | VMMU_HV_REC_REMOTE_FLUSH);
    kprintf("vmmu kernel: Hyper-V; address-space switch by hypercall: %s, local flush by "
            "hypercall: %s\n",
            hv_recommended & VMMU_HV_REC_SWITCH_AS ? "yes" : "no",
            hv_recommended & VMMU_HV_REC_LOCAL_FLUSH ? "yes" : "no");
}

/* Each call is followed by `mov cr3` with the address space the hypercall left loaded: the
 * engine performs it as the hypercall's own effect on this CPU (abi.h). */
void hv_switch_address_space(u64 pml4) {
    hv_check(hv_call(VMMU_HV_CALL_SWITCH_AS | VMMU_HV_FAST, pml4), "HvSwitchVirtualAddressSpace");
    write_cr3(pml4);
    hv_stats.switches++;
}

/* Local flushes: the processor mask names this CPU only (other CPUs: hv_flush_remote). */
void hv_flush_address_space(u64 pml4) {
    struct hv_input *in = &hv_inputs[mycpu()->id];
    in->address_space = pml4;
    in->flags = VMMU_HV_FLUSH_NON_GLOBAL_ONLY;
    in->processor_mask = 1ULL << mycpu()->id;
    hv_check(hv_call(VMMU_HV_CALL_FLUSH_SPACE, V2P(in)), "HvFlushVirtualAddressSpace");
    write_cr3(pml4);
    hv_stats.flush_spaces++;
}

void hv_flush_address_list(u64 pml4, const u64 *va, u32 n) {
    if (n == 0)
        return;
    if (n > HV_LIST_MAX)
        panic("HvFlushVirtualAddressList: %u entries, at most %u", n, (u32)HV_LIST_MAX);
    struct hv_input *in = &hv_inputs[mycpu()->id];
    in->address_space = pml4;
    in->flags = 0;
    in->processor_mask = 1ULL << mycpu()->id;
    for (u32 i = 0; i < n; ++i)
        in->gva[i] = va[i] & ~VMMU_HV_GVA_EXTRA_PAGES; /* one page each */
    u64 r = hv_call(VMMU_HV_CALL_FLUSH_LIST | ((u64)n << VMMU_HV_REP_COUNT_SHIFT), V2P(in));
    hv_check(r, "HvFlushVirtualAddressList");
    if (((r >> VMMU_HV_REP_COUNT_SHIFT) & 0xfff) != n)
        panic("HvFlushVirtualAddressList: %llu of %u entries done",
              (r >> VMMU_HV_REP_COUNT_SHIFT) & 0xfff, n);
    write_cr3(pml4);
    hv_stats.flush_lists++;
    hv_stats.flush_entries += n;
}

/* A shootdown by hypercall (smp.c, where Hyper-V recommends remote flushes): the processor mask
 * names the target CPUs only (this CPU flushed itself already), so no `mov cr3` follows. The
 * flush is complete on every target when the hypercall returns (TLFS): no IPI, no ack. */
void hv_flush_remote(u64 pml4, u32 targets, const u64 *va, u32 n) {
    struct hv_input *in = &hv_inputs[mycpu()->id];
    in->address_space = pml4;
    in->processor_mask = targets;
    if (!va) {
        in->flags = VMMU_HV_FLUSH_NON_GLOBAL_ONLY;
        hv_check(hv_call(VMMU_HV_CALL_FLUSH_SPACE, V2P(in)), "HvFlushVirtualAddressSpace");
        hv_stats.flush_spaces++;
        return;
    }
    if (n == 0 || n > HV_LIST_MAX)
        panic("HvFlushVirtualAddressList: %u entries, 1 to %u", n, (u32)HV_LIST_MAX);
    in->flags = 0;
    for (u32 i = 0; i < n; ++i)
        in->gva[i] = va[i] & ~VMMU_HV_GVA_EXTRA_PAGES;
    u64 r = hv_call(VMMU_HV_CALL_FLUSH_LIST | ((u64)n << VMMU_HV_REP_COUNT_SHIFT), V2P(in));
    hv_check(r, "HvFlushVirtualAddressList");
    if (((r >> VMMU_HV_REP_COUNT_SHIFT) & 0xfff) != n)
        panic("HvFlushVirtualAddressList: %llu of %u entries done",
              (r >> VMMU_HV_REP_COUNT_SHIFT) & 0xfff, n);
    hv_stats.flush_lists++;
    hv_stats.flush_entries += n;
}
