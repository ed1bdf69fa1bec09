# The child-process pool behind sweeps, the scaling study and the report (process_pool.h).
vmmu_test(process_pool_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/process_pool_test.cpp
  LIBS vmmu_experiment)
