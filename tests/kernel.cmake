# The teaching kernel and its programs, run end to end on the engine.
vmmu_test(kernel_workloads_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/integration/kernel_workloads_test.cpp
          LIBS vmmu_cli)
add_dependencies(kernel_workloads_test vmmu_guest_all)

vmmu_test(oracle_workloads_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/integration/oracle_workloads_test.cpp
          LIBS vmmu_cli)
add_dependencies(oracle_workloads_test vmmu_guest_all)

# Hypervisor personalities: CPUID answers, the Hyper-V-enlightened kernel on every workload.
vmmu_test(hyperv_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/integration/hyperv_test.cpp
          LIBS vmmu_cli)
add_dependencies(hyperv_test vmmu_guest_all)

# The kernel on several vCPUs: checksums equal to one vCPU's, work spread, shootdowns.
vmmu_test(kernel_smp_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/integration/kernel_smp_test.cpp
          LIBS vmmu_cli)
add_dependencies(kernel_smp_test vmmu_guest_all)

# A sample of the vCPU-count x quantum matrix through the command line (threads, munmapstorm,
# forkwait, sessions; --backends none and native,ideal): every run exits 0 with its workload's
# one-vCPU checksum. The whole matrix: tests/regression/smp_matrix.sh build/vmmu (240 runs).
add_test(NAME smp_matrix_sample
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/regression/smp_matrix.sh $<TARGET_FILE:vmmu> --sample)
set_tests_properties(smp_matrix_sample PROPERTIES TIMEOUT 600 LABELS "kernel;smp")

# Shadow paging under the kernel on several vCPUs: oracle, checksums, remote flushes, reruns.
vmmu_test(shadow_smp_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/integration/shadow_smp_test.cpp
          LIBS vmmu_cli)
add_dependencies(shadow_smp_test vmmu_guest_all)
