# Engine core: test guests (tiny kernels built like the real one) and GoogleTest suites.
vmmu_guest(probe SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/guests/probe.c
           SCRIPT ${PROJECT_SOURCE_DIR}/workloads/kernel/kernel.ld OUTDIR ${VMMU_GUEST_DIR}/tests)
target_compile_options(probe PRIVATE ${VMMU_KERNEL_CFLAGS}) # a kernel: no FPU code

vmmu_test(engine_core_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/engine_core_test.cpp
          LIBS vmmu_core)
add_dependencies(engine_core_test probe)

# Several vCPUs per VM: a two-CPU probe kernel.
vmmu_guest(smp_probe SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/guests/smp_probe.c
           SCRIPT ${PROJECT_SOURCE_DIR}/workloads/kernel/kernel.ld OUTDIR ${VMMU_GUEST_DIR}/tests)
vmmu_test(smp_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/smp_test.cpp LIBS vmmu_core)
add_dependencies(smp_test smp_probe)

# Benchmarks: built with the tests, run by hand (see results/PERFORMANCE.md).
add_executable(engine_bench ${CMAKE_CURRENT_SOURCE_DIR}/bench/engine_bench.cpp)
vmmu_host_target(engine_bench)
target_link_libraries(engine_bench PRIVATE vmmu_core benchmark::benchmark)
target_compile_definitions(engine_bench PRIVATE VMMU_GUEST_DIR="${VMMU_GUEST_DIR}")
add_dependencies(engine_bench probe smp_probe)

# Unicorn 2.0.1 and five-level paging (docs/UNICORN-2.0.1.md, fact 20): bare Unicorn, no engine.
vmmu_test(unicorn_la57_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unicorn_la57_test.cpp
          LIBS vmmu_core)

# Schemes on several vCPUs (the two-CPU probe kernel): every scheme is linked in.
vmmu_test(smp_backend_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/smp_backend_test.cpp
          LIBS vmmu_cli)
add_dependencies(smp_backend_test smp_probe)
# Unicorn 2.0.1, per-CPU data and locks (docs/UNICORN-2.0.1.md, fact 21): GS base MSRs, swapgs,
# lock cmpxchg on MMIO. Bare Unicorn, no engine.
vmmu_test(unicorn_smp_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/unicorn_smp_test.cpp
          LIBS vmmu_core)
