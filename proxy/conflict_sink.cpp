#include "proxy/conflict_sink.h"

#include <exception>
#include <utility>

#include "conflict/compare.h"
#include "conflict/log_inbox.h"
#include "conflict/log_reader.h"
#include "conflict/time_text.h"

namespace pgdual::proxy {
namespace {

/// The ids of the conflicts `log` holds open, read once at the start; none, with a warning, when
/// it cannot be read.
std::unordered_set<std::string> open_conflict_ids(const std::filesystem::path& log, spdlog::logger& logger) {
  std::unordered_set<std::string> open;
  const auto take = [&open](const conflict::ConflictRecord& record) -> std::string {
    if (record.resolution == conflict::Resolution::open) {
      open.insert(record.id);
    } else {
      open.erase(record.id);
    }
    return {};
  };
  auto files = conflict::log_files(log);
  if (!files) {
    logger.warn("conflict log: cannot count its open conflicts: {}", files.error());
    return open;
  }
  if (auto reading = conflict::read_log(*files, log, take); !reading) {
    logger.warn("conflict log: cannot count its open conflicts: {}", reading.error());
  }
  return open;
}

}  // namespace

ConflictSink::ConflictSink(conflict::ConflictLog log, std::chrono::milliseconds group_commit,
                           std::shared_ptr<spdlog::logger> logger, std::chrono::milliseconds inbox_interval)
    : log_{std::move(log)},
      group_commit_{group_commit},
      inbox_interval_{inbox_interval},
      logger_{std::move(logger)},
      open_ids_{open_conflict_ids(log_.path(), *logger_)},
      writer_{[this] { write_until_stopped(); }} {}

ConflictSink::~ConflictSink() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  wake_writer_.notify_one();
  writer_.join();
}

void ConflictSink::submit(conflict::ConflictRecord record) noexcept {
  const auto kind = record.kind;
  try {
    if (record.time.empty()) record.time = conflict::rfc3339_utc(std::chrono::system_clock::now());
    std::lock_guard lock{mutex_};
    if (record.id.empty()) record.id = ids_.next();
    remember(record);
    queue_.push_back(std::move(record));
    ++submitted_;
  } catch (const std::exception& error) {
    failed_.fetch_add(1);
    logger_->error("conflict sink dropped a conflict of kind {}: {}", conflict::to_string(kind), error.what());
    return;
  }
  wake_writer_.notify_one();
}

void ConflictSink::remember(const conflict::ConflictRecord& record) {
  if (record.kind == conflict::ConflictKind::cutover) return;  // an audit record: no conflict to count or list
  if (record.resolution == conflict::Resolution::open) {
    open_ids_.insert(record.id);
  } else {
    open_ids_.erase(record.id);
  }
  ++counts_[record.kind];
  if (recent_.size() == kRecentConflicts) recent_.pop_front();
  recent_.push_back({.time = record.time, .id = record.id, .kind = record.kind, .tables = record.tables,
                     .statement_fingerprint = record.statement_fingerprint, .database = record.session.database});
}

std::vector<ConflictSink::RecentConflict> ConflictSink::recent() const {
  std::lock_guard lock{mutex_};
  return {recent_.begin(), recent_.end()};
}

std::map<conflict::ConflictKind, std::uint64_t> ConflictSink::counts_by_kind() const {
  std::lock_guard lock{mutex_};
  return counts_;
}

void ConflictSink::wait_durable() {
  std::unique_lock lock{mutex_};
  const auto target = submitted_;
  if (settled_ >= target) return;
  flush_requested_ = true;
  wake_writer_.notify_one();
  settled_changed_.wait(lock, [&] { return settled_ >= target; });
}

std::size_t ConflictSink::open_conflicts() const {
  std::lock_guard lock{mutex_};
  return open_ids_.size();
}

std::uint64_t ConflictSink::written() const noexcept { return written_.load(); }

std::uint64_t ConflictSink::failed() const noexcept { return failed_.load(); }

std::uint64_t ConflictSink::resolutions_appended() const noexcept { return resolutions_appended_.load(); }

void ConflictSink::write_until_stopped() {
  Batch batch;
  std::uint64_t taken = 0;      // records taken off the queue since the start
  std::uint64_t unflushed = 0;  // appended since the last flush
  Clock::time_point flush_due{};
  auto inbox_due = Clock::now();
  const auto has_work = [this] { return !queue_.empty() || flush_requested_ || stopping_; };

  std::unique_lock lock{mutex_};
  for (;;) {
    if (unflushed == 0 && Clock::now() >= inbox_due) {
      lock.unlock();
      drain_inbox();
      inbox_due = Clock::now() + inbox_interval_;
      lock.lock();
    }
    wake_writer_.wait_until(lock, unflushed > 0 ? flush_due : inbox_due, has_work);
    batch.clear();
    std::swap(batch, queue_);  // keeps both buffers' capacity: no allocation once warmed up
    const bool flush_now = std::exchange(flush_requested_, false) || stopping_;
    lock.unlock();

    if (unflushed == 0) flush_due = Clock::now() + group_commit_;
    for (const auto& record : batch) unflushed += append(record) ? 1 : 0;
    taken += batch.size();
    if (unflushed > 0 && (flush_now || Clock::now() >= flush_due)) {
      flush(unflushed);
      unflushed = 0;
    }

    lock.lock();
    if (unflushed == 0) {
      settled_ = taken;
      settled_changed_.notify_all();
    }
    if (stopping_ && queue_.empty() && unflushed == 0) return;
  }
}

bool ConflictSink::append(const conflict::ConflictRecord& record) {
  try {
    auto appended = log_.append(record);
    if (appended) return true;
    logger_->error("conflict log: cannot append conflict id={} kind={}: {}", record.id,
                   conflict::to_string(record.kind), appended.error().message);
  } catch (const std::exception& error) {
    logger_->error("conflict log: cannot append conflict id={} kind={}: {}", record.id,
                   conflict::to_string(record.kind), error.what());
  }
  failed_.fetch_add(1);
  return false;
}

void ConflictSink::drain_inbox() {
  std::string failure;
  try {
    auto drained = conflict::drain_inbox(log_);
    if (drained) {
      for (const auto& rejected : drained->rejected) logger_->error("conflict log inbox: rejected {}", rejected);
      if (drained->records > 0) {
        forget_resolved(drained->resolved);
        resolutions_appended_.fetch_add(drained->records);
        logger_->info("conflict log: appended {} resolutions from the inbox", drained->records);
      }
    } else {
      failure = drained.error().message;
    }
  } catch (const std::exception& error) {
    failure = error.what();
  }
  if (!failure.empty() && failure != last_inbox_failure_) logger_->error("{}", failure);
  last_inbox_failure_ = std::move(failure);
}

void ConflictSink::flush(std::uint64_t unflushed) {
  try {
    auto flushed = log_.flush();
    if (flushed) {
      written_.fetch_add(unflushed);
      return;
    }
    logger_->error("conflict log: flush failed, {} conflicts may be lost: {}", unflushed, flushed.error().message);
  } catch (const std::exception& error) {
    logger_->error("conflict log: flush failed, {} conflicts may be lost: {}", unflushed, error.what());
  }
  failed_.fetch_add(unflushed);
}

void ConflictSink::forget_resolved(const std::vector<std::string>& resolved) {
  std::lock_guard lock{mutex_};
  for (const auto& id : resolved) open_ids_.erase(id);
}

}  // namespace pgdual::proxy
