#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "protocol/frontend_messages.h"
#include "proxy/net/asio.h"
#include "proxy/net/wire_io.h"

namespace pgdual::proxy {
namespace {

/// Two connected TCP sockets on loopback, driven by one io_context.
struct SocketPair {
  asio::io_context io;
  tcp::socket sender{io};
  Stream receiver{tcp::socket{io}};

  SocketPair() {
    tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
    sender.connect(acceptor.local_endpoint());
    receiver = Stream{acceptor.accept()};
    sender.set_option(tcp::no_delay{true});
  }

  /// Runs `reader` to completion while `chunks` are written one after another.
  template <class Reader>
  void run(std::vector<std::string> chunks, Reader reader) {
    asio::co_spawn(io, write_chunks(std::move(chunks)), asio::detached);
    std::exception_ptr failure;
    asio::co_spawn(io, reader(), [&failure](std::exception_ptr error) { failure = error; });
    io.run();
    if (failure) std::rethrow_exception(failure);
  }

  Awaitable<void> write_chunks(std::vector<std::string> chunks) {
    asio::steady_timer pause{io};
    for (const auto& chunk : chunks) {
      co_await asio::async_write(sender, asio::buffer(chunk), use_awaitable);
      pause.expires_after(std::chrono::milliseconds{5});
      co_await pause.async_wait(use_awaitable);
    }
  }
};

std::string encoded_query(std::string_view sql) {
  std::vector<std::byte> bytes;
  protocol::Writer out{bytes};
  protocol::encode(protocol::Query{sql}, out);
  return std::string{protocol::as_text(bytes)};
}

}  // namespace

TEST_CASE("next_frames hands over whole messages however the bytes were split", "[unit][proxy]") {
  const auto first = encoded_query("SELECT 1");
  const auto second = encoded_query("SELECT 2");
  const auto third = encoded_query("SELECT 3");
  // A message cut inside its header, another inside its body, and two in one read.
  const std::vector<std::string> chunks{first.substr(0, 3), first.substr(3) + second.substr(0, 9),
                                        second.substr(9) + third};
  SocketPair pair;
  std::string received;
  std::vector<std::size_t> batch_sizes;
  pair.run(chunks, [&]() -> Awaitable<void> {
    MessageReader reader{1024};
    while (received.size() < first.size() + second.size() + third.size()) {
      auto batch = co_await reader.next_frames(pair.receiver);
      for (const auto& frame : batch.frames) CHECK(frame.tag == 'Q');
      received += protocol::as_text(batch.wire);
      batch_sizes.push_back(batch.frames.size());
    }
  });
  CHECK(received == first + second + third);
  CHECK(batch_sizes == std::vector<std::size_t>{1, 2});
}

TEST_CASE("next_frames refuses a message longer than the limit before reading its body", "[unit][proxy]") {
  SocketPair pair;
  const auto query = encoded_query(std::string(2000, 'x'));
  CHECK_THROWS_AS(pair.run({query.substr(0, 5)},
                           [&]() -> Awaitable<void> {
                             MessageReader reader{1024};
                             static_cast<void>(co_await reader.next_frames(pair.receiver));
                           }),
                  SessionError);
}

}  // namespace pgdual::proxy
