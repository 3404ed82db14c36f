#include "proxy/route/outcome_tap.h"

#include "protocol/error_response.h"
#include "protocol/message_tags.h"
#include "protocol/sqlstate.h"

namespace pgdual::proxy {

namespace tags = protocol::backend_tag;

bool OutcomeTap::gathered(char tag) const noexcept {
  if (tag == tags::kReadyForQuery || tag == tags::kErrorResponse) return true;
  return recording_ && tag == tags::kCommandComplete;
}

bool OutcomeTap::on_header(const protocol::FrameHeader& header) {
  tag_ = header.tag;
  remaining_ = header.body_length;
  first_part_ = true;
  body_.clear();
  if (remaining_ > 0) return false;
  complete();
  return true;
}

bool OutcomeTap::on_body(protocol::Bytes part) {
  remaining_ -= part.size();
  if (tag_ == tags::kDataRow && recording_) {
    builder_.add_row_part(part, first_part_);
    first_part_ = false;
  } else if (gathered(tag_)) {
    body_.insert(body_.end(), part.begin(), part.end());
  }
  if (remaining_ > 0) return false;
  complete();
  return true;
}

// A malformed body is the relay's business (the client sees it as it is);
// the outcome then just lacks that message.
void OutcomeTap::complete() {
  if (tag_ == tags::kReadyForQuery) {
    if (auto ready = protocol::decode_ready_for_query(body_)) status_ = ready->status;
  } else if (tag_ == tags::kErrorResponse && error_sqlstate_.empty()) {
    const auto error = protocol::decode_error_response(body_);
    error_sqlstate_ = error ? std::string{error->sqlstate()} : protocol::sqlstate::kInternalError;
  }
  if (recording_ && tag_ != tags::kDataRow) static_cast<void>(builder_.add(tag_, body_));
}

}  // namespace pgdual::proxy
