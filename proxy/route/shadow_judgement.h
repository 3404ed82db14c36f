#pragma once

// Shadow reads (docs/read-ramp.md, "Shadow reads"): a sample of the reads the primary answers is
// run on the mirror too, off the client's path, and the two answers compared. This decides what
// a comparison found, and keeps the counts per statement fingerprint. Pure: outcomes in, findings
// and counts out.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conflict/outcome.h"

namespace pgdual::proxy {

/// What comparing a shadow read's answers found.
enum class ShadowFinding : std::uint8_t {
  matched,  ///< the mirror answered as the primary did
  /// The mirror's first answer differed, its second, a moment later, matched the primary's: it had
  /// not applied the primary's latest writes yet. Not the mirror's fault.
  settled,
  /// The mirror's two answers differ from each other: the answer changes from run to run (a volatile
  /// function, rows written meanwhile), so this comparison proves nothing.
  varied,
  /// Both of the mirror's answers agree with each other and differ from the primary's: a read_mismatch.
  mismatched,
  /// The mirror did not answer within routing.shadow_timeout_ms, or could not be asked a second time.
  abandoned,
};

inline constexpr std::size_t kShadowFindings = 5;

/// The finding's name, for logs and metrics: "matched", "settled", "varied", "mismatched", "abandoned".
[[nodiscard]] std::string_view to_string(ShadowFinding finding) noexcept;

/// Whether two answers to one read agree: both reached, the same SQLSTATE of the first error (or
/// none), the same command tags, rows and rows digest.
[[nodiscard]] bool answers_agree(const conflict::Outcome& a, const conflict::Outcome& b) noexcept;

/// The finding of a shadow read: the primary's answer, the mirror's first, and the mirror's second
/// (asked only when the first disagreed; nullopt when it could not be asked).
[[nodiscard]] ShadowFinding judge_shadow(const conflict::Outcome& primary, const conflict::Outcome& first,
                                         const std::optional<conflict::Outcome>& second) noexcept;

/// The shadow reads of one statement fingerprint, as SHOW SHADOWS and /metrics show them.
struct ShadowCounts {
  std::string fingerprint;
  std::string normalized;  ///< the statement's shape (Classification::normalized): no constants
  std::array<std::uint64_t, kShadowFindings> counts{};  ///< indexed by ShadowFinding
  /// The statement's answers varied often enough that it is shadowed no more.
  bool excluded = false;
  /// Its last comparison that reached a verdict (matched, settled or mismatched) mismatched.
  bool last_mismatched = false;

  [[nodiscard]] std::uint64_t of(ShadowFinding finding) const noexcept {
    return counts[static_cast<std::size_t>(finding)];
  }
  /// Comparisons that reached a verdict: all but the abandoned.
  [[nodiscard]] std::uint64_t compared() const noexcept;
};

/// Every session's shadow reads: how many run at once, and what they found, per fingerprint.
///
/// Thread safety: every member function may be called from any thread.
class ShadowLedger {
 public:
  /// A statement whose answers varied at least this many times, and this many times as often as
  /// they agreed (matched or settled), is shadowed no more: a volatile function in a view, say,
  /// would only make noise. One over rows written all along still agrees often enough to stay.
  static constexpr std::uint64_t kVariedToExclude = 4;
  /// Fingerprints kept apart; past this many, new ones are counted under kOtherFingerprint.
  static constexpr std::size_t kMaxFingerprints = 2048;
  static constexpr std::string_view kOtherFingerprint = "other";

  explicit ShadowLedger(std::uint32_t max_in_flight) : max_in_flight_{max_in_flight} {}

  /// Takes one of the max_in_flight places for a shadow read; false when none is free.
  [[nodiscard]] bool try_start();
  /// Gives back the place try_start() took.
  void finish();

  /// Whether reads of `fingerprint` are shadowed no more (kVariedToExclude).
  [[nodiscard]] bool excluded(std::string_view fingerprint) const;
  /// Counts one shadow read of the statement. Returns whether it is a mismatch that repeats the
  /// statement's last verdict: one mismatch may be a race (a row committed between the two
  /// servers' snapshots), two in a row are the mirror's.
  bool count(std::string_view fingerprint, std::string_view normalized, ShadowFinding finding);

  /// Every fingerprint's counts, in fingerprint order.
  [[nodiscard]] std::vector<ShadowCounts> counts() const;
  /// The counts summed over every fingerprint (its fingerprint empty).
  [[nodiscard]] ShadowCounts totals() const;

 private:
  const std::uint32_t max_in_flight_;
  mutable std::mutex mutex_;
  std::uint32_t in_flight_ = 0;
  std::map<std::string, ShadowCounts, std::less<>> by_fingerprint_;
};

}  // namespace pgdual::proxy
