// Prints both server logs and pgdual's log after a test case fails, as PgBouncer's pg_log
// fixture does: a proxy failure is rarely understandable from the client's side alone.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include "tests/integration/harness/fixture.h"

namespace {

class FailureLogPrinter : public Catch::TestEventListenerBase {
 public:
  using TestEventListenerBase::TestEventListenerBase;

  void testCaseStarting(const Catch::TestCaseInfo& info) override {
    TestEventListenerBase::testCaseStarting(info);
    pgdual::test::begin_failure_report();
  }

  void testCaseEnded(const Catch::TestCaseStats& stats) override {
    if (stats.totals.assertions.failed > 0) Catch::cout() << pgdual::test::failure_report() << std::flush;
    TestEventListenerBase::testCaseEnded(stats);
  }
};

}  // namespace

CATCH_REGISTER_LISTENER(FailureLogPrinter)
