# Windows: region markers, warm-up and intervals split the counters exactly.
vmmu_test(windows_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/windows_test.cpp
  LIBS vmmu_cli)
add_dependencies(windows_test probe vmmu_guest_all)
