# The code's structure: include directions between layers (docs/ARCHITECTURE.md).
add_test(NAME layering
         COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/structure/layering_test.py
                 ${PROJECT_SOURCE_DIR})
