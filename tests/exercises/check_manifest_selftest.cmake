# cmake -DWORK_DIR=<scratch dir> -P check_manifest_selftest.cmake
#
# The manifest check must fail, for the right reason, on each kind of
# mismatch. Builds a tiny tree per case under WORK_DIR, runs
# check_manifest.cmake on it, and checks the exit status and the message.
cmake_minimum_required(VERSION 3.25)
set(check "${CMAKE_CURRENT_LIST_DIR}/check_manifest.cmake")
set(failures "")

set(good_entry [=[{"chapter": "01-select", "name": "alpha", "title": "Alpha", "hint": "Look up.", "needs": []}]=])

# Writes a tree with the given manifest entries and files (paths relative
# to the tree), runs the check, and compares with the expectation.
function(run_case name expect_ok regex entries)
  set(root "${WORK_DIR}/${name}")
  file(REMOVE_RECURSE "${root}")
  file(WRITE "${root}/chapters/exercises.json" "{\"exercises\": [${entries}]}\n")
  foreach(rel IN LISTS ARGN)
    file(WRITE "${root}/${rel}" "// ${rel}\n")
  endforeach()
  execute_process(COMMAND "${CMAKE_COMMAND}" "-DSOURCE_DIR=${root}" -P "${check}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(text "${out}${err}")
  if(expect_ok AND NOT rc EQUAL 0)
    list(APPEND failures "${name}: expected the check to pass, it failed:\n${text}")
  elseif(NOT expect_ok AND rc EQUAL 0)
    list(APPEND failures "${name}: expected the check to fail, it passed:\n${text}")
  elseif(NOT text MATCHES "${regex}")
    list(APPEND failures "${name}: the message does not match '${regex}':\n${text}")
  else()
    message(STATUS "ok: ${name}")
  endif()
  set(failures "${failures}" PARENT_SCOPE)
endfunction()

set(alpha_files
  chapters/01-select/exercises/alpha.hpp
  chapters/01-select/exercises/alpha.cpp
  chapters/01-select/exercises/solution/alpha.cpp
  tests/exercises/ch01_alpha_test.cpp)

run_case(complete TRUE "1 exercises, every file accounted for" "${good_entry}" ${alpha_files})
run_case(stub_without_entry FALSE "exercises/beta.cpp has no entry"
  "${good_entry}" ${alpha_files} chapters/01-select/exercises/beta.cpp)
run_case(header_without_entry FALSE "exercises/beta.hpp has no entry"
  "${good_entry}" ${alpha_files} chapters/01-select/exercises/beta.hpp)
run_case(solution_without_entry FALSE "solution/beta.cpp has no entry"
  "${good_entry}" ${alpha_files} chapters/01-select/exercises/solution/beta.cpp)
run_case(test_without_entry FALSE "ch01_beta_test.cpp has no entry"
  "${good_entry}" ${alpha_files} tests/exercises/ch01_beta_test.cpp)
list(REMOVE_ITEM alpha_files chapters/01-select/exercises/solution/alpha.cpp)
run_case(entry_without_solution FALSE "solution chapters/01-select/exercises/solution/alpha.cpp does not exist"
  "${good_entry}" ${alpha_files})
list(APPEND alpha_files chapters/01-select/exercises/solution/alpha.cpp)
list(REMOVE_ITEM alpha_files tests/exercises/ch01_alpha_test.cpp)
run_case(entry_without_test FALSE "test tests/exercises/ch01_alpha_test.cpp does not exist"
  "${good_entry}" ${alpha_files})
list(APPEND alpha_files tests/exercises/ch01_alpha_test.cpp)
string(REPLACE [=["Look up."]=] [=["  "]=] blank_hint "${good_entry}")
run_case(empty_hint FALSE "\"hint\" is missing or empty" "${blank_hint}" ${alpha_files})
string(REPLACE [=[, "hint": "Look up."]=] "" no_hint "${good_entry}")
run_case(missing_hint FALSE "\"hint\" is missing or empty" "${no_hint}" ${alpha_files})
run_case(duplicate_name FALSE "duplicate entry for 01-select/alpha"
  "${good_entry}, ${good_entry}" ${alpha_files})
string(REPLACE [=["needs": []]=] [=["needs": ["teleport"]]=] bad_need "${good_entry}")
run_case(unknown_need FALSE "unknown need \"teleport\"" "${bad_need}" ${alpha_files})
string(REPLACE [=["needs": []]=] [=["needs": "linux"]=] need_not_array "${good_entry}")
run_case(needs_not_an_array FALSE "\"needs\" must be an array" "${need_not_array}" ${alpha_files})

if(failures)
  list(JOIN failures "\n" text)
  message(FATAL_ERROR "${text}")
endif()
message(STATUS "the manifest check caught every kind of mismatch")
