# The exercise machinery, driven by one manifest: chapters/exercises.json.
#
# Each manifest entry {chapter, name, title, hint, needs} stands for four files:
#
#   chapters/<chapter>/exercises/<name>.hpp           the interface (shared)
#   chapters/<chapter>/exercises/<name>.cpp           the learner's stub
#   chapters/<chapter>/exercises/solution/<name>.cpp  the reference answer
#   tests/exercises/chNN_<name>_test.cpp              the Catch2 tests that grade it
#
# IOLADDER_EXERCISES=solution (the `test` preset) builds every test twice:
# against the solution, where each test case must pass, and against the
# untouched stub, where each test case must FAIL (registered as
# "stub fails: ..." with WILL_FAIL), so no test is vacuous.
# IOLADDER_EXERCISES=stub (the `exercises` preset) builds the learner's files
# and prints the progress summary after every test run (CTest's post-test
# command, see below). Exercise headers may include the servers' shared code
# from chapters/common/ (out_buffer.hpp): learners use the same pieces they
# read about.
#
# This file only defines functions, so the manifest check script
# (tests/exercises/check_manifest.cmake) can include it in `cmake -P` mode.

# Platform needs an entry may name, and whether this build can meet them.
set(IOLADDER_EXERCISE_NEEDS linux io_uring wine)

# Reads the manifest of the tree at <source_dir> into variables <prefix>_*:
#   <prefix>_COUNT                      number of entries
#   <prefix>_<i>_CHAPTER, _NAME, _TITLE, _HINT, _LABEL (ch01), _NEEDS (a list)
#   <prefix>_<i>_HEADER/_STUB/_SOLUTION/_TEST  absolute paths of its files
#   <prefix>_PROBLEMS                   one message per problem found (empty: fine)
# Checks each entry (fields present, name unique, files exist); it does not
# look for files that lack an entry (see ioladder_exercise_orphans).
function(ioladder_read_exercise_manifest source_dir prefix)
  set(manifest "${source_dir}/chapters/exercises.json")
  set(problems "")
  set(count 0)
  if(NOT EXISTS "${manifest}")
    list(APPEND problems "the manifest ${manifest} does not exist")
  else()
    file(READ "${manifest}" json)
    string(JSON n ERROR_VARIABLE err LENGTH "${json}" exercises)
    if(err)
      list(APPEND problems "${manifest}: no \"exercises\" array (${err})")
    else()
      set(count ${n})
    endif()
  endif()

  set(seen "")
  math(EXPR last "${count} - 1")
  if(count GREATER 0)
    foreach(i RANGE ${last})
      set(where "${manifest}: exercises[${i}]")
      foreach(field chapter name title hint)
        string(JSON value ERROR_VARIABLE err GET "${json}" exercises ${i} ${field})
        string(STRIP "${value}" value)
        if(err OR value STREQUAL "")
          list(APPEND problems "${where}: \"${field}\" is missing or empty")
          set(value "")
        endif()
        set(${field} "${value}")
      endforeach()
      if(name)
        set(where "${where} (${name})")
      endif()

      set(needs "")
      string(JSON type ERROR_VARIABLE err TYPE "${json}" exercises ${i} needs)
      if(err OR NOT type STREQUAL "ARRAY")
        list(APPEND problems "${where}: \"needs\" must be an array, e.g. [] or [\"linux\"]")
      else()
        string(JSON nneeds LENGTH "${json}" exercises ${i} needs)
        if(nneeds GREATER 0)
          math(EXPR nlast "${nneeds} - 1")
          foreach(j RANGE ${nlast})
            string(JSON need GET "${json}" exercises ${i} needs ${j})
            if(NOT need IN_LIST IOLADDER_EXERCISE_NEEDS)
              list(APPEND problems "${where}: unknown need \"${need}\" "
                "(known: ${IOLADDER_EXERCISE_NEEDS}; add new ones in cmake/Exercises.cmake)")
            endif()
            list(APPEND needs "${need}")
          endforeach()
        endif()
      endif()

      if(chapter AND NOT chapter MATCHES "^[0-9][0-9]-[a-z0-9-]+$")
        list(APPEND problems "${where}: chapter \"${chapter}\" is not a chapter folder name like 01-select")
      endif()
      if(name AND NOT name MATCHES "^[a-z][a-z0-9_]*$")
        list(APPEND problems "${where}: name \"${name}\" must be lower_snake_case")
      endif()
      if(name)
        if("${chapter}/${name}" IN_LIST seen)
          list(APPEND problems "${where}: duplicate entry for ${chapter}/${name}")
        endif()
        list(APPEND seen "${chapter}/${name}")
      endif()

      string(SUBSTRING "${chapter}" 0 2 num)
      set(label "ch${num}")
      set(dir "${source_dir}/chapters/${chapter}/exercises")
      set(header "${dir}/${name}.hpp")
      set(stub "${dir}/${name}.cpp")
      set(solution "${dir}/solution/${name}.cpp")
      set(test "${source_dir}/tests/exercises/${label}_${name}_test.cpp")
      if(chapter AND name)
        foreach(file header stub solution test)
          if(NOT EXISTS "${${file}}")
            file(RELATIVE_PATH rel "${source_dir}" "${${file}}")
            list(APPEND problems "${where}: its ${file} ${rel} does not exist")
          endif()
        endforeach()
      endif()

      foreach(field chapter name title hint label needs header stub solution test)
        string(TOUPPER "${field}" upper)
        set(${prefix}_${i}_${upper} "${${field}}" PARENT_SCOPE)
      endforeach()
    endforeach()
  endif()
  set(${prefix}_COUNT ${count} PARENT_SCOPE)
  set(${prefix}_PROBLEMS "${problems}" PARENT_SCOPE)
endfunction()

# Files in the exercise folders that no manifest entry accounts for: a stub,
# header or solution without an entry, or a test without one. Appends one
# message per file to <out>. Needs the variables of ioladder_read_exercise_manifest.
function(ioladder_exercise_orphans source_dir prefix out)
  set(expected "")
  if(${prefix}_COUNT GREATER 0)
    math(EXPR last "${${prefix}_COUNT} - 1")
    foreach(i RANGE ${last})
      foreach(file HEADER STUB SOLUTION TEST)
        list(APPEND expected "${${prefix}_${i}_${file}}")
      endforeach()
    endforeach()
  endif()
  file(GLOB found
    "${source_dir}/chapters/*/exercises/*"
    "${source_dir}/chapters/*/exercises/solution/*"
    "${source_dir}/tests/exercises/ch[0-9][0-9]_*_test.cpp")
  set(problems "${${out}}")
  foreach(file IN LISTS found)
    if(IS_DIRECTORY "${file}" OR file IN_LIST expected)
      continue()
    endif()
    file(RELATIVE_PATH rel "${source_dir}" "${file}")
    list(APPEND problems "${rel} has no entry in chapters/exercises.json "
      "(add one, or remove the file)")
  endforeach()
  set(${out} "${problems}" PARENT_SCOPE)
endfunction()

# Sets <out> to "" if this build can meet every need in <needs>, else to
# the reason it cannot ("needs io_uring: <linux/io_uring.h> not found").
function(ioladder_exercise_unmet out needs)
  set(reason "")
  foreach(need IN LISTS needs)
    if(need STREQUAL "linux" AND NOT CMAKE_SYSTEM_NAME STREQUAL "Linux")
      set(reason "needs linux")
    elseif(need STREQUAL "io_uring")
      if(NOT CMAKE_SYSTEM_NAME STREQUAL "Linux" OR NOT EXISTS "/usr/include/linux/io_uring.h")
        set(reason "needs io_uring (<linux/io_uring.h> not found)")
      endif()
    elseif(need STREQUAL "wine")
      find_program(IOLADDER_WINE64 wine64)
      find_program(IOLADDER_MINGW_CXX x86_64-w64-mingw32-g++-posix x86_64-w64-mingw32-g++)
      if(NOT IOLADDER_WINE64 OR NOT IOLADDER_MINGW_CXX)
        set(reason "needs wine (wine64 and mingw-w64 not found)")
      endif()
    endif()
    if(reason)
      break()
    endif()
  endforeach()
  set(${out} "${reason}" PARENT_SCOPE)
endfunction()

# One library from the exercise's stub or solution, and one test executable
# that links it. <source> is the .cpp to build; <suffix> tells the two
# builds of the solution-mode tree apart ("" or "_stub").
function(_ioladder_exercise_build prefix i source suffix exe_out)
  set(label "${${prefix}_${i}_LABEL}")
  set(name "${${prefix}_${i}_NAME}")
  set(lib "ioladder_${label}_${name}${suffix}")
  set(exe "${label}_${name}_test${suffix}")
  add_library(${lib} STATIC "${source}")
  get_filename_component(dir "${${prefix}_${i}_HEADER}" DIRECTORY)
  target_include_directories(${lib} PUBLIC "${dir}" "${PROJECT_SOURCE_DIR}/chapters/common")
  # A chapter's own code for its exercises, where it has some (chapter 04:
  # the kqueue API, natively or through the Linux teaching layer; chapter 06:
  # the ring wrapper).
  if(TARGET ioladder_${label})
    target_link_libraries(${lib} PUBLIC ioladder_${label})
  endif()
  if(IOLADDER_EXERCISES STREQUAL "stub")
    # The learner's work in progress: warnings in the stub's .cpp are shown
    # but do not stop the build (the untouched stubs are checked with -Werror
    # by the default preset). The header is also compiled into the test,
    # which keeps -Werror, as does every file in the solution build.
    target_compile_options(${lib} PRIVATE -Wno-error)
  endif()
  add_executable(${exe} "${${prefix}_${i}_TEST}")
  target_link_libraries(${exe} PRIVATE ${lib} ioladder_catch_main)
  target_include_directories(${exe} PRIVATE "${IOLADDER_EXERCISE_TEST_DIR}")
  if(TARGET ioladder_exercise_faults)
    target_link_libraries(${exe} PRIVATE ioladder_exercise_faults)
  endif()
  set(${exe_out} ${exe} PARENT_SCOPE)
endfunction()

# Reads the manifest, builds and registers every exercise's tests, the
# manifest check and (stub mode) the progress summary. Called from
# tests/exercises/CMakeLists.txt (after tests/CMakeLists.txt has done
# find_package(Catch2) and include(Catch)).
function(ioladder_exercises)
  set(src "${PROJECT_SOURCE_DIR}")
  set(IOLADDER_EXERCISE_TEST_DIR "${src}/tests/exercises")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${src}/chapters/exercises.json")

  ioladder_read_exercise_manifest("${src}" ex)
  if(ex_PROBLEMS)
    list(JOIN ex_PROBLEMS "\n  " text)
    message(FATAL_ERROR "chapters/exercises.json and the exercise files disagree:\n  ${text}")
  endif()
  set(orphans "")
  ioladder_exercise_orphans("${src}" ex orphans)
  if(orphans)
    list(JOIN orphans "\n  " text)
    message(WARNING "exercise files without a manifest entry (the test "
      "'exercise manifest matches the exercise folders' fails):\n  ${text}")
  endif()

  if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    add_library(ioladder_exercise_faults OBJECT "${IOLADDER_EXERCISE_TEST_DIR}/faults.cpp")
  endif()

  # Every exercise test case runs well under a second on its solution; a
  # case that takes 10 s is stuck, and its output says in which STEP.
  # The progress summary runs an exercise's whole test executable when the
  # CTest run did not cover it; this long, at most, per executable (each
  # takes about a second on its solution). Sanitizers slow the threaded
  # tests down several times over.
  if(IOLADDER_SANITIZE)
    set(IOLADDER_EXERCISE_TEST_TIMEOUT 60)
    set(progress_timeout 60)
  else()
    set(IOLADDER_EXERCISE_TEST_TIMEOUT 10)
    set(progress_timeout 10)
  endif()
  # How the progress program asks a test executable for its test case names.
  if(Catch2_VERSION VERSION_GREATER_EQUAL 3)
    set(list_args "--list-tests --verbosity quiet")
  else()
    set(list_args "--list-test-names-only")
  endif()

  # One line per exercise for the progress program, in manifest order:
  # label, chapter, name, title, hint, stub path, test executable, skip reason.
  set(progress_solution "")
  set(some_skipped FALSE)
  set(progress_stub "")
  set(progress_mixed "")
  set(progress_log "")
  set(labels "")
  set(exes "")
  if(ex_COUNT EQUAL 0)
    message(FATAL_ERROR "chapters/exercises.json lists no exercises")
  endif()
  math(EXPR last "${ex_COUNT} - 1")
  foreach(i RANGE ${last})
    set(label "${ex_${i}_LABEL}")
    set(name "${ex_${i}_NAME}")
    list(APPEND labels ${label})
    file(RELATIVE_PATH stub_rel "${src}" "${ex_${i}_STUB}")
    string(REPLACE "\t" " " hint "${ex_${i}_HINT}")
    string(REPLACE "\n" " " hint "${hint}")
    set(line "${label}\t${ex_${i}_CHAPTER}\t${name}\t${ex_${i}_TITLE}\t${hint}\t${stub_rel}")

    ioladder_exercise_unmet(unmet "${ex_${i}_NEEDS}")
    if(unmet)
      message(STATUS "Exercise ${label} ${name}: skipped, ${unmet}")
      set(some_skipped TRUE)
      foreach(list progress_solution progress_stub progress_mixed progress_log)
        string(APPEND ${list} "${line}\t\t${unmet}\n")
      endforeach()
      continue()
    endif()

    if(IOLADDER_EXERCISES STREQUAL "solution")
      _ioladder_exercise_build(ex ${i} "${ex_${i}_SOLUTION}" "" exe)
      ioladder_catch_tests(${exe} LABELS ${label} exercise SUFFIX " (${label} ${name})"
        TIMEOUT ${IOLADDER_EXERCISE_TEST_TIMEOUT})
      _ioladder_exercise_build(ex ${i} "${ex_${i}_STUB}" "_stub" stub_exe)
      ioladder_catch_tests(${stub_exe} LABELS ${label} exercise stub WILL_FAIL
        TIMEOUT ${IOLADDER_EXERCISE_TEST_TIMEOUT}
        SUFFIX " (${label} ${name}, must fail on the stub)")
      string(APPEND progress_solution "${line}\t$<TARGET_FILE:${exe}>\t\n")
      string(APPEND progress_stub "${line}\t$<TARGET_FILE:${stub_exe}>\t\n")
      if(i EQUAL 0)
        string(APPEND progress_mixed "${line}\t$<TARGET_FILE:${exe}>\t\n")
        string(APPEND progress_log "${line}\t$<TARGET_FILE:${stub_exe}>\t\n")
      else()
        string(APPEND progress_mixed "${line}\t$<TARGET_FILE:${stub_exe}>\t\n")
        string(APPEND progress_log "${line}\t$<TARGET_FILE:${exe}>\t\n")
      endif()
    else()
      _ioladder_exercise_build(ex ${i} "${ex_${i}_STUB}" "" exe)
      ioladder_catch_tests(${exe} LABELS ${label} exercise SUFFIX " (${label} ${name})"
        TIMEOUT ${IOLADDER_EXERCISE_TEST_TIMEOUT})
      string(APPEND progress_stub "${line}\t$<TARGET_FILE:${exe}>\t\n")
      list(APPEND exes ${exe})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES labels)

  # The manifest and the folders agree (run at test time, so a file added
  # after configuring is caught too).
  add_test(NAME "exercise manifest matches the exercise folders"
    COMMAND "${CMAKE_COMMAND}" "-DSOURCE_DIR=${src}"
            -P "${IOLADDER_EXERCISE_TEST_DIR}/check_manifest.cmake")
  set_tests_properties("exercise manifest matches the exercise folders"
    PROPERTIES LABELS exercise TIMEOUT 30)

  add_executable(exercise_progress "${IOLADDER_EXERCISE_TEST_DIR}/exercise_progress.cpp")
  math(EXPR total_timeout "${progress_timeout} * ${ex_COUNT} + 30")
  set(dir "${CMAKE_CURRENT_BINARY_DIR}")

  if(IOLADDER_EXERCISES STREQUAL "solution")
    # The manifest check and the progress program are tested here, where CI
    # runs: the check must catch each kind of mismatch, and the progress
    # summary must count solutions as done and untouched stubs as not.
    add_test(NAME "exercise manifest check catches every kind of mismatch"
      COMMAND "${CMAKE_COMMAND}" "-DWORK_DIR=${dir}/manifest_selftest"
              -P "${IOLADDER_EXERCISE_TEST_DIR}/check_manifest_selftest.cmake")
    set_tests_properties("exercise manifest check catches every kind of mismatch"
      PROPERTIES LABELS exercise TIMEOUT 60)

    set(n ${ex_COUNT})
    foreach(kind solution stub mixed)
      file(GENERATE OUTPUT "${dir}/progress_${kind}.tsv" CONTENT "${progress_${kind}}")
    endforeach()
    set(run "${IOLADDER_EXERCISE_TEST_DIR}/expect_run.cmake")
    set(expect_solution "RC=0" "OUTPUT=\\] ${n}/${n}")
    set(expect_stub "RC=1" "OUTPUT=\\[>-*\\] 0/${n}.*Next: ${ex_0_LABEL} ${ex_0_NAME}.*hint:")
    set(expect_mixed "RC=1" "OUTPUT=\\] 1/${n}.*Next: ${ex_1_LABEL} ${ex_1_NAME}.*hint:")
    set(title_solution "exercise progress counts every solution as done")
    set(title_stub "exercise progress counts untouched stubs as not done and shows the first hint")
    set(title_mixed "exercise progress counts one finished exercise and hints at the next")
    set(kinds solution stub)
    if(n GREATER 1)
      list(APPEND kinds mixed)
    endif()
    # The progress program's own tests count on every exercise being built
    # (the first two in particular); where some need what this system lacks
    # (macOS, FreeBSD: the Linux-only ones), they are left out.
    if(some_skipped)
      set(kinds "")
    endif()
    foreach(kind IN LISTS kinds)
      list(GET expect_${kind} 0 rc)
      list(GET expect_${kind} 1 out)
      add_test(NAME "${title_${kind}}"
        COMMAND "${CMAKE_COMMAND}" "-D${rc}" "-D${out}"
                "-DPROGRAM=$<TARGET_FILE:exercise_progress>"
                "-DARGUMENTS=${dir}/progress_${kind}.tsv;--timeout;${progress_timeout}"
                -P "${run}")
      set_tests_properties("${title_${kind}}" PROPERTIES LABELS exercise
        TIMEOUT ${total_timeout})
    endforeach()

    # The results of the CTest run that just happened count, without running
    # anything again: a synthetic log says the first exercise's stub passed
    # every case and the second exercise's solution failed one. Only the log
    # can make the progress say so.
    if(n GREATER 1 AND NOT some_skipped)
      file(GENERATE OUTPUT "${dir}/progress_from_log.tsv" CONTENT "${progress_log}")
      add_test(NAME "exercise progress takes its results from the test run that just happened"
        COMMAND "${CMAKE_COMMAND}"
                "-DPROGRAM=$<TARGET_FILE:exercise_progress>"
                "-DLIST=${dir}/progress_from_log.tsv"
                "-DWORK_DIR=${dir}/progress_from_log"
                "-DLIST_ARGS=${list_args}"
                "-DFIRST=${ex_0_LABEL} ${ex_0_NAME}" "-DSECOND=${ex_1_LABEL} ${ex_1_NAME}"
                "-DFIRST_EXE=$<TARGET_FILE:${ex_0_LABEL}_${ex_0_NAME}_test_stub>"
                -P "${IOLADDER_EXERCISE_TEST_DIR}/progress_log_selftest.cmake")
      set_tests_properties("exercise progress takes its results from the test run that just happened"
        PROPERTIES LABELS exercise TIMEOUT ${total_timeout})
    endif()

    # A test executable that hangs costs the progress summary its time limit
    # and no more, and the summary names the step it hung in.
    add_test(NAME "exercise progress gives up on a hanging exercise after its time limit"
      COMMAND "${CMAKE_COMMAND}"
              "-DPROGRAM=$<TARGET_FILE:exercise_progress>"
              "-DWORK_DIR=${dir}/progress_hang"
              -P "${IOLADDER_EXERCISE_TEST_DIR}/progress_hang_selftest.cmake")
    set_tests_properties("exercise progress gives up on a hanging exercise after its time limit"
      PROPERTIES LABELS exercise TIMEOUT 60)

    # No book snippet may quote an exercise's reference answer.
    add_test(NAME "no book snippet quotes an exercise solution"
      COMMAND "${CMAKE_COMMAND}" "-DSOURCE_DIR=${src}"
              -P "${IOLADDER_EXERCISE_TEST_DIR}/check_book_snippets.cmake")
    set_tests_properties("no book snippet quotes an exercise solution"
      PROPERTIES LABELS "exercise;book" TIMEOUT 30)
    add_test(NAME "the snippet check catches a book snippet that quotes an exercise solution"
      COMMAND "${CMAKE_COMMAND}" "-DWORK_DIR=${dir}/snippet_selftest"
              -P "${IOLADDER_EXERCISE_TEST_DIR}/check_book_snippets_selftest.cmake")
    set_tests_properties("the snippet check catches a book snippet that quotes an exercise solution"
      PROPERTIES LABELS exercise TIMEOUT 30)
  else()
    file(GENERATE OUTPUT "${dir}/progress.tsv" CONTENT "${progress_stub}")
    # The summary comes last, after CTest's own list of failed tests: CTest
    # runs CTEST_CUSTOM_POST_TEST (from CTestCustom.cmake in the top build
    # folder) when every selected test has run, also for `ctest -R one`.
    # A CMake script runs the progress program, so that a missing program
    # (not built yet) is a note, not "Problem running command" and exit 8.
    # The program reads this run's results from CTest's log and runs only
    # the exercises the run did not cover; --report: print and exit 0 (the
    # failing tests already made the run fail).
    file(GENERATE OUTPUT "${CMAKE_BINARY_DIR}/CTestCustom.cmake" CONTENT
      "set(CTEST_CUSTOM_POST_TEST [=[\"${CMAKE_COMMAND}\" \"-DPROGRAM=$<TARGET_FILE:exercise_progress>\" \"-DLIST=${dir}/progress.tsv\" \"-DLOG=${CMAKE_BINARY_DIR}/Testing/Temporary\" \"-DTIMEOUT=${progress_timeout}\" \"-DLIST_ARGS=${list_args}\" -P \"${IOLADDER_EXERCISE_TEST_DIR}/progress_report.cmake\"]=])\n")
  endif()

endfunction()
