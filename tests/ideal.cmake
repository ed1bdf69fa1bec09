# The ideal scheme: a perfect TLB, the lower bound (docs/NEW-SCHEME.md).
vmmu_test(ideal_backend_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/ideal_backend_test.cpp
  LIBS vmmu_output)
add_dependencies(ideal_backend_test vmmu_guest_all)
