#include "proxy/admin/instances_table.h"

#include <algorithm>
#include <map>
#include <string>

namespace pgdual::proxy {
namespace {

struct Seen {
  InstanceRow row;
  std::vector<std::string> applies;  ///< the databases whose lease it holds
};

}  // namespace

AdminTable instances_table(const std::vector<WalMirrors::DatabaseProgress>& mirrors, std::string_view self_id) {
  std::map<std::string, Seen> instances;
  for (const auto& mirror : mirrors) {
    for (const auto& row : mirror.instances) {
      auto [found, added] = instances.try_emplace(row.instance, Seen{row, {}});
      if (!added && row.silent < found->second.row.silent) found->second.row = row;
      if (row.applies) found->second.applies.push_back(mirror.database);
    }
  }
  std::vector<const Seen*> ordered;
  for (const auto& [id, seen] : instances) ordered.push_back(&seen);
  std::ranges::sort(ordered, [](const Seen* a, const Seen* b) { return a->row.started_at < b->row.started_at; });
  AdminTable table{{"instance", "listen", "host", "pid", "started", "silent_ms", "applies", "this"}, {}};
  for (const auto* seen : ordered) {
    std::string applies;
    for (const auto& database : seen->applies) applies += (applies.empty() ? "" : ",") + database;
    const auto& row = seen->row;
    table.rows.push_back({row.instance, row.listen, row.host, std::to_string(row.pid), row.started_at,
                          std::to_string(row.silent.count()), applies, row.instance == self_id ? "yes" : ""});
  }
  return table;
}

}  // namespace pgdual::proxy
