# Shadow page-table backend: structures, policies, oracle and property tests.
vmmu_test(shadow_backend_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/shadow_backend_test.cpp
  LIBS vmmu_mmu vmmu_shadow)
vmmu_test(shadow_property_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/shadow_property_test.cpp
  LIBS vmmu_mmu vmmu_shadow)
