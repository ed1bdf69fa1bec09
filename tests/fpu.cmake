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
