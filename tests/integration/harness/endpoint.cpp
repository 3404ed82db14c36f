#include "tests/integration/harness/endpoint.h"

namespace pgdual::test {

std::map<std::string, std::string> Endpoint::libpq_env() const {
  return {{"PGHOST", host},         {"PGPORT", std::to_string(port)}, {"PGUSER", user},
          {"PGPASSWORD", password}, {"PGDATABASE", database},          {"PGCONNECT_TIMEOUT", "10"}};
}

}  // namespace pgdual::test
