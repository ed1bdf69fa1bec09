/* Program entry: the kernel's exec passes argc in rdi and argv in rsi (workloads/README.md),
 * exactly main's first two arguments. */
    .section .text.entry, "ax"
    .globl _start
_start:
    and $-16, %rsp      /* the C ABI wants rsp 16-aligned at each call */
    xor %ebp, %ebp      /* end of the frame-pointer chain */
    xor %eax, %eax      /* vmmu_program_name = argc ? argv[0] : 0 (libc/roi.c) */
    test %edi, %edi
    jz 2f
    mov (%rsi), %rax
2:  movabs $vmmu_program_name, %rcx
    mov %rax, (%rcx)
    movabs $main, %rax
    call *%rax
    mov %eax, %edi
    movabs $exit, %rax
    call *%rax
1:  jmp 1b

    .section .note.GNU-stack, "", @progbits
