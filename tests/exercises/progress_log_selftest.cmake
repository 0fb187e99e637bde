# cmake -DPROGRAM=<exercise_progress> -DLIST=<tsv> -DWORK_DIR=<dir> -DLIST_ARGS=<args>
#       -DFIRST="<label> <name>" -DSECOND="<label> <name>" -DFIRST_EXE=<exe>
#       -P progress_log_selftest.cmake
#
# The progress summary must take an exercise's result from the CTest run that
# just happened when that run covered it. The list points the first exercise
# at its untouched stub and the second at its solution; a synthetic CTest log
# says every case of the first passed and a case of the second failed. Run
# again, the executables would say the opposite, so the summary can only
# count the first as done and the second as not if it believed the log.
cmake_minimum_required(VERSION 3.25)
file(REMOVE_RECURSE "${WORK_DIR}")
separate_arguments(list_args UNIX_COMMAND "${LIST_ARGS}")
execute_process(COMMAND "${FIRST_EXE}" ${list_args} OUTPUT_VARIABLE names RESULT_VARIABLE ignored)
string(REPLACE "\n" ";" names "${names}")
set(log "Start testing: now\n----------------------------------------------------------\n")
set(i 0)
foreach(name IN LISTS names)
  if(name STREQUAL "")
    continue()
  endif()
  math(EXPR i "${i} + 1")
  string(APPEND log "${i}/99 Testing: ${name} (${FIRST})\n${i}/99 Test: ${name} (${FIRST})\n"
    "Output:\n----------------------------------------------------------\n<end of output>\n"
    "Test time =   0.01 sec\n----------------------------------------------------------\n"
    "Test Passed.\n----------------------------------------------------------\n\n")
endforeach()
if(i EQUAL 0)
  message(FATAL_ERROR "${FIRST_EXE} ${LIST_ARGS} listed no test cases")
endif()
string(APPEND log "98/99 Testing: some case (${SECOND})\n98/99 Test: some case (${SECOND})\n"
  "Output:\n----------------------------------------------------------\n<end of output>\n"
  "Test time =   0.01 sec\n----------------------------------------------------------\n"
  "Test Failed.\n----------------------------------------------------------\n\n"
  "End testing: now\n")
file(WRITE "${WORK_DIR}/LastTest.log" "${log}")

execute_process(COMMAND "${PROGRAM}" "${LIST}" --ctest-log "${WORK_DIR}" --timeout 10
  --list-args "${LIST_ARGS}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
string(REPLACE " " ";" first "${FIRST}")
string(REPLACE " " ";" second "${SECOND}")
list(GET first 1 first_name)
list(GET second 1 second_name)
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "expected exit status 1, got ${rc}")
endif()
foreach(want "\\[x\\] ${first_name} " "\\[ \\] ${second_name} " "\\(2 from this test run"
             "Next: ${SECOND} ")
  if(NOT out MATCHES "${want}")
    message(FATAL_ERROR "the output does not match: ${want}")
  endif()
endforeach()
