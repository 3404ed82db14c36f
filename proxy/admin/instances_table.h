#pragma once

#include <string_view>
#include <vector>

#include "proxy/admin/admin_console.h"
#include "proxy/mirror/wal_mirrors.h"

namespace pgdual::proxy {

/// SHOW INSTANCES (docs/deployment.md): every pgdual instance in front of the same servers, one row
/// each, from what each database's pgdual.instances on the mirror last said: where it listens, how
/// long since it was heard of, which databases it applies, and whether it is this one (`self_id`).
/// An instance is listed once, with the freshest of its rows. Pure.
[[nodiscard]] AdminTable instances_table(const std::vector<WalMirrors::DatabaseProgress>& mirrors,
                                         std::string_view self_id);

}  // namespace pgdual::proxy
