# CI formats: the comparison as text, Markdown, JUnit XML and JSON; provenance; profile overrides;
# benchmark exports read by their real consumers; tidy CSV; tolerances; the docs/ci/ workflows.
# Each section of tests/ci/ci_test.py is its own ctest, so a failure names what broke.
foreach(section formats provenance set export csv tolerances workflows)
  add_test(NAME ci_${section}
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/ci/ci_test.py ${section}
                   $<TARGET_FILE:vmmu> ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/ci_${section})
  set_tests_properties(ci_${section} PROPERTIES TIMEOUT 300 LABELS ci)
endforeach()
