// SlotStream against a real PostgreSQL 15 (wal_level = logical): what the slot hands out, in
// which order, from where it resumes, and that an idle stream outlives wal_sender_timeout.
#include <catch2/catch.hpp>

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "protocol/pgoutput.h"
#include "protocol/replication.h"
#include "proxy/mirror/slot_stream.h"
#include "tests/integration/harness/fixture.h"
#include "tests/integration/wal_helpers.h"

namespace pgdual::test {
namespace {

using namespace std::chrono_literals;
using proxy::Awaitable;
namespace asio = proxy::asio;
namespace logicalrep = protocol::logicalrep;
using protocol::XLogRecPtr;

/// What one item of the stream said, kept past the next read: its kind and values as text
/// ("Insert 1|apple"), and its positions.
struct Seen {
  std::string text;
  XLogRecPtr wal_start = 0;
  XLogRecPtr commit_end = 0;  ///< a Commit's end_lsn; 0 for the rest
};

std::string tuple_text(const logicalrep::TupleData& tuple) {
  std::string text;
  for (const auto column : tuple) {
    if (!text.empty()) text += '|';
    text += column.kind == logicalrep::ColumnKind::text ? std::string{column.text()} : "null";
  }
  return text;
}

Seen seen(const proxy::SlotItem& item) {
  Seen result{.text = {}, .wal_start = item.wal_start, .commit_end = 0};
  std::visit(
      [&](const auto& message) {
        using Message = std::decay_t<decltype(message)>;
        if constexpr (std::is_same_v<Message, logicalrep::Begin>) {
          result.text = "Begin";
        } else if constexpr (std::is_same_v<Message, logicalrep::Commit>) {
          result.text = "Commit";
          result.commit_end = message.end_lsn;
        } else if constexpr (std::is_same_v<Message, logicalrep::Relation>) {
          result.text = "Relation " + std::string{message.schema()} + "." + std::string{message.relation_name};
        } else if constexpr (std::is_same_v<Message, logicalrep::Insert>) {
          result.text = "Insert " + tuple_text(message.new_tuple);
        } else if constexpr (std::is_same_v<Message, logicalrep::Update>) {
          result.text = "Update " + tuple_text(message.new_tuple);
        } else if constexpr (std::is_same_v<Message, logicalrep::Delete>) {
          result.text = "Delete " + tuple_text(message.old_tuple);
        } else {
          result.text = "other";
        }
      },
      item.message);
  return result;
}

/// Runs `operation` on `io` until it ends, and rethrows what it threw. The bound only keeps a
/// broken test from hanging: the status-update coroutine keeps `io` busy for ever.
void run(asio::io_context& io, Awaitable<void> operation, std::chrono::seconds limit = 30s) {
  bool done = false;
  std::exception_ptr failure;
  asio::co_spawn(io, std::move(operation), [&](std::exception_ptr error) {
    failure = error;
    done = true;
    io.stop();
  });
  io.restart();
  io.run_for(limit);
  REQUIRE(done);
  if (failure) std::rethrow_exception(failure);
}

/// Items up to and including the `transactions`-th Commit.
Awaitable<void> read_transactions(proxy::SlotStream& stream, int transactions, std::vector<Seen>& into) {
  while (transactions > 0) {
    auto item = co_await stream.next();
    into.push_back(seen(item));
    if (into.back().commit_end != 0) --transactions;
  }
}

/// Opens a stream into `into`. Parameters by value: the coroutine runs after the caller's
/// expression has ended.
Awaitable<void> open_stream(std::optional<proxy::SlotStream>& into, config::BackendConfig primary,
                            proxy::SlotStreamOptions options) {
  into.emplace(co_await proxy::SlotStream::open(primary, nullptr, options));
}

/// Lets the stream's own coroutines run for `duration` while its caller reads nothing.
Awaitable<void> pause_for(std::chrono::seconds duration) {
  asio::steady_timer pause{co_await asio::this_coro::executor, duration};
  co_await pause.async_wait(proxy::use_awaitable);
}

std::vector<std::string> texts(const std::vector<Seen>& items) {
  std::vector<std::string> result;
  for (const auto& item : items) result.push_back(item.text);
  return result;
}

}  // namespace

TEST_CASE_METHOD(IntegrationTest, "The slot stream yields each committed transaction whole, in commit order",
                 "[integration][wal][slot]") {
  const auto database = fresh_database("slot_order");
  const auto& primary = backends().onprem;
  const auto options = options_for(primary, database);
  SlotDropper dropper{primary, options.slot};
  asio::io_context io;
  std::optional<proxy::SlotStream> stream;
  run(io, open_stream(stream, backend_of(primary), options));
  CHECK(stream->system_identifier() + "\n" ==
        primary.run_sql(database, "SELECT system_identifier FROM pg_catalog.pg_control_system()"));

  static_cast<void>(primary.run_sql(database, "CREATE TABLE fruit (id int PRIMARY KEY, name text)"));
  static_cast<void>(primary.run_sql(database, "INSERT INTO fruit VALUES (1, 'apple'), (2, 'banana'), (3, 'cherry')"));
  static_cast<void>(primary.run_sql(database, "UPDATE fruit SET name = 'pear' WHERE id = 2"));
  static_cast<void>(primary.run_sql(database, "DELETE FROM fruit WHERE id = 3"));

  std::vector<Seen> items;
  run(io, read_transactions(*stream, 3, items));
  // The CREATE TABLE wrote no rows of a published table: PostgreSQL 15 sends no empty transaction.
  CHECK(texts(items) == std::vector<std::string>{"Begin", "Relation public.fruit", "Insert 1|apple",
                                                 "Insert 2|banana", "Insert 3|cherry", "Commit", "Begin",
                                                 "Update 2|pear", "Commit", "Begin", "Delete 3|null", "Commit"});
  XLogRecPtr previous_start = 0;
  XLogRecPtr previous_commit = 0;
  for (const auto& item : items) {
    INFO(item.text << " at " << protocol::format_lsn(item.wal_start));
    if (item.wal_start == 0) continue;  // the walsender sends Relation without a WAL position
    CHECK(item.wal_start >= previous_start);
    previous_start = item.wal_start;
    if (item.commit_end == 0) continue;
    CHECK(item.commit_end > previous_commit);
    previous_commit = item.commit_end;
  }
  CHECK(stream->received() >= previous_commit);
  run(io, stream->close());
}

TEST_CASE_METHOD(IntegrationTest, "A reopened slot stream resumes after the last confirmed transaction",
                 "[integration][wal][slot]") {
  const auto database = fresh_database("slot_resume");
  const auto& primary = backends().onprem;
  const auto options = options_for(primary, database);
  SlotDropper dropper{primary, options.slot};
  asio::io_context io;
  std::optional<proxy::SlotStream> stream;
  run(io, open_stream(stream, backend_of(primary), options));
  static_cast<void>(primary.run_sql(database, "CREATE TABLE note (id int PRIMARY KEY, body text)"));
  static_cast<void>(primary.run_sql(database, "INSERT INTO note VALUES (1, 'first')"));
  std::vector<Seen> first;
  run(io, read_transactions(*stream, 1, first));
  REQUIRE(texts(first) == std::vector<std::string>{"Begin", "Relation public.note", "Insert 1|first", "Commit"});
  const auto first_end = first.back().commit_end;
  stream->confirm(first_end);
  CHECK(stream->confirmed() == first_end);
  run(io, stream->close());

  const auto reached = primary.run_sql(database, "SELECT confirmed_flush_lsn >= '" + protocol::format_lsn(first_end) +
                                                     "' FROM pg_replication_slots WHERE slot_name = '" +
                                                     options.slot + "'");
  CHECK(reached == "t\n");

  static_cast<void>(primary.run_sql(database, "INSERT INTO note VALUES (2, 'second')"));
  run(io, open_stream(stream, backend_of(primary), options));
  CHECK(stream->confirmed() >= first_end);
  std::vector<Seen> second;
  run(io, read_transactions(*stream, 1, second));
  // A new session: the Relation comes again before the table's first change.
  CHECK(texts(second) == std::vector<std::string>{"Begin", "Relation public.note", "Insert 2|second", "Commit"});
  CHECK(second.back().commit_end > first_end);
  run(io, stream->close());
}

TEST_CASE("A slot stream outlives wal_sender_timeout while its reader is idle or slow", "[integration][wal][slot]") {
  // A server of its own: the shared ones keep the default timeout.
  PgCluster primary{"slot-timeout"};
  const std::string database = "slot_timeout";
  primary.create_database(database);
  static_cast<void>(primary.run_sql("postgres", "ALTER SYSTEM SET wal_sender_timeout = '2s'"));
  static_cast<void>(primary.run_sql("postgres", "SELECT pg_reload_conf()"));
  auto options = options_for(primary, database);
  options.status_interval = 500ms;
  SlotDropper dropper{primary, options.slot};
  asio::io_context io;
  std::optional<proxy::SlotStream> stream;
  run(io, open_stream(stream, backend_of(primary), options));
  static_cast<void>(primary.run_sql(database, "CREATE TABLE tick (id int PRIMARY KEY)"));

  SECTION("a caller that reads nothing for longer than the timeout") {
    run(io, pause_for(5s));
  }
  SECTION("a caller waiting in next() while the primary writes nothing") {
    // The row arrives after the timeout has passed twice: the read waits for it all along.
    const std::jthread late_writer{[&] {
      std::this_thread::sleep_for(5s);
      static_cast<void>(primary.run_sql(database, "INSERT INTO tick VALUES (0)"));
    }};
    std::vector<Seen> items;
    run(io, read_transactions(*stream, 1, items));
    CHECK(texts(items) == std::vector<std::string>{"Begin", "Relation public.tick", "Insert 0", "Commit"});
  }
  static_cast<void>(primary.run_sql(database, "INSERT INTO tick VALUES (1)"));
  std::vector<Seen> items;
  run(io, read_transactions(*stream, 1, items));
  CHECK(items.at(items.size() - 2).text == "Insert 1");
  CHECK(primary.log().find("terminating walsender process due to replication timeout") == std::string::npos);
  run(io, stream->close());
}

}  // namespace pgdual::test
