#pragma once

#include <string>
#include <string_view>

// The names of what pgdual owns on a primary for the WAL mirror, known to the server that reads
// them and to `pgdual init --drop`, which removes them; and the prefixes of the logical messages
// its sessions put into the primary's WAL for the apply to read (docs/wal-mirror.md).
namespace pgdual::conflict {

/// The slot (and publication) name pgdual owns on the primary for `database`: "pgdual_" and the
/// database name when that is already lower-case letters, digits and underscores and short
/// enough, else the name so sanitized (and cut) with a hash of the original appended. A valid
/// replication slot name (at most 63 bytes of [a-z0-9_]), the same on every run.
[[nodiscard]] std::string slot_name_for(std::string_view database);

/// A transactional message with a session's unit key: the transaction that carries it is the
/// one a client waits for.
inline constexpr std::string_view kUnitKeyMessagePrefix = "pgdual";
/// A transactional message with statements that change the schema, to run on the mirror at its
/// point of the transaction.
inline constexpr std::string_view kSchemaChangeMessagePrefix = "pgdual.ddl";
/// pgdual init's event trigger, which gives each table made later without a primary key a replica
/// identity, so that the publication never makes its UPDATE or DELETE fail on the primary.
inline constexpr std::string_view kReplicaIdentityTrigger = "pgdual_replica_identity";

}  // namespace pgdual::conflict
