/* long vmmu_clone(stack_top, fn, arg): a thread sharing this address space (SYS_CLONE with
 * VMMU_CLONE_VM, vmmu/syscalls.h) that runs exit(fn(arg)) on the stack ending at stack_top
 * (16-byte aligned). The kernel resumes the thread right after the syscall with rax = 0 and the
 * caller's other registers, so fn and arg travel on the new stack. Returns the thread id (or
 * -errno) in the caller. */
#include "vmmu/syscalls.h"

    .text
    .globl vmmu_clone
vmmu_clone:
    sub $16, %rdi
    mov %rsi, (%rdi)          /* fn */
    mov %rdx, 8(%rdi)         /* arg */
    mov %rdi, %rsi            /* the thread's stack */
    mov $VMMU_CLONE_VM, %edi
    mov $SYS_CLONE, %eax
    syscall
    test %rax, %rax
    jnz 1f
    /* The thread: on its own stack, fn and arg on top. */
    pop %rax
    pop %rdi
    xor %ebp, %ebp
    call *%rax
    mov %eax, %edi
    mov $SYS_EXIT, %eax
    syscall
2:  jmp 2b
1:  ret

    .section .note.GNU-stack, "", @progbits
