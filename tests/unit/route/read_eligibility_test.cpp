#include "proxy/route/read_eligibility.h"

#include <catch2/catch.hpp>

#include <string>

#include "config/proxy_config.h"
#include "protocol/sql/classifier.h"

namespace pgdual::proxy {
namespace {

using protocol::TransactionStatus;

constexpr auto kIdle = TransactionStatus::idle;
constexpr auto kInTransaction = TransactionStatus::in_transaction;
constexpr auto kFailed = TransactionStatus::failed;

struct Row {
  const char* scenario;
  ReadFacts facts;
  ReadVerdict expected;
};

TEST_CASE("Only a lone SET, RESET, PREPARE or DEALLOCATE is passed on to the mirror's connection as written",
          "[unit][route][steering]") {
  sql::Classifier classifier;
  const auto passes = [&](const std::string& text) { return passes_to_mirror(classifier.classify(text)); };
  CHECK(passes("SET search_path = ward, public"));
  CHECK(passes("/* app */ set statement_timeout TO 5000"));
  CHECK(passes("RESET ALL"));
  CHECK(passes("PREPARE beds (int) AS SELECT * FROM beds WHERE id = $1"));
  CHECK(passes("DEALLOCATE beds"));
  CHECK_FALSE(passes("CREATE TEMP TABLE scratch (id int)"));
  CHECK_FALSE(passes("DECLARE c CURSOR WITH HOLD FOR SELECT 1"));
  CHECK_FALSE(passes("DISCARD ALL"));
  CHECK_FALSE(passes("SET search_path = ward; CREATE TEMP TABLE scratch (id int)"));
  CHECK_FALSE(passes("SELECT 1"));
}

TEST_CASE("DISCARD ALL alone resets the session; DISCARD ALL and DISCARD TEMP discard its temporary relations",
          "[unit][route][steering]") {
  sql::Classifier classifier;
  const auto resets = [&](const std::string& text) { return resets_session(classifier.classify(text)); };
  const auto discards = [&](const std::string& text) {
    return discards_temporary_relations(classifier.classify(text));
  };
  CHECK(resets("DISCARD ALL"));
  CHECK(resets("/* pooler */ discard all;"));
  CHECK_FALSE(resets("DISCARD TEMP"));
  CHECK_FALSE(resets("DISCARD PLANS"));
  CHECK_FALSE(resets("DISCARD ALL; SET search_path = ward"));
  CHECK_FALSE(resets("RESET ALL"));
  CHECK(discards("DISCARD ALL"));
  CHECK(discards("DISCARD TEMP"));
  CHECK(discards("discard temporary"));
  CHECK_FALSE(discards("DISCARD SEQUENCES"));
  CHECK_FALSE(discards("DROP TABLE scratch"));
}

}  // namespace

// Each row lists the facts that differ from ReadFacts' defaults: an idle primary, no mirror
// connected, nothing keeping reads on the primary.
TEST_CASE("read_eligibility lets the mirror answer a read only when every fact allows it", "[unit][route][steering]") {
  using enum ReadVerdict;
  const auto row = GENERATE(values<Row>({
      {"an autocommit read the planner allows, with the cloud as mirror",
       {.whole_unit = true, .mirror_serves_reads = true, .planner_allows = true}, eligible},
      {"an autocommit read while the mirror is reconnecting (the session fails it over itself)",
       {.whole_unit = true, .mirror_status = std::nullopt, .mirror_serves_reads = true, .planner_allows = true},
       eligible},
      {"a read in a READ ONLY transaction steered to the mirror, open there too",
       {.whole_unit = true, .primary_status = kInTransaction, .transaction_reads_on_mirror = true,
        .mirror_status = kInTransaction, .mirror_serves_reads = true, .planner_allows = true},
       eligible},
      {"the on-premises server is the mirror, after the cutover",
       {.whole_unit = true, .mirror_serves_reads = false, .planner_allows = true}, mirror_not_read_target},
      {"the session ran LISTEN",
       {.whole_unit = true, .reads_on_primary_only = "LISTEN", .mirror_serves_reads = true, .planner_allows = true},
       reads_kept_on_primary},
      {"a conflict was recorded, and the read is not complete either",
       {.whole_unit = false, .reads_on_primary_only = "a conflict was recorded", .mirror_serves_reads = true,
        .planner_allows = true},
       reads_kept_on_primary},
      {"an extended-protocol batch not yet at its Sync",
       {.whole_unit = false, .mirror_serves_reads = true, .planner_allows = true}, unit_incomplete},
      {"a read in a failed transaction",
       {.whole_unit = true, .primary_status = kFailed, .mirror_serves_reads = true, .planner_allows = true},
       primary_transaction_failed},
      {"a read in a transaction that began READ WRITE",
       {.whole_unit = true, .primary_status = kInTransaction, .transaction_reads_on_mirror = false,
        .mirror_status = kInTransaction, .mirror_serves_reads = true, .planner_allows = true},
       transaction_on_primary},
      {"a READ ONLY transaction steered to the mirror, whose connection was lost",
       {.whole_unit = true, .primary_status = kInTransaction, .transaction_reads_on_mirror = true,
        .mirror_status = std::nullopt, .mirror_serves_reads = true, .planner_allows = true},
       mirror_transaction_lost},
      {"a READ ONLY transaction steered to the mirror, failed there",
       {.whole_unit = true, .primary_status = kInTransaction, .transaction_reads_on_mirror = true,
        .mirror_status = kFailed, .mirror_serves_reads = true, .planner_allows = true},
       mirror_transaction_lost},
      {"a READ ONLY transaction steered to the mirror, which a new mirror connection never began",
       {.whole_unit = true, .primary_status = kInTransaction, .transaction_reads_on_mirror = true,
        .mirror_status = kIdle, .mirror_serves_reads = true, .planner_allows = true},
       mirror_transaction_lost},
      {"a commit's outcome on the mirror is still unknown",
       {.whole_unit = true, .unknown_commits_pending = true, .mirror_serves_reads = true, .planner_allows = true},
       unknown_commits_pending},
      {"wal mode: a transaction the session committed is not on the mirror yet",
       {.whole_unit = true, .own_writes_unapplied = true, .mirror_serves_reads = true, .planner_allows = true},
       own_writes_unapplied},
      {"answers to pinned statement copies are still being filtered",
       {.whole_unit = true, .own_answers_filtered = true, .mirror_serves_reads = true, .planner_allows = true},
       own_answers_pending},
      {"a write, or anything else the planner keeps off the mirror",
       {.whole_unit = true, .mirror_serves_reads = true, .planner_allows = false}, not_a_mirror_read},
  }));
  INFO(row.scenario);
  CHECK(to_string(read_eligibility(row.facts)) == to_string(row.expected));
}

TEST_CASE("Only the cloud serves steered reads, whichever role it has", "[unit][route][steering]") {
  config::ProxyConfig config;
  CHECK(serves_steered_reads(config.cloud));
  CHECK_FALSE(serves_steered_reads(config.onprem));
  config.primary = "cloud";
  CHECK_FALSE(serves_steered_reads(config.mirror_backend()));
}

TEST_CASE("Every verdict has a name of its own", "[unit][route][steering]") {
  using enum ReadVerdict;
  const auto verdict = GENERATE(eligible, mirror_not_read_target, reads_kept_on_primary, unit_incomplete,
                                primary_transaction_failed, transaction_on_primary, mirror_transaction_lost,
                                unknown_commits_pending, own_writes_unapplied, own_answers_pending, not_a_mirror_read);
  CHECK(to_string(verdict) != "unknown");
}

}  // namespace pgdual::proxy
