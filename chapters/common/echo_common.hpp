// echo_common.hpp: the boring parts every echo program shares, in one include.
//
//   log.hpp            warn(), die(), IOLADDER_LOG: messages that name the program
//   options.hpp        the table-driven option parser (--help, exit 2)
//   socket_setup.hpp   --host/--port/-v, the bound socket, the "listening on" line
//   shutdown_pipe.hpp  SIGINT/SIGTERM as a readable descriptor (the self-pipe)
//   acceptor.hpp       accept4() with EMFILE shedding and back-off
//
// The event loop each chapter teaches never lives here: read the chapter's
// .cpp file and you see all of it. The TCP connection (tcp_connection.hpp),
// its output buffer (out_buffer.hpp) and the UDP queue (udp_queue.hpp) are
// included by the servers that use them.
#pragma once

#include "acceptor.hpp"
#include "log.hpp"
#include "options.hpp"
#include "shutdown_pipe.hpp"
#include "socket_setup.hpp"
