/* Program entry: the kernel's exec passes argc in rdi and argv in rsi (workloads/README.md),
 * exactly main's first two arguments. */
    .section .text.entry, "ax"
    .globl _start
_start:
    and $-16, %rsp      /* the C ABI wants rsp 16-aligned at each call */
    xor %ebp, %ebp      /* end of the frame-pointer chain */
    movabs $main, %rax
    call *%rax
    mov %eax, %edi
    movabs $exit, %rax
    call *%rax
1:  jmp 1b

    .section .note.GNU-stack, "", @progbits
