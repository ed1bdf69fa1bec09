# The guest SDK that `vmmu cc` builds users' programs with (docs/PROGRAMS.md): the libc archive,
# its headers, the program linker script and the flags the built-in programs are compiled and
# linked with, read from their targets so that the two never differ. It lands in
# build/guest/sdk/ and is installed to P/share/vmmu/guest/sdk/.
set(sdk ${VMMU_GUEST_DIR}/sdk)
set_target_properties(vmmu_guest_libc PROPERTIES ARCHIVE_OUTPUT_DIRECTORY ${sdk}/lib
                                                 OUTPUT_NAME vmmu)
add_dependencies(vmmu_guest_all vmmu_guest_libc)

file(GLOB sdk_abi CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/workloads/include/vmmu/*.h)
file(GLOB_RECURSE sdk_std RELATIVE ${CMAKE_SOURCE_DIR}/workloads/libc/include CONFIGURE_DEPENDS
     ${CMAKE_SOURCE_DIR}/workloads/libc/include/*.h)
foreach(h ${sdk_abi})
  get_filename_component(name ${h} NAME)
  configure_file(${h} ${sdk}/include/vmmu/${name} COPYONLY)
endforeach()
foreach(h ${sdk_std}) # sys/types.h keeps its folder
  configure_file(${CMAKE_SOURCE_DIR}/workloads/libc/include/${h} ${sdk}/include/${h} COPYONLY)
endforeach()
configure_file(${CMAKE_SOURCE_DIR}/workloads/libc/libc.h ${sdk}/include/libc.h COPYONLY)
configure_file(${CMAKE_SOURCE_DIR}/workloads/programs/program.ld ${sdk}/program.ld COPYONLY)

# One flag a line. Build-machine paths (-ffile-prefix-map) and warning choices stay out: a
# user's build chooses its own warnings.
set(opts "$<TARGET_PROPERTY:hello,COMPILE_OPTIONS>")
set(opts "$<FILTER:${opts},EXCLUDE,^-ffile-prefix-map=|^-W>")
file(GENERATE OUTPUT ${sdk}/cflags CONTENT "$<JOIN:${opts},\n>\n")
list(JOIN VMMU_GUEST_LDFLAGS "\n" ldflags)
file(WRITE ${sdk}/ldflags "${ldflags}\n")
# The compiler the guest was built with; `vmmu cc` falls back to cc on PATH without it.
file(WRITE ${sdk}/compiler "${CMAKE_C_COMPILER}\n")

install(DIRECTORY ${sdk}/ DESTINATION ${VMMU_INSTALL_DATA}/guest/sdk)
