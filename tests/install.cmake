# Installation and the data directory (engine/experiment/paths.h): an installed vmmu works from
# any directory, a vmmu without its data says where it looked; `vmmu report` from the install.
vmmu_test(paths_test SOURCES ${CMAKE_CURRENT_LIST_DIR}/paths_test.cpp LIBS vmmu_experiment)
add_dependencies(paths_test vmmu_guest_all)

add_test(NAME install_prefix
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/regression/install_prefix.sh ${CMAKE_COMMAND}
                 ${CMAKE_BINARY_DIR})
set_tests_properties(install_prefix PROPERTIES TIMEOUT 300)

add_test(NAME install_missing_data
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/regression/install_missing_data.sh $<TARGET_FILE:vmmu>
                 ${CMAKE_BINARY_DIR})
set_tests_properties(install_missing_data PROPERTIES TIMEOUT 120)
