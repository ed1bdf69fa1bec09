# Regression suite, determinism, sweep sharding (ctest) and the model and whole-run benchmarks
# (built with the tests, run by hand: see results/PERFORMANCE.md).

vmmu_test(compare_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/compare_test.cpp LIBS vmmu_cli)
add_dependencies(compare_test vmmu)

# The whole regression suite against results/baselines: a moved number fails until the baseline is
# updated on purpose (vmmu baseline update) in the same commit.
add_test(NAME baseline_check
         COMMAND $<TARGET_FILE:vmmu> baseline check --dir ${PROJECT_SOURCE_DIR}/results/baselines
                 --no-progress)
set_tests_properties(baseline_check PROPERTIES TIMEOUT 900 LABELS regression)

# Two processes, same command: identical JSON outside "sim".
add_test(NAME determinism
         COMMAND ${CMAKE_COMMAND} -DVMMU=$<TARGET_FILE:vmmu> -DOUT=${CMAKE_CURRENT_BINARY_DIR}/determinism
                 -P ${CMAKE_CURRENT_LIST_DIR}/regression/determinism.cmake)
set_tests_properties(determinism PROPERTIES TIMEOUT 600)

# Sharding with GNU parallel: three shards merged equal one unsharded sweep.
find_program(GNU_PARALLEL parallel)
add_test(NAME sweep_shards_parallel
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/regression/sweep_shards.sh $<TARGET_FILE:vmmu> ${GNU_PARALLEL}
                 ${CMAKE_CURRENT_LIST_DIR}/regression/sweep_small.json ${CMAKE_CURRENT_BINARY_DIR}/sweep_shards)
set_tests_properties(sweep_shards_parallel PROPERTIES TIMEOUT 600)

# SIGTERM to the sweep process alone reaches its runs; nothing is orphaned.
add_test(NAME sweep_interrupt
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/regression/sweep_interrupt.sh $<TARGET_FILE:vmmu>
                 ${CMAKE_CURRENT_BINARY_DIR}/sweep_interrupt)
set_tests_properties(sweep_interrupt PROPERTIES TIMEOUT 300)

add_executable(mmu_bench ${CMAKE_CURRENT_LIST_DIR}/bench/mmu_bench.cpp
                         ${CMAKE_CURRENT_LIST_DIR}/bench/walk2d_bench.cpp)
vmmu_host_target(mmu_bench)
# Its two files share fixture names: they are compiled one by one.
set_target_properties(mmu_bench PROPERTIES UNITY_BUILD OFF)
target_link_libraries(mmu_bench PRIVATE vmmu_native vmmu_shadow vmmu_slat vmmu_mmu benchmark::benchmark
                                        benchmark::benchmark_main)
target_compile_definitions(mmu_bench PRIVATE VMMU_SOURCE_DIR="${PROJECT_SOURCE_DIR}")

add_executable(run_bench ${CMAKE_CURRENT_LIST_DIR}/bench/run_bench.cpp)
vmmu_host_target(run_bench)
target_link_libraries(run_bench PRIVATE vmmu_cli benchmark::benchmark benchmark::benchmark_main)
target_compile_definitions(run_bench PRIVATE VMMU_GUEST_DIR="${VMMU_GUEST_DIR}"
                                             VMMU_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
add_dependencies(run_bench vmmu_guest_all smp_probe)

# --caches on and off count the same events; off prices walks at the flat latency.walk_ref as
# before the cache hierarchy existed, on by the level that served each reference.
add_test(NAME caches_on_off
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/regression/caches_on_off.py
                 $<TARGET_FILE:vmmu> ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/caches_on_off)
set_tests_properties(caches_on_off PROPERTIES TIMEOUT 300 LABELS regression)
