# CTest's post-test command in the `exercises` build (see cmake/Exercises.cmake):
#
#   cmake -DPROGRAM=<exercise_progress> -DLIST=<progress.tsv> -DLOG=<Testing/Temporary>
#         -DTIMEOUT=<s> -DLIST_ARGS=<how to list test cases> -P progress_report.cmake
#
# Prints the progress summary. A command CTest cannot run makes `ctest` exit
# 8 with "Problem running command", even when every test passed; this script
# always runs, and when the program is not built yet it says how to build it
# instead. It never fails: the tests' own results decide ctest's exit status.
if(NOT EXISTS "${PROGRAM}")
  message(NOTICE "\nExercise progress: not shown, its program is not built yet. "
    "Build everything once with\n  cmake --build --preset exercises\n"
    "and every later ctest run ends with the summary.")
  return()
endif()
execute_process(COMMAND "${PROGRAM}" "${LIST}" --ctest-log "${LOG}" --timeout "${TIMEOUT}"
  --list-args "${LIST_ARGS}" --report)
