#include "protocol/request_tracker.h"

#include <string>
#include <string_view>

#include <catch2/catch.hpp>

using namespace pgdual::protocol;

namespace {

// Runs a script through the tracker. Words starting with '>' are message
// tags the frontend sends, words starting with '<' tags the backend sends.
// Returns one word per backend message: "TAG:request", with "!" when it
// completes the request and "!Z" when it is a ReadyForQuery; "TAG:async" or
// "TAG:UNEXPECTED" otherwise.
std::string run(RequestTracker& tracker, std::string_view script) {
  std::string trace;
  char direction = ' ';
  for (char c : script) {
    if (c == ' ') continue;
    if (c == '>' || c == '<') {
      direction = c;
      continue;
    }
    if (direction == '>') {
      tracker.on_frontend(c);
      continue;
    }
    const auto response = tracker.on_backend(c);
    if (!trace.empty()) trace += ' ';
    trace += c;
    trace += ':';
    if (response.unexpected) {
      trace += "UNEXPECTED";
    } else if (response.asynchronous) {
      trace += "async";
    } else {
      trace += to_string(response.request);
      if (response.completes) trace += '!';
      if (response.ready_for_query) trace += 'Z';
    }
  }
  return trace;
}

}  // namespace

TEST_CASE("Request kinds have readable names", "[unit][protocol]") {
  CHECK(to_string(RequestKind::function_call) == "function_call");
  CHECK(to_string(RequestKind::none) == "none");
}

TEST_CASE("A new tracker is idle", "[unit][protocol]") {
  RequestTracker tracker;
  CHECK(tracker.idle());
  CHECK(tracker.pending_syncs() == 0);
  CHECK(tracker.violation() == Violation::none);
}

TEST_CASE("A simple Query may produce several results before ReadyForQuery", "[unit][protocol]") {
  RequestTracker tracker;
  tracker.on_frontend('Q');
  CHECK_FALSE(tracker.idle());
  CHECK(tracker.pending_syncs() == 1);
  CHECK(run(tracker, "<TDC C TDDC Z") ==
        "T:query D:query C:query C:query T:query D:query D:query C:query Z:query!Z");
  CHECK(tracker.idle());
  CHECK(tracker.pending_syncs() == 0);
}

TEST_CASE("An empty Query and a failing Query still end with ReadyForQuery", "[unit][protocol]") {
  RequestTracker tracker;
  CHECK(run(tracker, ">Q <IZ") == "I:query Z:query!Z");
  CHECK(run(tracker, ">Q <TDEZ") == "T:query D:query E:query Z:query!Z");
  CHECK(tracker.idle());
}

TEST_CASE("Each extended-query message gets its own answer", "[unit][protocol]") {
  RequestTracker tracker;
  CHECK(run(tracker, ">PBDES <12TDDCZ") ==
        "1:parse! 2:bind! T:describe! D:execute D:execute C:execute! Z:sync!Z");
  CHECK(run(tracker, ">PDS <1tnZ") == "1:parse! t:describe n:describe! Z:sync!Z");
  CHECK(run(tracker, ">BEE S <2IsZ") == "2:bind! I:execute! s:execute! Z:sync!Z");
  CHECK(run(tracker, ">CCS <33Z") == "3:close! 3:close! Z:sync!Z");
  CHECK(tracker.idle());
}

TEST_CASE("Pipelined batches are answered in order", "[unit][protocol]") {
  RequestTracker tracker;
  run(tracker, ">PBES PBES Q");
  CHECK(tracker.pending_syncs() == 3);
  CHECK(run(tracker, "<12CZ") == "1:parse! 2:bind! C:execute! Z:sync!Z");
  CHECK(tracker.pending_syncs() == 2);
  CHECK(run(tracker, "<12CZ CZ") == "1:parse! 2:bind! C:execute! Z:sync!Z C:query Z:query!Z");
  CHECK(tracker.idle());
}

TEST_CASE("After an extended-query error the server skips everything up to Sync", "[unit][protocol]") {
  RequestTracker tracker;
  SECTION("the Sync was already sent") {
    run(tracker, ">PBDES PBES");
    CHECK(run(tracker, "<1E Z") == "1:parse! E:bind! Z:sync!Z");
    CHECK(run(tracker, "<12CZ") == "1:parse! 2:bind! C:execute! Z:sync!Z");
  }
  SECTION("the Sync comes later; what the frontend sends before it is dropped too") {
    CHECK(run(tracker, ">PBE H <1E") == "1:parse! E:bind!");
    CHECK_FALSE(tracker.idle());
    run(tracker, ">BEQ");
    CHECK(tracker.pending_syncs() == 0);
    CHECK(run(tracker, ">S <Z") == "Z:sync!Z");
  }
  SECTION("an error in the last message before Sync") {
    CHECK(run(tracker, ">PBES <12DEZ") == "1:parse! 2:bind! D:execute E:execute! Z:sync!Z");
  }
  SECTION("an error at Sync, e.g. at commit, is part of the Sync") {
    CHECK(run(tracker, ">PBES <12CEZ") == "1:parse! 2:bind! C:execute! E:sync Z:sync!Z");
  }
  CHECK(tracker.idle());
  CHECK(tracker.pending_syncs() == 0);
  CHECK(tracker.violation() == Violation::none);
}

TEST_CASE("Flush asks for no answer and leaves the batch open", "[unit][protocol]") {
  RequestTracker tracker;
  CHECK(run(tracker, ">PH <1") == "1:parse!");
  CHECK_FALSE(tracker.idle());
  CHECK(run(tracker, ">S <Z") == "Z:sync!Z");
  CHECK(tracker.idle());
}

TEST_CASE("FunctionCall is answered by FunctionCallResponse, then ReadyForQuery", "[unit][protocol]") {
  RequestTracker tracker;
  CHECK(run(tracker, ">F <VZ") == "V:function_call Z:function_call!Z");
  CHECK(run(tracker, ">F <EZ") == "E:function_call Z:function_call!Z");
  CHECK(tracker.idle());
}

TEST_CASE("Asynchronous messages answer nothing, whenever they come", "[unit][protocol]") {
  RequestTracker tracker;
  CHECK(run(tracker, "<A S N") == "A:async S:async N:async");
  CHECK(tracker.idle());
  CHECK(run(tracker, ">Q <N C S A Z") == "N:async C:query S:async A:async Z:query!Z");
  CHECK(tracker.idle());
}

TEST_CASE("An ErrorResponse while nothing is pending is the server's FATAL goodbye", "[unit][protocol]") {
  RequestTracker tracker;
  CHECK(run(tracker, "<E") == "E:async");
  CHECK(tracker.violation() == Violation::none);
}

TEST_CASE("COPY FROM STDIN makes the frontend's copy messages part of the query", "[unit][protocol]") {
  RequestTracker tracker;
  SECTION("data sent after CopyInResponse") {
    CHECK(run(tracker, ">Q <G") == "G:query");
    CHECK_FALSE(tracker.idle());
    CHECK(run(tracker, ">ddd c <CZ") == "C:query Z:query!Z");
  }
  SECTION("data sent before CopyInResponse arrives") {
    CHECK(run(tracker, ">Qddc Q <GCZ CZ") == "G:query C:query Z:query!Z C:query Z:query!Z");
  }
  SECTION("the copy fails on the client") {
    CHECK(run(tracker, ">Q <G >df <EZ") == "G:query E:query Z:query!Z");
  }
  SECTION("the server rejects the data while the client is still sending") {
    CHECK(run(tracker, ">Q <G >d <EZ >dc") == "G:query E:query Z:query!Z");
    CHECK(run(tracker, ">Q <CZ") == "C:query Z:query!Z");
  }
  CHECK(tracker.idle());
  CHECK(tracker.violation() == Violation::none);
}

TEST_CASE("COPY FROM STDIN in an extended batch swallows the Sync sent with it", "[unit][protocol]") {
  RequestTracker tracker;
  // libpq sends Parse..Sync at once, and another Sync after CopyDone because
  // the server's COPY reader ignored the first.
  CHECK(run(tracker, ">PBDES <12nG") == "1:parse! 2:bind! n:describe! G:execute");
  CHECK(tracker.pending_syncs() == 0);
  SECTION("the copy completes") {
    CHECK(run(tracker, ">ddc <C") == "C:execute!");
    CHECK_FALSE(tracker.idle());
    CHECK(run(tracker, ">S <Z") == "Z:sync!Z");
  }
  SECTION("the copy fails on the server") {
    CHECK(run(tracker, ">d <E >dcS <Z") == "E:execute! Z:sync!Z");
  }
  CHECK(tracker.idle());
  CHECK(tracker.violation() == Violation::none);
}

TEST_CASE("COPY TO STDOUT streams CopyData until CopyDone", "[unit][protocol]") {
  RequestTracker tracker;
  CHECK(run(tracker, ">Q <HdddcCZ") ==
        "H:query d:query d:query d:query c:query C:query Z:query!Z");
  CHECK(run(tracker, ">PBES <12HdcCZ") == "1:parse! 2:bind! H:execute d:execute c:execute C:execute! Z:sync!Z");
  CHECK(run(tracker, ">Q <HdEZ") == "H:query d:query E:query Z:query!Z");
  CHECK(tracker.idle());
  CHECK(tracker.violation() == Violation::none);
}

TEST_CASE("CopyBothResponse copies in both directions", "[unit][protocol]") {
  RequestTracker tracker;
  CHECK(run(tracker, ">Q <Wdd >dc <cCZ") == "W:query d:query d:query c:query C:query Z:query!Z");
  CHECK(tracker.idle());
}

TEST_CASE("Copy messages from the frontend outside COPY are ignored, as the server does", "[unit][protocol]") {
  RequestTracker tracker;
  run(tracker, ">dcf");
  CHECK(tracker.idle());
  CHECK(run(tracker, ">Qc <CZ") == "C:query Z:query!Z");
  CHECK(tracker.idle());
  CHECK(tracker.violation() == Violation::none);
}

TEST_CASE("A request in the middle of COPY FROM STDIN data is a frontend violation", "[unit][protocol]") {
  RequestTracker tracker;
  SECTION("sent after CopyInResponse") { run(tracker, ">Q <G >dQ"); }
  SECTION("pipelined behind the COPY") { run(tracker, ">QQ <G"); }
  CHECK(tracker.violation() == Violation::frontend);
}

TEST_CASE("A tag that is no frontend message of a session is a frontend violation", "[unit][protocol]") {
  RequestTracker tracker;
  const char tag = GENERATE('p', 'Z', 'T', '\0');
  tracker.on_frontend(tag);
  CHECK(tracker.violation() == Violation::frontend);
}

TEST_CASE("A backend message no pending request allows is unexpected", "[unit][protocol]") {
  RequestTracker tracker;
  SECTION("nothing is pending") { CHECK(run(tracker, "<Z") == "Z:UNEXPECTED"); }
  SECTION("the wrong completion") { CHECK(run(tracker, ">PS <2") == "2:UNEXPECTED"); }
  SECTION("ReadyForQuery before the batch is answered") { CHECK(run(tracker, ">PS <Z") == "Z:UNEXPECTED"); }
  SECTION("CopyData outside COPY") { CHECK(run(tracker, ">Q <d") == "d:UNEXPECTED"); }
  SECTION("rows during COPY TO STDOUT") { CHECK(run(tracker, ">Q <HD") == "H:query D:UNEXPECTED"); }
  SECTION("a startup message after startup") { CHECK(run(tracker, ">Q <K") == "K:UNEXPECTED"); }
  CHECK(tracker.violation() == Violation::backend);
}

TEST_CASE("An unexpected message leaves the pending requests as they were", "[unit][protocol]") {
  RequestTracker tracker;
  CHECK(run(tracker, ">PS <Z 1Z") == "Z:UNEXPECTED 1:parse! Z:sync!Z");
  CHECK(tracker.idle());
}

TEST_CASE("The tracker keeps up with deep pipelines", "[unit][protocol]") {
  RequestTracker tracker;
  constexpr int kBatches = 1000;
  for (int i = 0; i < kBatches; ++i) run(tracker, ">BES");
  CHECK(tracker.pending_syncs() == kBatches);
  for (int i = 0; i < kBatches; ++i) REQUIRE(run(tracker, "<2CZ") == "2:bind! C:execute! Z:sync!Z");
  CHECK(tracker.idle());
  CHECK(tracker.pending_syncs() == 0);
}
