// echo_common.hpp: the boring parts every echo program shares, in one include.
//
//   log.hpp            warn(), die(), IOLADDER_LOG: messages that name the program
//   options.hpp        the table-driven option parser (--help, exit 2)
//   socket_setup.hpp   --host/--port/-v, the bound socket, the "listening on" line
//   shutdown_pipe.hpp  SIGINT/SIGTERM as a readable descriptor (the self-pipe)
//   acceptor.hpp       accept4() with EMFILE shedding and back-off
//
// EchoServer, below, is how every echo server starts. The event loop each
// chapter teaches never lives here: read the chapter's .cpp file and you see
// all of it. The TCP connection (tcp_connection.hpp),
// its output buffer (out_buffer.hpp) and the UDP queue (udp_queue.hpp) are
// included by the servers that use them.
#pragma once

#include "acceptor.hpp"
#include "log.hpp"
#include "options.hpp"
#include "shutdown_pipe.hpp"
#include "socket_setup.hpp"

#include <optional>
#include <unistd.h>
#include <utility>
#include <vector>

namespace ioladder {

// [snippet: echo-server]
// What every echo server starts with, in this order: its options (usage and
// exit 2 on bad ones), the shutdown pipe, and its bound socket; a TCP server
// also gets its Acceptor. The destructor closes the socket.
class EchoServer {
  public:
    EchoServer(int argc, char** argv, const char* summary, int type, std::vector<Option> extra = {})
        : opt_(parse_options(argc, argv, summary, std::move(extra))),
          fd_(open_bound_socket(opt_, type)) {
        if (type == SOCK_STREAM) acceptor_.emplace(fd_);
    }
    ~EchoServer() { close(fd_); }
    EchoServer(const EchoServer&) = delete;
    EchoServer& operator=(const EchoServer&) = delete;

    int fd() const { return fd_; }                     // the listener, or the UDP socket
    int shutdown_fd() const { return shutdown_.fd(); } // readable after SIGINT/SIGTERM
    Acceptor& acceptor() { return *acceptor_; }        // TCP only
    const Options& options() const { return opt_; }

  private:
    Options opt_;
    ShutdownPipe shutdown_;
    int fd_;
    std::optional<Acceptor> acceptor_;
};
// [/snippet]

} // namespace ioladder
