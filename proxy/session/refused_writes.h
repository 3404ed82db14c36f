#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <spdlog/logger.h>

#include "proxy/route/unit_planner.h"
#include "proxy/session/write_mirror.h"

namespace pgdual::proxy {

/// The write mirror of a session in a database pgdual could not set up for mirroring
/// (DatabaseSetup): the mirror takes no part, and each unit that may write is refused before the
/// primary runs any of it, with an error (55000) that says why and names the command that fixes
/// it. Reads, session state and transaction control run on the primary as ever. A unit that may
/// write and cannot be refused in its form ends the session instead: nothing is ever committed on
/// the primary alone.
class RefusedWrites final : public WriteMirror {
 public:
  RefusedWrites(const UnitPlanner& planner, std::string refusal, std::uint64_t session_id,
                std::shared_ptr<spdlog::logger> log);

  [[nodiscard]] UnitPrefix open_unit(const UnitPlan& plan, std::vector<std::byte>& segment,
                                     std::vector<protocol::Frame>& frames) override;
  [[nodiscard]] const std::string& unit_key() const noexcept override { return no_key_; }
  Awaitable<void> send(protocol::Bytes, std::span<const protocol::Frame>, const UnitPrefix&) override { co_return; }
  Awaitable<void> finish_unit(const conflict::Outcome&) override { co_return; }
  void end_unit(protocol::TransactionStatus status) override { status_ = status; }
  void primary_lost() override {}
  Awaitable<void> settle() override { co_return; }
  bool mirror_lost(const MirrorFailure&) override { return false; }
  [[nodiscard]] bool answer_waits_for_mirror() const noexcept override { return false; }
  /// The mirror got none of the session's session state either: its reads stay on the primary.
  [[nodiscard]] bool mirror_has_own_writes() const noexcept override { return false; }

 private:
  const UnitPlanner& planner_;
  std::string statement_;  ///< the statement that raises the refusal on the primary
  std::string refusal_;
  std::uint64_t session_id_;
  std::shared_ptr<spdlog::logger> log_;
  protocol::TransactionStatus status_ = protocol::TransactionStatus::idle;
  std::string no_key_;
};

}  // namespace pgdual::proxy
