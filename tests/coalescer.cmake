# The loop coalescer (engine/core/loop_coalescer.*) on synthetic blocks: no Unicorn, no guest.
vmmu_test(loop_coalescer_test SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/loop_coalescer_test.cpp
          LIBS vmmu_core)
