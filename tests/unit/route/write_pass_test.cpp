#include "proxy/route/write_pass.h"

#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "protocol/frame.h"
#include "protocol/frontend_messages.h"
#include "protocol/sql/classifier.h"
#include "protocol/writer.h"

namespace pgdual::proxy {
namespace {

using protocol::TransactionStatus;

/// The summary the planner makes of one Query holding `sql`.
UnitSummary summary_of(std::string_view sql) {
  static sql::Classifier classifier;
  UnitPlanner planner{classifier};
  std::vector<std::byte> wire;
  protocol::Writer writer{wire};
  protocol::encode(protocol::Query{.query = sql}, writer);
  for (const auto& frame : protocol::split_frames(wire)) planner.observe(frame);
  return planner.summary();
}

WritePass idle_pass(std::string_view sql) { return write_pass_for(summary_of(sql), TransactionStatus::idle, false); }

}  // namespace

TEST_CASE("write_pass_for holds whatever may begin a writing transaction outside one", "[write_pass]") {
  CHECK(idle_pass("INSERT INTO t VALUES (1)") == WritePass::enter);
  CHECK(idle_pass("COPY t FROM STDIN") == WritePass::enter);
  CHECK(idle_pass("BEGIN") == WritePass::enter);
  CHECK(idle_pass("START TRANSACTION ISOLATION LEVEL SERIALIZABLE") == WritePass::enter);
  CHECK(idle_pass("BEGIN; SELECT 1") == WritePass::enter);
  CHECK(idle_pass("SELECT nextval('s')") == WritePass::enter);
  CHECK(idle_pass("CREATE TABLE t (a int)") == WritePass::enter);
  CHECK(idle_pass("this is no sql") == WritePass::enter);
}

TEST_CASE("write_pass_for lets reads, READ ONLY transactions and settings go on", "[write_pass]") {
  CHECK(idle_pass("SELECT * FROM t") == WritePass::none);
  CHECK(idle_pass("BEGIN READ ONLY") == WritePass::none);
  CHECK(idle_pass("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY") == WritePass::none);
  CHECK(idle_pass("SET application_name = 'x'") == WritePass::none);
  CHECK(idle_pass("COPY t TO STDOUT") == WritePass::none);
  CHECK(idle_pass("") == WritePass::none);
}

TEST_CASE("write_pass_for never holds a transaction already running", "[write_pass]") {
  const auto insert = summary_of("INSERT INTO t VALUES (1)");
  CHECK(write_pass_for(insert, TransactionStatus::in_transaction, false) == WritePass::join);
  CHECK(write_pass_for(insert, TransactionStatus::failed, false) == WritePass::join);
  CHECK(write_pass_for(summary_of("COMMIT"), TransactionStatus::in_transaction, false) == WritePass::none);
  CHECK(write_pass_for(summary_of("SELECT 1"), TransactionStatus::in_transaction, false) == WritePass::none);
}

TEST_CASE("write_pass_for asks nothing more of a session holding a pass", "[write_pass]") {
  CHECK(write_pass_for(summary_of("INSERT INTO t VALUES (1)"), TransactionStatus::idle, true) == WritePass::none);
  CHECK(write_pass_for(summary_of("BEGIN"), TransactionStatus::idle, true) == WritePass::none);
}

}  // namespace pgdual::proxy
