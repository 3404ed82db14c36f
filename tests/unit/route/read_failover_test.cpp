#include "proxy/route/read_failover.h"

#include <catch2/catch.hpp>

namespace pgdual::proxy {
namespace {

using conflict::ConflictKind;
using protocol::TransactionStatus;

MirrorReadEnd failed_with(std::string_view sqlstate) { return MirrorReadEnd{.error_sqlstate = sqlstate}; }

}  // namespace

TEST_CASE("A read the mirror failed before any of it reached the client is answered by the primary",
          "[unit][route][read_failover]") {
  CHECK(primary_answers_instead(failed_with("42P01")));
  CHECK(primary_answers_instead(failed_with("22012")));
  CHECK(primary_answers_instead(MirrorReadEnd{.connection_lost = true}));
  // Even inside a transaction: the client has nothing, and the mirror's transaction is gone.
  CHECK(primary_answers_instead(
      MirrorReadEnd{.connection_lost = true, .status_before = TransactionStatus::in_transaction}));
}

TEST_CASE("A read stays the mirror's when it succeeded, reached the client, was cancelled or ran in a transaction",
          "[unit][route][read_failover]") {
  CHECK_FALSE(primary_answers_instead(MirrorReadEnd{}));
  CHECK_FALSE(primary_answers_instead(MirrorReadEnd{.reached_client = true, .error_sqlstate = "42P01"}));
  CHECK_FALSE(primary_answers_instead(MirrorReadEnd{.reached_client = true, .connection_lost = true}));
  CHECK_FALSE(primary_answers_instead(failed_with("57014")));
  CHECK_FALSE(primary_answers_instead(MirrorReadEnd{.error_sqlstate = "42P01",
                                                    .status_before = TransactionStatus::in_transaction,
                                                    .mirror_status_after = TransactionStatus::failed}));
  CHECK_FALSE(primary_answers_instead(
      MirrorReadEnd{.error_sqlstate = "42P01", .mirror_status_after = TransactionStatus::failed}));
}

TEST_CASE("A failed-over read counts against the mirror only when the primary answered otherwise",
          "[unit][route][read_failover]") {
  CHECK_FALSE(judge_failed_over_read("22012", "22012").has_value());
  CHECK_FALSE(judge_failed_over_read("42P01", "42P01").has_value());
  CHECK(judge_failed_over_read("42P01", "") == ConflictKind::mirror_error);
  CHECK(judge_failed_over_read("42P01", "42501") == ConflictKind::different_errors);
}

}  // namespace pgdual::proxy
