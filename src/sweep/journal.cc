// The resume journal: an append-only file of finished rows. Each row is one line written with one
// write() and flushed to disk before the next point starts, so a kill loses at most the row being
// computed; a half-written last line is cut off on resume.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>

#include <fmt/format.h>

#include "common/json_reader.h"
#include "spsim/error.h"
#include "spsim/sweep.h"

namespace spsim {

namespace {

constexpr const char* kJournalKey = "spsim_sweep_journal";

void write_all(int fd, const std::string& text, const std::string& path) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw InputError(path, fmt::format("cannot write the sweep journal ({})", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
}

std::string header_line(const std::string& fingerprint) {
  nlohmann::json header;
  header[kJournalKey] = 1;
  header["fingerprint"] = fingerprint;
  return header.dump() + "\n";
}

// "PREFIX.partial" -> "PREFIX.lock".
std::string lock_path_of(const std::string& journal) {
  const std::string suffix = ".partial";
  const bool has_suffix = journal.size() > suffix.size() &&
                          journal.compare(journal.size() - suffix.size(), suffix.size(), suffix) == 0;
  return (has_suffix ? journal.substr(0, journal.size() - suffix.size()) : journal) + ".lock";
}

// Takes the prefix's lock (D16: a second sweep on a running prefix was told to --resume, and
// following that advice made two unlocked writers). Returns the locked descriptor.
int lock_prefix(const std::string& lock_path, const std::string& journal) {
  for (int attempt = 0;; ++attempt) {
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      throw InputError(journal, fmt::format("cannot open the sweep lock {} ({}); check the folder exists and "
                                            "is writable", lock_path, std::strerror(errno)));
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      char pid[32] = {};
      const ssize_t n = ::pread(fd, pid, sizeof pid - 1, 0);
      ::close(fd);
      if (error != EWOULDBLOCK) {
        throw InputError(journal, fmt::format("cannot lock {} ({})", lock_path, std::strerror(error)));
      }
      std::string owner = n > 0 ? std::string(pid, static_cast<size_t>(n)) : "";
      while (!owner.empty() && (owner.back() == '\n' || owner.back() == ' ')) owner.pop_back();
      throw InputError(journal, fmt::format("another spsim sweep ({}) is writing this prefix; wait for it to "
                                            "finish or stop it, then rerun (with --resume if it was stopped)",
                                            owner.empty() ? "pid unknown" : "pid " + owner));
    }
    // A sweep that just finished unlinks its lock file after we opened it: lock the new one.
    struct stat held {}, named {};
    if (::fstat(fd, &held) == 0 && ::stat(lock_path.c_str(), &named) == 0 && held.st_ino == named.st_ino &&
        held.st_dev == named.st_dev) {
      const std::string pid = std::to_string(::getpid()) + "\n";
      if (::ftruncate(fd, 0) == 0) write_all(fd, pid, lock_path);
      return fd;
    }
    ::close(fd);
    if (attempt == 100) throw InputError(journal, fmt::format("cannot lock {}: it keeps being replaced", lock_path));
  }
}

}  // namespace

std::string journal_line(size_t index, const SweepRow& row) {
  nlohmann::json line;
  line["i"] = index;
  line["row"] = row_to_json(row);
  return line.dump() + "\n";
}

SweepJournal::SweepJournal(std::string path, const std::string& fingerprint, bool resume, size_t points)
    : path_(std::move(path)), lock_path_(lock_path_of(path_)) {
  lock_fd_ = lock_prefix(lock_path_, path_);
  try {
    open_journal(fingerprint, resume, points);
  } catch (...) {
    release_lock();
    throw;
  }
}

void SweepJournal::release_lock() {
  if (lock_fd_ < 0) return;
  // Unlinked while still held, so no other sweep can lock the old file after we let go of it.
  ::unlink(lock_path_.c_str());
  ::close(lock_fd_);
  lock_fd_ = -1;
}

void SweepJournal::open_journal(const std::string& fingerprint, bool resume, size_t points) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const bool exists = fs::exists(path_, ec);
  if (exists && !resume) {
    throw InputError(path_, "an interrupted sweep left this journal; add --resume to continue it, "
                            "or delete the file to start over");
  }
  off_t keep = 0;  // bytes of complete lines to keep
  if (exists) {
    // A journal holds up to kMaxSweepPoints rows of ~2 KB: past the input-file limit, by design.
    const std::string text = detail::read_file(path_, std::numeric_limits<int64_t>::max());
    size_t start = 0;
    size_t line_number = 0;
    bool header_seen = false;
    while (start < text.size()) {
      const size_t end = text.find('\n', start);
      if (end == std::string::npos) break;  // half-written last line: dropped below
      const std::string line = text.substr(start, end - start);
      ++line_number;
      nlohmann::json json;
      try {
        json = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception&) {
        throw InputError(path_, fmt::format("line {} of the sweep journal is not JSON; delete the "
                                            "file to start over", line_number));
      }
      if (!header_seen) {
        if (!json.is_object() || !json.contains(kJournalKey) || !json.contains("fingerprint")) {
          throw InputError(path_, "not a spsim sweep journal; delete or move it");
        }
        if (json.at("fingerprint") != fingerprint) {
          throw InputError(path_, "this journal belongs to a sweep with different inputs; rerun that "
                                  "sweep's command with --resume, or delete the file to start over");
        }
        header_seen = true;
      } else {
        // D10/D17: an index past the plan became an extra output row, and a row of the wrong
        // shape an exit 3 with nlohmann's raw message.
        const std::string malformed =
            fmt::format("line {} of the sweep journal is malformed", line_number);
        if (!json.is_object() || !json.contains("i") || !json.contains("row") ||
            !json.at("i").is_number_unsigned() || !json.at("row").is_object()) {
          throw InputError(path_, malformed + "; delete the file to start over");
        }
        const size_t index = json.at("i").get<size_t>();
        if (index >= points) {
          throw InputError(path_, fmt::format("{}: point {} of a sweep of {}; delete the file to start over",
                                              malformed, index, points));
        }
        SweepRow row;
        try {
          row = row_from_json(json.at("row"));
        } catch (const nlohmann::json::exception& e) {
          throw InputError(path_, fmt::format("{} ({}); delete the file to start over", malformed,
                                              detail::strip_exception_prefix(e.what())));
        }
        // A row is never duplicated: the first copy of an index wins.
        done_.emplace(index, std::move(row));
      }
      start = end + 1;
      keep = static_cast<off_t>(start);
    }
    if (!header_seen) keep = 0;  // killed before the header was complete: start afresh
  }
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw InputError(path_, fmt::format("cannot open the sweep journal ({}); check the folder "
                                        "exists and is writable", std::strerror(errno)));
  }
  if (::ftruncate(fd_, keep) != 0 || ::lseek(fd_, keep, SEEK_SET) < 0) {
    throw InputError(path_, fmt::format("cannot truncate the sweep journal ({})", std::strerror(errno)));
  }
  if (keep == 0) {
    done_.clear();
    write_all(fd_, header_line(fingerprint), path_);
    ::fdatasync(fd_);
  }
}

SweepJournal::~SweepJournal() {
  if (fd_ >= 0) ::close(fd_);
  release_lock();
}

void SweepJournal::append(size_t index, const SweepRow& row) { append_line(journal_line(index, row)); }

void SweepJournal::append_line(const std::string& line) {
  write_all(fd_, line, path_);
  ::fdatasync(fd_);  // the row is on disk before the next one starts
}

void SweepJournal::remove() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  std::error_code ec;
  std::filesystem::remove(path_, ec);
  release_lock();
}

}  // namespace spsim
