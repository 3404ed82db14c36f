#include "protocol/request_tracker.h"

#include "protocol/message_tags.h"

namespace pgdual::protocol {
namespace {

constexpr std::size_t kInitialCapacity = 64;

bool answered_by_ready_for_query(RequestKind kind) noexcept {
  return kind == RequestKind::query || kind == RequestKind::sync || kind == RequestKind::function_call;
}

// Messages the backend may send whenever it likes (protocol-flow.html#PROTOCOL-ASYNC).
bool is_asynchronous(char tag) noexcept {
  return tag == backend_tag::kNoticeResponse || tag == backend_tag::kNotificationResponse ||
         tag == backend_tag::kParameterStatus;
}

}  // namespace

std::string_view to_string(RequestKind kind) noexcept {
  switch (kind) {
    case RequestKind::none: return "none";
    case RequestKind::query: return "query";
    case RequestKind::parse: return "parse";
    case RequestKind::bind: return "bind";
    case RequestKind::describe: return "describe";
    case RequestKind::execute: return "execute";
    case RequestKind::close: return "close";
    case RequestKind::sync: return "sync";
    case RequestKind::function_call: return "function_call";
  }
  return "unknown";
}

RequestTracker::RequestTracker() : ring_(kInitialCapacity) {}

RequestKind RequestTracker::kind_of(Entry entry) noexcept {
  switch (entry) {
    case Entry::query: return RequestKind::query;
    case Entry::parse: return RequestKind::parse;
    case Entry::bind: return RequestKind::bind;
    case Entry::describe: return RequestKind::describe;
    case Entry::execute: return RequestKind::execute;
    case Entry::close: return RequestKind::close;
    case Entry::sync: return RequestKind::sync;
    case Entry::function_call: return RequestKind::function_call;
    case Entry::copy_end: break;
  }
  return RequestKind::none;
}

void RequestTracker::push(Entry entry) {
  if (size_ == ring_.size()) {
    std::vector<Entry> larger(ring_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i) larger[i] = ring_[(head_ + i) % ring_.size()];
    ring_.swap(larger);
    head_ = 0;
  }
  ring_[(head_ + size_) % ring_.size()] = entry;
  ++size_;
  if (answered_by_ready_for_query(kind_of(entry))) ++pending_syncs_;
}

RequestTracker::Entry RequestTracker::pop_front() noexcept {
  const auto entry = ring_[head_];
  head_ = (head_ + 1) % ring_.size();
  --size_;
  return entry;
}

void RequestTracker::forget(Entry entry) noexcept {
  if (answered_by_ready_for_query(kind_of(entry))) --pending_syncs_;
}

void RequestTracker::violate(Violation side) noexcept {
  if (violation_ == Violation::none) violation_ = side;
}

void RequestTracker::on_frontend(char tag) noexcept {
  if (frontend_in_copy_) {
    on_frontend_in_copy(tag);
  } else {
    on_frontend_request(tag);
  }
}

// What the server's COPY FROM STDIN reader (CopyGetData) does with each message.
void RequestTracker::on_frontend_in_copy(char tag) noexcept {
  switch (tag) {
    case frontend_tag::kCopyData:
    case frontend_tag::kFlush:
    case frontend_tag::kSync:  // ignored "for the convenience of client libraries"
      return;
    case frontend_tag::kCopyDone:
    case frontend_tag::kCopyFail:
      frontend_in_copy_ = false;
      return;
    default:  // "unexpected message type during COPY from stdin", then FATAL
      frontend_in_copy_ = false;
      violate(Violation::frontend);
  }
}

void RequestTracker::on_frontend_request(char tag) {
  switch (tag) {
    case frontend_tag::kSync:
      discarding_until_sync_ = false;
      batch_open_ = false;
      push(Entry::sync);
      return;
    case frontend_tag::kQuery: return request(Entry::query, false);
    case frontend_tag::kFunctionCall: return request(Entry::function_call, false);
    case frontend_tag::kParse: return request(Entry::parse, true);
    case frontend_tag::kBind: return request(Entry::bind, true);
    case frontend_tag::kDescribe: return request(Entry::describe, true);
    case frontend_tag::kExecute: return request(Entry::execute, true);
    case frontend_tag::kClose: return request(Entry::close, true);
    case frontend_tag::kFlush:
    case frontend_tag::kTerminate:
    case frontend_tag::kCopyData:
      return;
    case frontend_tag::kCopyDone:
    case frontend_tag::kCopyFail:
      // Outside COPY the server ignores these; keep them in order only while
      // a pending request may still start a COPY that consumes them.
      if (!discarding_until_sync_ && (current_ != RequestKind::none || !queue_empty())) push(Entry::copy_end);
      return;
    default:  // includes 'p': the server ends the session with "invalid frontend message type"
      violate(Violation::frontend);
  }
}

void RequestTracker::request(Entry entry, bool extended) {
  // While skipping to Sync the server reads and drops every message.
  if (discarding_until_sync_) return;
  batch_open_ = extended;
  push(entry);
}

TrackedResponse RequestTracker::on_backend(char tag) noexcept {
  if (is_asynchronous(tag)) return TrackedResponse{.asynchronous = true};
  if (current_ == RequestKind::none) {
    if (queue_empty()) {
      if (tag == backend_tag::kErrorResponse) return TrackedResponse{.asynchronous = true};
      return unexpected();
    }
    current_ = kind_of(pop_front());
  }
  auto response = classify(tag);
  response.ready_for_query = tag == backend_tag::kReadyForQuery && response.completes;
  return response;
}

TrackedResponse RequestTracker::classify(char tag) noexcept {
  if (tag == backend_tag::kErrorResponse) return answer_error();
  if (copy_out_) return answer_copy_out(tag);
  if (copy_in_) return answer_copy_in(tag);
  switch (current_) {
    case RequestKind::query: return answer_query(tag);
    case RequestKind::execute: return answer_execute(tag);
    case RequestKind::parse: return tag == backend_tag::kParseComplete ? complete() : unexpected();
    case RequestKind::bind: return tag == backend_tag::kBindComplete ? complete() : unexpected();
    case RequestKind::close: return tag == backend_tag::kCloseComplete ? complete() : unexpected();
    case RequestKind::describe: return answer_describe(tag);
    case RequestKind::sync: return tag == backend_tag::kReadyForQuery ? complete() : unexpected();
    case RequestKind::function_call:
      if (tag == backend_tag::kFunctionCallResponse) return part();
      return tag == backend_tag::kReadyForQuery ? complete() : unexpected();
    case RequestKind::none: break;
  }
  return unexpected();
}

TrackedResponse RequestTracker::answer_query(char tag) noexcept {
  switch (tag) {
    case backend_tag::kRowDescription:
    case backend_tag::kDataRow:
    case backend_tag::kCommandComplete:
    case backend_tag::kEmptyQueryResponse:
      return part();
    case backend_tag::kReadyForQuery: return complete();
    default: return start_copy(tag);
  }
}

TrackedResponse RequestTracker::answer_execute(char tag) noexcept {
  switch (tag) {
    case backend_tag::kDataRow: return part();
    case backend_tag::kCommandComplete:
    case backend_tag::kEmptyQueryResponse:
    case backend_tag::kPortalSuspended:
      return complete();
    default: return start_copy(tag);
  }
}

TrackedResponse RequestTracker::answer_describe(char tag) noexcept {
  switch (tag) {
    case backend_tag::kParameterDescription: return part();  // only for a statement
    case backend_tag::kRowDescription:
    case backend_tag::kNoData:
      return complete();
    default: return unexpected();
  }
}

// Query and Execute may run COPY.
TrackedResponse RequestTracker::start_copy(char tag) noexcept {
  switch (tag) {
    case backend_tag::kCopyInResponse: start_copy_in(); return part();
    case backend_tag::kCopyOutResponse: copy_out_ = true; return part();
    case backend_tag::kCopyBothResponse:
      copy_out_ = true;
      start_copy_in();
      return part();
    default: return unexpected();
  }
}

// The frontend messages queued behind the COPY command reach the server
// while it reads COPY data, so they belong to the COPY, not to the queue.
void RequestTracker::start_copy_in() noexcept {
  copy_in_ = true;
  while (!queue_empty()) {
    const auto entry = pop_front();
    if (entry == Entry::copy_end) return;
    forget(entry);
    if (entry != Entry::sync) {
      violate(Violation::frontend);
      return;
    }
    // Swallowed: the batch stays open until the Sync libpq sends after CopyDone.
    if (current_ == RequestKind::execute) batch_open_ = true;
  }
  frontend_in_copy_ = true;
}

TrackedResponse RequestTracker::answer_copy_out(char tag) noexcept {
  if (tag == backend_tag::kCopyData) return part();
  if (tag != backend_tag::kCopyDone) return unexpected();
  copy_out_ = false;
  return part();
}

// After the frontend's CopyDone the server reports the COPY's CommandComplete.
TrackedResponse RequestTracker::answer_copy_in(char tag) noexcept {
  if (tag != backend_tag::kCommandComplete) return unexpected();
  copy_in_ = false;
  frontend_in_copy_ = false;
  return current_ == RequestKind::execute ? complete() : part();
}

TrackedResponse RequestTracker::answer_error() noexcept {
  // An error ends any COPY; CopyData the frontend still sends is ignored.
  copy_in_ = false;
  copy_out_ = false;
  frontend_in_copy_ = false;
  switch (current_) {
    case RequestKind::query:
    case RequestKind::sync:
    case RequestKind::function_call:
      return part();  // ReadyForQuery follows
    default: {
      auto response = complete();
      skip_until_sync();
      return response;
    }
  }
}

void RequestTracker::skip_until_sync() noexcept {
  while (!queue_empty() && front() != Entry::sync) forget(pop_front());
  discarding_until_sync_ = queue_empty();
}

void RequestTracker::drop_stray_copy_ends() noexcept {
  while (!queue_empty() && front() == Entry::copy_end) pop_front();
}

TrackedResponse RequestTracker::part() const noexcept { return TrackedResponse{.request = current_}; }

TrackedResponse RequestTracker::complete() noexcept {
  const TrackedResponse response{.request = current_, .completes = true};
  if (answered_by_ready_for_query(current_)) --pending_syncs_;
  current_ = RequestKind::none;
  drop_stray_copy_ends();
  return response;
}

TrackedResponse RequestTracker::unexpected() noexcept {
  violate(Violation::backend);
  return TrackedResponse{.unexpected = true};
}

bool RequestTracker::idle() const noexcept {
  return current_ == RequestKind::none && queue_empty() && !batch_open_ && !discarding_until_sync_;
}

}  // namespace pgdual::protocol
