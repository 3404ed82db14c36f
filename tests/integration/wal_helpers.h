#pragma once

// What the WAL mirror's integration tests share: the harness's servers as pgdual's configuration
// sees them, and the slots they make, dropped afterwards.

#include <chrono>
#include <exception>
#include <string>
#include <thread>
#include <utility>

#include <catch2/catch.hpp>

#include "config/proxy_config.h"
#include "proxy/mirror/applier.h"
#include "proxy/mirror/slot_stream.h"
#include "tests/integration/harness/fixture.h"

namespace pgdual::test {

/// `cluster` as a config::BackendConfig named `name` ("onprem" or "cloud").
inline config::BackendConfig backend_of(const PgCluster& cluster, const std::string& name = "onprem") {
  using namespace std::chrono_literals;
  return config::BackendConfig{.name = name, .host = "127.0.0.1", .port = cluster.port(), .connect_timeout = 10s};
}

inline proxy::SlotStreamOptions options_for(const PgCluster& cluster, const std::string& database) {
  const auto login = cluster.superuser(database);
  const auto name = proxy::slot_name_for(database);
  return proxy::SlotStreamOptions{
      .user = login.user, .password = login.password, .database = database, .slot = name, .publication = name};
}

/// A login of `cluster`'s superuser into `database`, as the apply and its lease use one.
inline proxy::BackendLogin superuser_login(const PgCluster& cluster, const std::string& database,
                                           std::string_view application) {
  const auto login = cluster.superuser(database);
  return proxy::BackendLogin{.user = login.user,
                             .password = login.password,
                             .protocol_version = 196608,
                             .parameters = {{"user", login.user},
                                            {"database", database},
                                            {"application_name", std::string{application}}}};
}

/// A MirrorApplier's options for `database` from `primary` to `mirror`, both as their superuser,
/// as a pgdual instance of the test's own.
inline proxy::MirrorApplier::Options applier_options(const PgCluster& primary, const PgCluster& mirror,
                                                     const std::string& database, std::string_view application) {
  proxy::MirrorApplier::Options options;
  options.slot = options_for(primary, database);
  options.mirror_login = superuser_login(mirror, database, application);
  options.primary_login = superuser_login(primary, database, application);
  options.self = proxy::InstanceIdentity{
      .id = "0193e0b2-0000-7000-8000-000000000001",
      .listen = "127.0.0.1:0",
      .host = "test",
      .pid = 1};
  return options;
}

/// Drops the slot a test made once its walsender has gone: a slot left behind keeps WAL on the
/// shared server for ever. Declared before the io_context, so it runs after the connection closed.
class SlotDropper {
 public:
  SlotDropper(const PgCluster& cluster, std::string slot) : cluster_{cluster}, slot_{std::move(slot)} {}
  SlotDropper(const SlotDropper&) = delete;
  SlotDropper& operator=(const SlotDropper&) = delete;
  ~SlotDropper() {
    const auto where = " FROM pg_replication_slots WHERE slot_name = '" + slot_ + "'";
    try {
      for (int attempt = 0; attempt < 50; ++attempt) {
        if (cluster_.run_sql("postgres", "SELECT count(*)" + where + " AND active") == "0\n") break;
        std::this_thread::sleep_for(std::chrono::milliseconds{100});
      }
      static_cast<void>(cluster_.run_sql("postgres", "SELECT pg_drop_replication_slot(slot_name)" + where));
    } catch (const std::exception& error) {
      WARN("could not drop replication slot " << slot_ << ": " << error.what());
    }
  }

 private:
  const PgCluster& cluster_;
  std::string slot_;
};

}  // namespace pgdual::test
