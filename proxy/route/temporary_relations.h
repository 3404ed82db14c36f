#pragma once

// A session's temporary tables, views and sequences live on the primary alone: the WAL carries
// none of their rows, and the mirror's apply has none of them. A schema change that names only
// them must stay on the primary, where a mirror that ran it would fail, or, worse, find a
// permanent relation of the same name and change that (docs/wal-mirror.md). Pure.

#include <set>
#include <string>

#include "protocol/sql/classification.h"

namespace pgdual::proxy {

/// The names of the temporary relations a session created and has not dropped.
class TemporaryRelations {
 public:
  /// `statement` ran on the primary without error: its temporary relations are the session's, and
  /// those it dropped by a name one of them has are gone.
  void note(const sql::Classification& statement);
  /// Whether every relation `statement` names is one of the session's temporary relations (or is
  /// named in pg_temp), and it creates none that is not temporary.
  [[nodiscard]] bool only_temporary(const sql::Classification& statement) const;
  [[nodiscard]] bool empty() const noexcept { return names_.empty(); }

 private:
  [[nodiscard]] bool is_temporary(const std::string& relation) const;

  std::set<std::string, std::less<>> names_;
};

}  // namespace pgdual::proxy
