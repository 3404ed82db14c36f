#pragma once

// Read steering: which eligible reads the mirror serves (DESIGN.md, "Routing rules"). Pure and
// free of I/O and clocks; sessions supply what they know, and the random numbers.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/proxy_config.h"
#include "proxy/route/client_address.h"

namespace pgdual::proxy {

/// What a read rule can match a session on, all known once the session has logged in.
struct SessionFacts {
  std::string user;
  std::string database;
  std::string application_name;                 ///< "" when the client sent none
  std::optional<ClientAddress> client_address;  ///< nullopt when not over TCP/IP: no client_cidr matches
};

/// Whether `rule` matches a session: every key the rule sets must equal the session's (names
/// compared exactly, as PostgreSQL compares them), and the client address must lie in its network.
[[nodiscard]] bool matches(const config::ReadRule& rule, const SessionFacts& facts) noexcept;

/// Whether a session reads from the mirror at `percent`, for per-session stickiness. The session
/// id is hashed to a fixed point in [0, 100) (2^-53 resolution), and the session reads from the
/// mirror when that point is below `percent`; so for one id the answer never changes at one
/// percent, and raising the percent only adds sessions to the mirror. A percent of 0 or less (or
/// NaN) is never, 100 or more is always.
[[nodiscard]] bool to_mirror_for_session(std::uint64_t session_id, double percent) noexcept;

/// Whether one statement or transaction reads from the mirror at `percent`, given a uniformly
/// random `random_draw` the caller supplies (a seeded generator in tests). Exact at 0 and 100,
/// as to_mirror_for_session.
[[nodiscard]] bool to_mirror_for_draw(std::uint64_t random_draw, double percent) noexcept;

/// The steering settings in force: the global read percent, the rules, the stickiness, the
/// brake's override, and the shadow percent. All change at run time: the percents by SET
/// read_percent and SET shadow_percent or a reload, the brake by ReadBrake, the rules and
/// stickiness by a configuration reload.
///
/// Thread safety: every member function may be called from any thread at any time.
class ReadSteering {
 public:
  /// `global_percent` applies to sessions no rule matches; `rules` are tried in order.
  ReadSteering(double global_percent, config::ReadStickiness stickiness, std::vector<config::ReadRule> rules,
               double shadow_percent = 0.0);
  /// From routing.read_percent, routing.read_stickiness, [[routing.rules]] and routing.shadow_percent.
  explicit ReadSteering(const config::ProxyConfig& config);

  /// The percent of `facts`'s eligible reads to steer to the mirror: 0 while braked, else the first
  /// matching rule's percent, else the global percent.
  [[nodiscard]] double percent_for(const SessionFacts& facts) const noexcept;

  [[nodiscard]] config::ReadStickiness stickiness() const noexcept { return rules_.load()->stickiness; }
  /// Replaces the rules and the stickiness (a reload); reads decided from now on follow them.
  void reconfigure(config::ReadStickiness stickiness, std::vector<config::ReadRule> rules);
  /// The global percent as last set, braked or not.
  [[nodiscard]] double global_percent() const noexcept { return global_percent_.load(); }
  /// Sets the global percent and releases the brake: the operator's SET read_percent is a decision
  /// to steer reads again. Callers check the range: 0..100.
  void set_global_percent(double percent) noexcept;

  /// Steers no read to the mirror, whatever the global percent and the rules say, until release()
  /// or set_global_percent().
  void brake() noexcept { braked_.store(true); }
  /// Undoes brake(): the global percent and the rules apply again as they were.
  void release() noexcept { braked_.store(false); }
  [[nodiscard]] bool braked() const noexcept { return braked_.load(); }

  /// The percent (0..100) of the eligible reads the primary answers that are also run on the
  /// mirror and compared (shadow reads). The brake leaves it alone: shadow reads never change what
  /// a client gets, and they go on giving the brake evidence after it tripped.
  [[nodiscard]] double shadow_percent() const noexcept { return shadow_percent_.load(); }
  /// Sets the shadow percent (SET shadow_percent, a reload). Callers check the range: 0..100.
  void set_shadow_percent(double percent) noexcept { shadow_percent_.store(percent); }

 private:
  struct Rules {
    config::ReadStickiness stickiness = config::ReadStickiness::statement;
    std::vector<config::ReadRule> rules;
  };

  std::atomic<std::shared_ptr<const Rules>> rules_;
  std::atomic<double> global_percent_;
  std::atomic<bool> braked_{false};
  std::atomic<double> shadow_percent_;
};

}  // namespace pgdual::proxy
