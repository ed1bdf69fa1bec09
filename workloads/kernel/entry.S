/* Kernel entry points: boot, trap and syscall stubs, context switch.
 * Every absolute address is loaded with movabs: code sits at 1 MiB, data in the direct map
 * (64 TiB), far beyond the reach of 32-bit displacements. */

#define GS_KSTACK_TOP 0 /* struct cpu (kernel.h): kernel stack of the running process */
#define GS_USER_RSP 8   /* scratch: user RSP while the syscall stub switches stacks */
#define VEC_SYSCALL 256 /* not a real vector: marks frames built by syscall_entry */
#define BOOT_STACK_SIZE 16384 /* boot_stack in main.c */

    .section .text.entry, "ax"
    .globl _start
/* Boot: rdi = boot info (direct map). Leave the engine's small boot stack at once. */
_start:
    movabs $(boot_stack + BOOT_STACK_SIZE), %rsp
    xor %ebp, %ebp
    movabs $kmain, %rax
    call *%rax
1:  hlt
    jmp 1b

/* An application processor (smp.c): the engine starts it here with rdi = its CPU index and rsp
 * = the stack smp_start_aps gave it. */
    .globl ap_entry
ap_entry:
    xor %ebp, %ebp
    movabs $ap_main, %rax
    call *%rax
1:  hlt
    jmp 1b

    .text
/* Push every general register; the layout is struct trapframe (kernel.h). */
.macro SAVE_REGS
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
.endm

/* Exceptions that push an error code (SDM vol. 3, 6.13): the stub pushes a 0 for the rest so
 * that every frame has the same shape. */
.macro VECTOR n, has_error
    .globl vector\n
vector\n:
    .if \has_error == 0
    push $0
    .endif
    push $\n
    jmp trap_common
.endm

VECTOR 0, 0
VECTOR 1, 0
VECTOR 2, 0
VECTOR 3, 0
VECTOR 4, 0
VECTOR 5, 0
VECTOR 6, 0
VECTOR 7, 0
VECTOR 8, 1
VECTOR 9, 0
VECTOR 10, 1
VECTOR 11, 1
VECTOR 12, 1
VECTOR 13, 1
VECTOR 14, 1
VECTOR 15, 0
VECTOR 16, 0
VECTOR 17, 1
VECTOR 18, 0
VECTOR 19, 0
VECTOR 20, 0
VECTOR 21, 1
VECTOR 22, 0
VECTOR 23, 0
VECTOR 24, 0
VECTOR 25, 0
VECTOR 26, 0
VECTOR 27, 0
VECTOR 28, 0
VECTOR 29, 1
VECTOR 30, 1
VECTOR 31, 0
VECTOR 32, 0
VECTOR 240, 0
VECTOR 241, 0

trap_common:
    SAVE_REGS
    mov %rsp, %rdi
    movabs $trap, %rax
    call *%rax
    jmp trapret

/* Return to whatever the frame on the stack describes. iretq, never sysretq: sysret would
 * drop to CPL3, and the guest must stay at CPL0 (docs/UNICORN-2.0.1.md, 12). */
    .globl trapret
trapret:
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    add $16, %rsp /* vector and error code */
    iretq

/* SYSCALL entry (LSTAR). The CPU saved RIP in rcx and RFLAGS in r11, masked IF through SFMASK,
 * and left RSP on the user stack (SDM vol. 2, SYSCALL). Move to the process's kernel stack and
 * build the same frame an interrupt would, so fork and exec can treat both alike. */
    .globl syscall_entry
syscall_entry:
    mov %rsp, %gs:GS_USER_RSP
    mov %gs:GS_KSTACK_TOP, %rsp
    push $0x10                /* ss */
    push %gs:GS_USER_RSP      /* rsp */
    push %r11                 /* rflags */
    push $0x08                /* cs */
    push %rcx                 /* rip */
    push $0                   /* error */
    push $VEC_SYSCALL         /* vector */
    SAVE_REGS
    mov %rsp, %rdi
    movabs $syscall_dispatch, %rax
    call *%rax
    jmp trapret

/* swtch(save_sp, new_sp): save the callee-saved registers on this stack, store its pointer in
 * *save_sp, and resume the stack new_sp where another swtch (or proc_start) left it. */
    .globl swtch
swtch:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    mov %rsp, (%rdi)
    mov %rsi, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret

    .section .note.GNU-stack, "", @progbits
