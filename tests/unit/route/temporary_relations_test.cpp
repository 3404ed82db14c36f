#include "proxy/route/temporary_relations.h"

#include <catch2/catch.hpp>

#include "protocol/sql/classifier.h"

namespace pgdual::proxy {
namespace {

TEST_CASE("A schema change that names only the session's temporary relations stays on the primary",
          "[unit][route][temporary]") {
  sql::Classifier classifier;
  TemporaryRelations temporary;
  const auto only = [&](const char* text) { return temporary.only_temporary(classifier.classify(text)); };
  CHECK_FALSE(only("DROP TABLE cart"));
  temporary.note(classifier.classify("CREATE TEMP TABLE cart (id int)"));
  temporary.note(classifier.classify("CREATE TEMPORARY VIEW basket AS SELECT 1"));
  CHECK(only("DROP TABLE cart"));
  CHECK(only("CREATE INDEX ON cart (id)"));
  CHECK(only("ALTER TABLE cart ADD COLUMN note text"));
  CHECK(only("DROP TABLE cart, basket"));
  CHECK(only("DROP TABLE pg_temp.other"));
  CHECK_FALSE(only("DROP TABLE public.cart"));      // a permanent one, named so
  CHECK_FALSE(only("DROP TABLE cart, beds"));       // a permanent one beside it
  CHECK_FALSE(only("CREATE TABLE cart (id int)"));  // creates a permanent one while the temporary stands
  CHECK_FALSE(only("CREATE TABLE kept AS SELECT * FROM cart"));

  temporary.note(classifier.classify("DROP TABLE cart"));
  CHECK_FALSE(only("DROP TABLE cart"));  // gone: the name is a permanent table's again
  CHECK(only("DROP VIEW basket"));
  temporary.note(classifier.classify("SELECT * INTO TEMP snapshot FROM beds"));
  CHECK(only("ALTER TABLE snapshot ADD COLUMN seen date"));
}

}  // namespace
}  // namespace pgdual::proxy
