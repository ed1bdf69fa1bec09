# Engine core: test guests (tiny kernels built like the real one) and GoogleTest suites.
vmmu_guest(probe SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/guests/probe.c
           SCRIPT ${PROJECT_SOURCE_DIR}/workloads/kernel/kernel.ld OUTDIR ${VMMU_GUEST_DIR}/tests)

vmmu_test(engine_core_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/engine_core_test.cpp
          LIBS vmmu_core)
add_dependencies(engine_core_test probe)
