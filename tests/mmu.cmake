# MMU model layer: TLB/PWC models, profiles, cost model, native and slat backends.
vmmu_test(tlb_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/tlb_test.cpp LIBS vmmu_mmu)
vmmu_test(pwc_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/pwc_test.cpp LIBS vmmu_mmu)
vmmu_test(cache_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/cache_test.cpp LIBS vmmu_mmu)
vmmu_test(profile_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/profile_test.cpp LIBS vmmu_output)
vmmu_test(native_backend_test
          SOURCES ${CMAKE_CURRENT_LIST_DIR}/native_backend_test.cpp
          LIBS vmmu_native vmmu_mmu)
vmmu_test(slat_walker_test
          SOURCES ${CMAKE_CURRENT_LIST_DIR}/slat_walker_test.cpp
          LIBS vmmu_slat vmmu_mmu)
vmmu_test(mmu_property_test
          SOURCES ${CMAKE_CURRENT_LIST_DIR}/mmu_property_test.cpp
          LIBS vmmu_output)
vmmu_test(registry_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/registry_test.cpp LIBS vmmu_mmu)
# Five-level paging (CR4.LA57) in every scheme's walk, on hand-built tables.
vmmu_test(la57_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/la57_test.cpp LIBS vmmu_output)
