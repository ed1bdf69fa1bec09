# The agile scheme: hand-built address spaces, and the real guest under the oracle.
vmmu_test(agile_backend_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/agile_backend_test.cpp
          LIBS vmmu_output)
vmmu_test(agile_oracle_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/integration/agile_oracle_test.cpp
          LIBS vmmu_cli)
add_dependencies(agile_oracle_test vmmu_guest_all)
