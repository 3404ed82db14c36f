#include "proxy/net/wakeup.h"

namespace pgdual::proxy {

Wakeup::~Wakeup() {
  if (waiter_ != nullptr) std::exchange(waiter_, nullptr)->complete(asio::error::operation_aborted);
}

void Wakeup::notify() {
  if (waiter_ != nullptr) std::exchange(waiter_, nullptr)->complete({});
}

// Any type cancels, as it does a timer wait: nothing is half done that a partial or total
// cancellation would have to keep.
void Wakeup::CancelWait::operator()(asio::cancellation_type type) const {
  constexpr auto any = asio::cancellation_type::terminal | asio::cancellation_type::partial |
                       asio::cancellation_type::total;
  if ((type & any) != asio::cancellation_type::none) wakeup->cancel(wait);
}

void Wakeup::cancel(std::uint64_t wait) {
  if (waiter_ != nullptr && wait == waits_) std::exchange(waiter_, nullptr)->complete_cancelled();
}

}  // namespace pgdual::proxy
