# Helpers the chapters use to declare their programs.
#
#   ioladder_echo_server(echo_udp_select udp)
#
# builds <name>.cpp from the calling chapter folder and registers the program
# in the list that the tour, the benchmark and the trace generator walk. That
# one line is all a chapter needs to put a server on the ladder.
#
#   ioladder_program(nagging_demo)
#
# builds a program that is not an echo server (a demo, a waker experiment).
# Programs built another way (one source with two wakers, say) add their
# targets to the global property IOLADDER_PROGRAM_TARGETS themselves, so the
# tests that run them depend on them.

# The chapter label ("ch01") of the folder the caller lives in ("01-select").
function(ioladder_chapter_label out)
  get_filename_component(dir "${CMAKE_CURRENT_SOURCE_DIR}" NAME)
  string(SUBSTRING "${dir}" 0 2 num)
  set(${out} "ch${num}" PARENT_SCOPE)
endfunction()

function(ioladder_program name)
  add_executable(${name} ${name}.cpp)
  target_link_libraries(${name} PRIVATE ioladder_common)
  set_property(GLOBAL APPEND PROPERTY IOLADDER_PROGRAM_TARGETS ${name})
endfunction()

#   ioladder_echo_server(echo_tcp_epoll_lt_armfirst tcp PROGRAM echo_tcp_epoll_lt ARGS --arm-first)
#
# registers a variant: a program already built, always run with ARGS, under
# its own name, so the tour, the bench and the suites treat it as a server.
#
#   ioladder_echo_server(echo_tcp_kqueue tcp VIA epoll)
#
# says that on this build the server's mechanism runs on another one (chapter
# 04's kqueue on Linux, through its teaching layer); the tour and the bench
# print "(via epoll)" after its name. The list line gets a "via=epoll" word
# before the path.
function(ioladder_echo_server name proto)
  cmake_parse_arguments(arg "" "PROGRAM;VIA" "ARGS" ${ARGN})
  if(NOT proto MATCHES "^(tcp|udp)$")
    message(FATAL_ERROR "ioladder_echo_server(${name}): protocol must be tcp or udp, not '${proto}'")
  endif()
  if(arg_PROGRAM)
    set(target ${arg_PROGRAM})
  else()
    ioladder_program(${name})
    set(target ${name})
  endif()
  ioladder_chapter_label(label)
  get_filename_component(dir "${CMAKE_CURRENT_SOURCE_DIR}" NAME)
  list(JOIN arg_ARGS " " args)
  set(via "")
  if(arg_VIA)
    set(via "via=${arg_VIA} ")
  endif()
  string(STRIP "${label} ${dir} ${name} ${proto} ${via}$<TARGET_FILE:${target}> ${args}" line)
  set_property(GLOBAL APPEND PROPERTY IOLADDER_SERVERS "${line}")
  set_property(GLOBAL APPEND PROPERTY IOLADDER_SERVER_TARGETS ${target})
endfunction()

# Writes the registered servers, one per line ("ch01 01-select echo_udp_select
# udp /abs/path", or "... tcp via=epoll /abs/path --level"), to <file> at
# generate time. Tests, the tour and the bench
# read this file instead of hard-coding paths.
function(ioladder_write_server_list file)
  get_property(servers GLOBAL PROPERTY IOLADDER_SERVERS)
  list(JOIN servers "\n" content)
  file(GENERATE OUTPUT "${file}" CONTENT "${content}\n")
endfunction()
