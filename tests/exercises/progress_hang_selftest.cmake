# cmake -DPROGRAM=<exercise_progress> -DWORK_DIR=<dir> -P progress_hang_selftest.cmake
#
# An exercise whose tests hang must cost the progress summary its time limit
# and no more, and the summary must name the step the tests hung in (the
# last "step: ..." line they printed). The "test executable" here is a
# script that lists no cases, prints a step and sleeps.
cmake_minimum_required(VERSION 3.25)
file(REMOVE_RECURSE "${WORK_DIR}")
file(WRITE "${WORK_DIR}/src/hang.sh" "#!/bin/sh\n"
  "case \"$1\" in --list*) exit 0 ;; esac\n"
  "echo 'step: waiting for a wake that never comes' >&2\n"
  "exec sleep 60\n")
file(COPY "${WORK_DIR}/src/hang.sh" DESTINATION "${WORK_DIR}"
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
file(WRITE "${WORK_DIR}/list.tsv"
  "ch99\t99-test\thang\tHangs forever\tIt never returns.\tchapters/99-test/exercises/hang.cpp\t${WORK_DIR}/hang.sh\t\n")
string(TIMESTAMP start "%s")
execute_process(COMMAND "${PROGRAM}" "${WORK_DIR}/list.tsv" --timeout 2
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(TIMESTAMP end "%s")
math(EXPR took "${end} - ${start}")
message("${out}${err}(took ${took} s)")
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "expected exit status 1, got ${rc}")
endif()
if(NOT out MATCHES "timed out after 2 s in step: waiting for a wake that never comes")
  message(FATAL_ERROR "the summary does not say where the tests hung")
endif()
if(took GREATER 8)
  message(FATAL_ERROR "a 2 s limit took ${took} s")
endif()
