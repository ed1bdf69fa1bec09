# Guest code: freestanding x86-64 ELF built by the host compiler.
# -mcmodel=large: code sits below G while data sits in the MMIO window, far more than 2 GiB away.
# User code (libc, programs) may use x87 and SSE2, the x86-64 baseline: the kernel saves and
# restores each process's FXSAVE state (workloads/kernel/fpu.c). The kernel itself is built with
# VMMU_KERNEL_CFLAGS added: -mgeneral-regs-only, so it never touches the FPU registers it keeps
# for user processes.
set(VMMU_KERNEL_CFLAGS -mgeneral-regs-only -DVMMU_KERNEL=1)
set(VMMU_GUEST_CFLAGS
    -O2 -g -std=gnu11 -ffreestanding -fno-builtin -fno-pic -fno-pie -mcmodel=large -mno-red-zone
    -fno-stack-protector -fno-asynchronous-unwind-tables
    -fcf-protection=none -fno-jump-tables -Wall -Wextra -Wno-unused-parameter
    # Reproducible images: no build-machine paths in what the guest is given.
    -ffile-prefix-map=${CMAKE_SOURCE_DIR}=. -ffile-prefix-map=${CMAKE_BINARY_DIR}=build)
set(VMMU_GUEST_LDFLAGS -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-z,max-page-size=4096
    -Wl,-z,noexecstack -Wl,--no-warn-rwx-segments)

# vmmu_guest(NAME SOURCES ... SCRIPT file [LIBS ...] [DEFSYM sym=val])
function(vmmu_guest name)
  cmake_parse_arguments(G "" "SCRIPT;OUTDIR" "SOURCES;LIBS;DEFSYM" ${ARGN})
  add_executable(${name} ${G_SOURCES})
  target_compile_options(${name} PRIVATE ${VMMU_GUEST_CFLAGS})
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/workloads/include
                                             ${CMAKE_SOURCE_DIR}/workloads/libc/include
                                             ${CMAKE_SOURCE_DIR}/workloads/libc)
  set(ld ${VMMU_GUEST_LDFLAGS} -T ${G_SCRIPT})
  foreach(d ${G_DEFSYM})
    list(APPEND ld -Wl,--defsym=${d})
  endforeach()
  target_link_options(${name} PRIVATE ${ld})
  target_link_libraries(${name} PRIVATE ${G_LIBS})
  set_target_properties(${name} PROPERTIES LINK_DEPENDS ${G_SCRIPT} SUFFIX ".elf"
                        RUNTIME_OUTPUT_DIRECTORY ${G_OUTDIR})
endfunction()
