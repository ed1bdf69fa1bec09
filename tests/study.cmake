# Scaling study, demos, validation and the HTML report.
vmmu_test(study_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/study_capacity_test.cpp
          ${CMAKE_CURRENT_SOURCE_DIR}/demo_walk_test.cpp
  LIBS vmmu_cli)

vmmu_test(demo_exits_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/demo_exits_test.cpp
  LIBS vmmu_cli)

# The report needs Debian's matplotlib, so the system interpreter, not whatever is on PATH.
add_test(NAME report_charts_present
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/report/report_test.py
                 $<TARGET_FILE:vmmu> ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_BINARY_DIR}/report_test)
set_tests_properties(report_charts_present PROPERTIES TIMEOUT 600)

add_test(NAME demo_cli COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/demo/demo_cli_test.sh $<TARGET_FILE:vmmu>)
set_tests_properties(demo_cli PROPERTIES TIMEOUT 300)

vmmu_test(quiz_test
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/quiz_test.cpp
  LIBS vmmu_cli)

# The walk page's script, run under Node (Debian nodejs, dev.sh) against a minimal document.
add_test(NAME demo_walk_page
         COMMAND sh -c "$<TARGET_FILE:vmmu> demo walk --html ${CMAKE_CURRENT_BINARY_DIR}/walk.html && node ${CMAKE_CURRENT_SOURCE_DIR}/demo/walk_page_test.js ${CMAKE_CURRENT_BINARY_DIR}/walk.html")

# The classroom pages in a real browser: Debian chromium headless through chromedriver and
# python3-selenium (dev.sh installs them; missing, the test fails naming them, it never skips).
add_test(NAME browser_pages
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/browser/pages_test.py
                 $<TARGET_FILE:vmmu> ${CMAKE_CURRENT_BINARY_DIR}/browser)
set_tests_properties(browser_pages PROPERTIES TIMEOUT 120 LABELS browser)
