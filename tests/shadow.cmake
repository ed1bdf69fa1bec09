# Shadow page-table backend: structures, policies, oracle and property tests.
set(shadow_guest_memory ${PROJECT_SOURCE_DIR}/engine/core/guest_memory.cpp)
vmmu_test(shadow_backend_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/shadow_backend_test.cpp ${shadow_guest_memory}
  LIBS vmmu_mmu vmmu_shadow)
vmmu_test(shadow_property_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/shadow_property_test.cpp ${shadow_guest_memory}
  LIBS vmmu_mmu vmmu_shadow)
