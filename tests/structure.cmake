# The code's structure: include directions between layers (docs/ARCHITECTURE.md).
add_test(NAME layering
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/structure/layering_test.py
                 ${PROJECT_SOURCE_DIR})
add_test(NAME clang_format
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/structure/format_test.sh ${PROJECT_SOURCE_DIR})
