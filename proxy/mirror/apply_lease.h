#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "protocol/backend_messages.h"
#include "proxy/backend/backend_connection.h"
#include "proxy/net/asio.h"

namespace pgdual::proxy {

/// This pgdual serve, among the instances in front of the same two servers (docs/deployment.md):
/// what its row in each database's pgdual.instances on the mirror says.
struct InstanceIdentity {
  std::string id;      ///< a UUIDv7 drawn when the process starts
  std::string listen;  ///< "address:port" its clients connect to
  std::string host;    ///< the machine's name
  int pid = 0;
};

/// Who holds a database's apply lease (docs/deployment.md, "One apply per database"): the mirror
/// backend holding the advisory lock, and the instance whose row names that backend as its apply.
struct LeaseHolder {
  int pid = 0;           ///< the holder's backend on the mirror; 0 when nobody holds the lease
  std::string instance;  ///< empty when no instance's row names that backend
  std::string listen;
  /// How long ago that instance last wrote its row; std::nullopt when no row names the backend.
  std::optional<std::chrono::milliseconds> silent;
};

/// The rows of pg_locks (aliased l) that hold the apply lease of the connection's database: an
/// advisory lock on the keys "pgdu", "aply", per database as advisory locks are.
inline constexpr std::string_view kLeaseLockFilter =
    "l.locktype = 'advisory' AND l.classid = 1885824117 AND l.objid = 1634757753 AND l.objsubid = 2 AND l.granted "
    "AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())";

/// What an instance standing by makes of the holder. Pure.
enum class LeaseVerdict {
  free,   ///< nobody holds it: take it
  alive,  ///< an instance that writes its row holds it: stand by
  /// The holder has been silent past the lease timeout (its process stopped, its machine hung), or
  /// held it unnamed that long: end its mirror backend, which ends its apply, and take the lease.
  silent,
};
/// `unnamed_for`: how long the standby has seen the same backend hold the lease with no row naming it.
[[nodiscard]] LeaseVerdict judge(const LeaseHolder& holder, std::chrono::milliseconds unnamed_for,
                                 std::chrono::milliseconds timeout);

/// The holder in the row the lease-holder query (read_lease_holder) answers. Pure.
[[nodiscard]] LeaseHolder lease_holder_of(const protocol::OwnedDataRow& row);

/// The INSERT ... ON CONFLICT that writes `self`'s row: as the apply (`applies`), it names its own
/// backend as apply_pid; as a heartbeat it only says the instance is alive.
[[nodiscard]] std::string instance_row_sql(const InstanceIdentity& self, bool applies);

/// Tries to take the apply lease on `mirror`, the connection the apply will write through: held as
/// long as that session lasts, so that a process that dies lets go at once, and a holder whose
/// backend is ended can apply nothing more. When taken, writes `self`'s row naming the backend.
/// Throws boost::system::system_error (a broken connection) or ApplyError (a refusal).
Awaitable<bool> take_apply_lease(BackendConnection& mirror, const InstanceIdentity& self);
/// Who holds the lease, as `mirror` (a connection to the mirror's database) sees it.
Awaitable<LeaseHolder> read_lease_holder(BackendConnection& mirror);
/// Ends backend `pid` of the server `connection` is on (pg_terminate_backend); the refusal's
/// SQLSTATE, or the empty string when it ended, or was gone already.
Awaitable<std::string> end_backend(BackendConnection& connection, int pid);
/// Ends the walsender reading `slot`, on the primary `connection` is on; as end_backend().
Awaitable<std::string> end_slot_reader(BackendConnection& primary, std::string_view slot);
/// Whether `slot` exists on the primary `connection` is on.
Awaitable<bool> slot_exists(BackendConnection& primary, std::string_view slot);

}  // namespace pgdual::proxy
