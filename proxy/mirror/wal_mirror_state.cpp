#include "proxy/mirror/wal_mirror_state.h"

namespace pgdual::proxy {
namespace {

std::string with_apply_error(std::string problem, const ApplierProgress& applier) {
  if (!applier.last_error.empty()) problem += "; the apply's last failure: " + applier.last_error;
  return problem;
}

std::string given_up_problem(const SlotLag& lag) {
  auto problem = "the slot held " + std::to_string(lag.retained_bytes) +
                 " bytes of WAL on the primary, more than mirror.max_lag_bytes: the mirror must be rebuilt";
  if (!lag.slot_dropped) problem += "; the slot is not dropped yet: " + lag.last_error;
  return problem;
}

}  // namespace

std::string_view to_string(WalMirrorState state) noexcept {
  switch (state) {
    case WalMirrorState::streaming: return "streaming";
    case WalMirrorState::catching_up: return "catching_up";
    case WalMirrorState::failing: return "failing";
    case WalMirrorState::given_up: return "given_up";
    case WalMirrorState::copying: return "copying";
  }
  return "failing";
}

WalMirrorStatus assess(const SlotLag& lag, const ApplierProgress& applier) {
  using enum WalMirrorState;
  if (lag.given_up) return {given_up, given_up_problem(lag)};
  // Nothing reads the slot meanwhile, on purpose.
  if (applier.sync.stands_still()) return {copying, {}};
  if (lag.stale) return {failing, "the slot cannot be read on the primary: " + lag.last_error};
  if (!lag.read_at) return {catching_up, {}};
  if (!lag.slot_exists) return {failing, with_apply_error("the slot does not exist on the primary", applier)};
  if (lag.wal_status == "lost") {
    return {failing, "the primary has removed WAL the slot needs (wal_status lost, max_slot_wal_keep_size): the "
                     "mirror must be rebuilt"};
  }
  if (!lag.slot_active) return {failing, with_apply_error("no walsender reads the slot", applier)};
  if (lag.lag >= kCatchingUpAfter) return {catching_up, {}};
  return {streaming, {}};
}

}  // namespace pgdual::proxy
