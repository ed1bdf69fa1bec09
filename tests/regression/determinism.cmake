# Runs the same `vmmu run` command twice in two processes and requires byte-identical JSON once
# the wall-clock "sim" block is cut out. Usage: cmake -DVMMU=... -DOUT=dir -P determinism.cmake
file(REMOVE_RECURSE ${OUT})
file(MAKE_DIRECTORY ${OUT})
# Several processes with timer-driven scheduling, page faults, fork and exit: the paths where a
# stray host dependence (time, addresses, hash order) would show first.
set(cases "sessions\;--param\;sessions=2\;--param\;actions=2\;--param\;ws_mib=1"
          "forkwait\;--param\;n=50")
foreach(case IN LISTS cases)
  list(GET case 0 name)
  list(SUBLIST case 1 -1 params)
  foreach(i 1 2)
    execute_process(COMMAND ${VMMU} run --quiet --workload ${name} ${params} --json ${OUT}/${name}.${i}.json
                    RESULT_VARIABLE rc OUTPUT_QUIET)
    # 3 (the guest failed its self-check) still writes a document, which must be deterministic
    # too; whether the guest passes is the baseline check's business.
    if(NOT rc EQUAL 0 AND NOT rc EQUAL 3)
      message(FATAL_ERROR "vmmu run --workload ${name} exited with ${rc}")
    endif()
    file(READ ${OUT}/${name}.${i}.json text)
    string(REGEX REPLACE "\"sim\": {[^}]*}" "\"sim\": {}" stripped "${text}")
    if(stripped STREQUAL text)
      message(FATAL_ERROR "${OUT}/${name}.${i}.json has no \"sim\" block: the vmmu.run/1 layout changed")
    endif()
    set(run${i} "${stripped}")
  endforeach()
  if(NOT run1 STREQUAL run2)
    message(FATAL_ERROR "two runs of '${name}' differ outside \"sim\": "
                        "diff ${OUT}/${name}.1.json ${OUT}/${name}.2.json")
  endif()
  string(LENGTH "${run1}" n)
  message(STATUS "${name}: ${n} bytes identical outside sim")
endforeach()
