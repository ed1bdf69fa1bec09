# Robustness: every class of bad input, guest failures and signals, checked through the
# built `vmmu` binary run as a subprocess, so exit codes and messages are exactly what a user sees.

# Two misbehaving user programs for the real kernel, in the last two program slots (the
# workloads use the first ones), kept out of build/guest/programs so no workload sees them.
set(robust_guest_dir ${VMMU_GUEST_DIR}/tests/robust)
foreach(prog forever crash)
  if(prog STREQUAL "forever")
    set(base 0x1E00000)
  else()
    set(base 0x1F00000)
  endif()
  vmmu_guest(robust_${prog} SOURCES ${CMAKE_CURRENT_LIST_DIR}/guests/robust_${prog}.c
             SCRIPT ${PROJECT_SOURCE_DIR}/workloads/programs/program.ld LIBS vmmu_guest_libc
             DEFSYM TEXT_BASE=${base} OUTDIR ${robust_guest_dir})
endforeach()

vmmu_test(robustness_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/robustness_cli_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/robustness_input_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/robustness_elf_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/robustness_guest_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/robustness_oracle_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/robustness_upfront_test.cpp
  LIBS vmmu_cli)
target_compile_definitions(robustness_test PRIVATE VMMU_EXE="$<TARGET_FILE:vmmu>"
                                                   VMMU_ROBUST_GUEST_DIR="${robust_guest_dir}")
add_dependencies(robustness_test vmmu probe robust_forever robust_crash)

# libFuzzer targets (clang, -DVMMU_FUZZ=ON): the parsers compiled in with coverage, the rest of
# the engine linked as it is. tests/fuzz/run.sh runs each for a bounded time on its corpus.
if(VMMU_FUZZ)
  set(fuzz_flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -g -O1)
  function(vmmu_fuzz name)
    cmake_parse_arguments(F "" "" "SOURCES;LIBS" ${ARGN})
    add_executable(${name} ${F_SOURCES})
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}
                                               ${PROJECT_SOURCE_DIR}/workloads/include)
    target_compile_options(${name} PRIVATE ${fuzz_flags})
    target_link_options(${name} PRIVATE ${fuzz_flags})
    target_link_libraries(${name} PRIVATE ${F_LIBS})
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
  endfunction()
  vmmu_fuzz(profile_fuzz SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz/profile_fuzz.cpp
                                 ${PROJECT_SOURCE_DIR}/engine/mmu/profile.cpp
            LIBS vmmu_mmu nlohmann_json::nlohmann_json fmt::fmt)
  vmmu_fuzz(scenario_fuzz SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz/scenario_fuzz.cpp
                                  ${PROJECT_SOURCE_DIR}/engine/experiment/scenario_parse.cpp
                                  ${PROJECT_SOURCE_DIR}/engine/experiment/run_flags.cpp
            LIBS vmmu_mmu CLI11::CLI11 nlohmann_json::nlohmann_json fmt::fmt)
  vmmu_fuzz(elf_fuzz SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz/elf_fuzz.cpp
                             ${PROJECT_SOURCE_DIR}/engine/core/elf_image.cpp
                             ${PROJECT_SOURCE_DIR}/engine/core/boot.cpp
                             ${PROJECT_SOURCE_DIR}/engine/core/guest_memory.cpp
            LIBS fmt::fmt)
endif()
