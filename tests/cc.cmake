# Users' own programs (docs/PROGRAMS.md): `vmmu cc` from an installed vmmu builds each example,
# every scheme runs it with the oracle on, and its output must equal the same source built and
# run on the host; then what cc and run refuse, and how they say so.
add_test(NAME cc_examples
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/regression/cc_examples.sh ${CMAKE_COMMAND}
                 ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR}/workloads/examples)
set_tests_properties(cc_examples PROPERTIES TIMEOUT 300 LABELS "programs")

add_test(NAME cc_bad_input
         COMMAND ${CMAKE_CURRENT_LIST_DIR}/regression/cc_bad_input.sh $<TARGET_FILE:vmmu>)
set_tests_properties(cc_bad_input PROPERTIES TIMEOUT 120 LABELS "programs")
