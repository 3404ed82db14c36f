#include "conflict/time_text.h"

#include <algorithm>
#include <array>
#include <cstdio>

namespace pgdual::conflict {
namespace {

std::string format_utc(std::chrono::system_clock::time_point time, char date_time_separator, const char* zone) {
  using namespace std::chrono;
  const auto micros = floor<microseconds>(time);
  const auto day = floor<days>(micros);
  const year_month_day date{day};
  const hh_mm_ss clock{micros - day};
  std::array<char, 48> text{};
  const int length = std::snprintf(text.data(), text.size(), "%04d-%02u-%02u%c%02d:%02d:%02d.%06lld%s",
                                    static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                                    static_cast<unsigned>(date.day()), date_time_separator,
                                    static_cast<int>(clock.hours().count()), static_cast<int>(clock.minutes().count()),
                                    static_cast<int>(clock.seconds().count()),
                                    static_cast<long long>(clock.subseconds().count()), zone);
  return {text.data(), static_cast<std::size_t>(std::clamp(length, 0, static_cast<int>(text.size()) - 1))};
}

}  // namespace

std::string rfc3339_utc(std::chrono::system_clock::time_point time) { return format_utc(time, 'T', "Z"); }

std::string postgres_timestamptz_utc(std::chrono::system_clock::time_point time) {
  return format_utc(time, ' ', "+00");
}

}  // namespace pgdual::conflict
