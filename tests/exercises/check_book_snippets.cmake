# cmake -DSOURCE_DIR=<tree> -P check_book_snippets.cmake
#
# Fails when a book chapter quotes an exercise's reference answer: a line
# `<!-- snippet: PATH#REGION -->` in book/*.md whose PATH is in an
# `exercises/solution/` folder. The book teaches what the exercises then ask
# for; printing the answers in it would make the exercises a copying job.
cmake_minimum_required(VERSION 3.25)
if(NOT SOURCE_DIR)
  message(FATAL_ERROR "usage: cmake -DSOURCE_DIR=<source tree> -P check_book_snippets.cmake")
endif()
file(GLOB pages "${SOURCE_DIR}/book/*.md")
set(problems "")
set(snippets 0)
foreach(page IN LISTS pages)
  file(STRINGS "${page}" lines REGEX "<!--[ \t]*snippet:")
  file(RELATIVE_PATH rel "${SOURCE_DIR}" "${page}")
  foreach(line IN LISTS lines)
    math(EXPR snippets "${snippets} + 1")
    if(line MATCHES "snippet:[ \t]*([^ \t#]+)" AND CMAKE_MATCH_1 MATCHES "(^|/)exercises/solution/")
      string(STRIP "${line}" line)
      list(APPEND problems "${rel}: ${line} quotes an exercise solution")
    endif()
  endforeach()
endforeach()
if(problems)
  list(JOIN problems "\n  " text)
  message(FATAL_ERROR "book snippets must not quote exercise solutions:\n  ${text}")
endif()
message(STATUS "${snippets} book snippets, none from an exercise solution")
