#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "proxy/mirror/applier.h"
#include "proxy/mirror/slot_lag.h"

namespace pgdual::proxy {

/// A database's WAL mirror as an operator sees it (/health, SHOW WAL, pgdual_wal_mirror_up).
enum class WalMirrorState {
  streaming,    ///< the apply reads the slot and is less than kCatchingUpAfter behind
  catching_up,  ///< the apply reads the slot but is behind, or the slot has not been read yet
  failing,      ///< the slot cannot be read, is missing or invalidated, or nothing reads it
  given_up,     ///< the slot held more WAL than mirror.max_lag_bytes: dropped, until pgdual restarts
  copying,      ///< pgdual sync copies the database onto the mirror, or it waits for one: the apply waits
};

/// The state's name: the enumerator's own.
[[nodiscard]] std::string_view to_string(WalMirrorState state) noexcept;

/// Behind by this much, the apply is catching up rather than streaming: a mirror in step confirms
/// each transaction within milliseconds, but the slot's position is confirmed on the primary with
/// the stream's next status update, up to SlotStreamOptions::status_interval (10 s) later when
/// only WAL the publication does not carry was written (other databases, checkpoints).
inline constexpr std::chrono::seconds kCatchingUpAfter{15};

struct WalMirrorStatus {
  WalMirrorState state = WalMirrorState::catching_up;
  std::string problem;  ///< why failing or given up: names and SQLSTATEs, never values; empty otherwise
};

/// Judges a database's WAL mirror by what its monitor read of the slot and how its apply fares. Pure.
[[nodiscard]] WalMirrorStatus assess(const SlotLag& lag, const ApplierProgress& applier);

}  // namespace pgdual::proxy
