# Several VMs on one host: scheduling, world switches, host memory, density.
vmmu_test(multivm_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/multivm_test.cpp
  LIBS vmmu_cli)

# Host frames and isolation, memory deduplication.
vmmu_test(dedup_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/dedup_test.cpp
  LIBS vmmu_cli)
