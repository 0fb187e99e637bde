# cmake -DPROGRAM=p -DARGUMENTS="a;b" -DRC=0|1 -DOUTPUT=regex -P expect_run.cmake
#
# Runs `p a b` and fails unless it exits with RC and its output matches OUTPUT.
# Tests the progress program on fixed inputs in the solution build.
execute_process(COMMAND "${PROGRAM}" ${ARGUMENTS}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc STREQUAL RC)
  message(FATAL_ERROR "expected exit status ${RC}, got ${rc}")
endif()
if(NOT out MATCHES "${OUTPUT}")
  message(FATAL_ERROR "the output does not match the regular expression: ${OUTPUT}")
endif()
