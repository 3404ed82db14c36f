#include "proxy/admin/health.h"

#include <algorithm>
#include <string>

#include <spdlog/fmt/fmt.h>

#include "conflict/json.h"

namespace pgdual::proxy {
namespace {

std::string seconds_text(std::chrono::steady_clock::duration duration) {
  return fmt::format("{:.3f}", std::chrono::duration<double>(duration).count());
}

void append_wal_mirror(std::string& out, const WalMirrors::DatabaseProgress& mirror,
                       std::chrono::steady_clock::time_point now) {
  const auto& lag = mirror.lag;
  out += R"({"database":)";
  conflict::json::append_string(out, mirror.database);
  out += R"(,"state":")" + std::string{to_string(mirror.status.state)} + "\"";
  out += ",\"lag_bytes\":" + std::to_string(lag.lag_bytes);
  out += ",\"lag_seconds\":" + seconds_text(lag.lag);
  out += ",\"retained_bytes\":" + std::to_string(lag.retained_bytes);
  out += ",\"figures_age_seconds\":" + (lag.read_at ? seconds_text(now - *lag.read_at) : std::string{"null"});
  out += R"(,"last_error":)";
  conflict::json::append_string(out, mirror.status.problem);
  out += "}";
}

}  // namespace

HealthReport health_report(const HealthFacts& facts) {
  const bool given_up = std::ranges::any_of(facts.wal_mirrors, [](const auto& mirror) {
    return mirror.status.state == WalMirrorState::given_up;
  });
  std::string body = fmt::format(R"({{"status":"{}","sessions":{},"read_percent":{},"read_brake":"{}","wal_mirrors":[)",
                                 given_up ? "wal_mirror_given_up" : "ok", facts.sessions, facts.read_percent,
                                 facts.braked ? "engaged" : "released");
  for (std::size_t index = 0; index < facts.wal_mirrors.size(); ++index) {
    if (index > 0) body += ",";
    append_wal_mirror(body, facts.wal_mirrors[index], facts.now);
  }
  body += "]}\n";
  return HealthReport{.healthy = !given_up, .body = std::move(body)};
}

}  // namespace pgdual::proxy
