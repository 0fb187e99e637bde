# cmake -DWORK_DIR=<scratch dir> -P check_book_snippets_selftest.cmake
#
# check_book_snippets.cmake must fail on a snippet from an exercise solution
# (whatever the relative path looks like) and pass on snippets from a
# chapter's programs and from an exercise's header.
cmake_minimum_required(VERSION 3.25)
set(check "${CMAKE_CURRENT_LIST_DIR}/check_book_snippets.cmake")
set(failures "")
function(run_case name expect_ok text)
  set(root "${WORK_DIR}/${name}")
  file(REMOVE_RECURSE "${root}")
  file(WRITE "${root}/book/01-demo.md" "# Demo\n\n${text}\n")
  execute_process(COMMAND "${CMAKE_COMMAND}" "-DSOURCE_DIR=${root}" -P "${check}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(expect_ok AND NOT rc EQUAL 0)
    list(APPEND failures "${name}: expected a pass:\n${out}${err}")
  elseif(NOT expect_ok AND (rc EQUAL 0 OR NOT err MATCHES "quotes an exercise solution"))
    list(APPEND failures "${name}: expected a failure naming the snippet:\n${out}${err}")
  else()
    message(STATUS "ok: ${name}")
  endif()
  set(failures "${failures}" PARENT_SCOPE)
endfunction()
run_case(program TRUE "<!-- snippet: ../chapters/01-demo/echo.cpp#loop -->\n```cpp\n```")
run_case(exercise_header TRUE "<!-- snippet: ../chapters/01-demo/exercises/task.hpp#api -->")
run_case(solution FALSE
  "text\n<!-- snippet: ../chapters/01-demo/exercises/solution/task.cpp#answer -->\n```cpp\n```")
run_case(solution_spaced FALSE "<!--snippet:chapters/02-x/exercises/solution/a.cpp#r-->")
if(failures)
  list(JOIN failures "\n" text)
  message(FATAL_ERROR "${text}")
endif()
message(STATUS "the snippet check catches snippets from exercise solutions")
