# Floating point in user programs: test programs built for the guest (in program slots 11-13,
# kept out of build/guest/programs so no workload sees them) and, from the same sources, for the
# host, whose output the guest's must equal byte for byte.
set(fpu_guest_dir ${VMMU_GUEST_DIR}/tests/fpu)
set(fpu_slot_fpu_mix 0x1B00000)
set(fpu_slot_libc_check 0x1C00000)
set(fpu_slot_math_check 0x1D00000)
foreach(prog fpu_mix libc_check math_check)
  vmmu_guest(${prog} SOURCES ${CMAKE_CURRENT_LIST_DIR}/guests/${prog}.c
             SCRIPT ${PROJECT_SOURCE_DIR}/workloads/programs/program.ld LIBS vmmu_guest_libc
             DEFSYM TEXT_BASE=${fpu_slot_${prog}} OUTDIR ${fpu_guest_dir})
endforeach()
foreach(prog fpu_mix libc_check)
  add_executable(${prog}_host ${CMAKE_CURRENT_LIST_DIR}/guests/${prog}.c)
  target_compile_options(${prog}_host PRIVATE -O2 -w)
  target_link_libraries(${prog}_host PRIVATE m)
endforeach()

vmmu_test(fpu_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/fpu_test.cpp LIBS vmmu_core)
target_compile_definitions(fpu_test PRIVATE VMMU_FPU_GUEST_DIR="${fpu_guest_dir}"
                                            FPU_MIX_HOST="$<TARGET_FILE:fpu_mix_host>"
                                            LIBC_CHECK_HOST="$<TARGET_FILE:libc_check_host>")
add_dependencies(fpu_test vmmu_guest_all fpu_mix libc_check math_check fpu_mix_host
                 libc_check_host)

# Unicorn 2.0.1's MMIO access sizes for SSE, x87 and FXSAVE (docs/UNICORN-2.0.1.md, fact 4):
# bare Unicorn, no engine.
vmmu_test(unicorn_mmio_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/unicorn_mmio_test.cpp LIBS vmmu_core)

# The printf engine and strtod of the guest libc, compiled for the host (with the guest's
# headers, symbols renamed so glibc's stay reachable), against glibc over a million conversions.
add_library(guest_libc_format_host OBJECT ${PROJECT_SOURCE_DIR}/workloads/libc/format.c
                                          ${PROJECT_SOURCE_DIR}/workloads/libc/float.c
                                          ${PROJECT_SOURCE_DIR}/workloads/libc/strtod.c)
target_include_directories(guest_libc_format_host PRIVATE ${PROJECT_SOURCE_DIR}/workloads/include
                           ${PROJECT_SOURCE_DIR}/workloads/libc/include
                           ${PROJECT_SOURCE_DIR}/workloads/libc)
target_compile_options(guest_libc_format_host PRIVATE -O2 -ffreestanding -fno-builtin -w)
target_compile_definitions(guest_libc_format_host PRIVATE strtod=vmmu_libc_strtod
                           strtof=vmmu_libc_strtof strtold=vmmu_libc_strtold atof=vmmu_libc_atof
                           errno=vmmu_libc_errno)
add_executable(libc_format_host_check ${CMAKE_CURRENT_LIST_DIR}/libc/format_host_check.c
                                      $<TARGET_OBJECTS:guest_libc_format_host>)
target_link_libraries(libc_format_host_check PRIVATE m)
add_test(NAME libc_format_host COMMAND libc_format_host_check 30000)
