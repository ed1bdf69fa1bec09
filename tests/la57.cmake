# Five-level paging (CR4.LA57): the real guest under every scheme, and the command line.
vmmu_test(la57_oracle_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/integration/la57_oracle_test.cpp
          LIBS vmmu_cli)
add_dependencies(la57_oracle_test vmmu_guest_all)
vmmu_test(la57_cli_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/la57_cli_test.cpp LIBS vmmu_cli)
target_compile_definitions(la57_cli_test PRIVATE VMMU_EXE="$<TARGET_FILE:vmmu>")
add_dependencies(la57_cli_test vmmu vmmu_guest_all)
