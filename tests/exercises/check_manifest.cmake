# cmake -DSOURCE_DIR=<tree> -P check_manifest.cmake
#
# Fails (and says why) when chapters/exercises.json and the exercise folders
# of <tree> disagree: an entry whose header, stub, solution or test is
# missing, an empty field, a duplicate or badly named entry, an unknown
# platform need, or a stub, header, solution or test without an entry.
cmake_minimum_required(VERSION 3.25)
include("${CMAKE_CURRENT_LIST_DIR}/../../cmake/Exercises.cmake")

if(NOT SOURCE_DIR)
  message(FATAL_ERROR "usage: cmake -DSOURCE_DIR=<source tree> -P check_manifest.cmake")
endif()
ioladder_read_exercise_manifest("${SOURCE_DIR}" ex)
set(problems "${ex_PROBLEMS}")
ioladder_exercise_orphans("${SOURCE_DIR}" ex problems)
if(problems)
  list(JOIN problems "\n  " text)
  message(FATAL_ERROR "chapters/exercises.json and the exercise folders disagree:\n  ${text}")
endif()
message(STATUS "chapters/exercises.json: ${ex_COUNT} exercises, every file accounted for")
