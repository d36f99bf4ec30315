// The resume journal: an append-only file of finished rows. Each row is one line written with one
// write() and flushed to disk before the next point starts, so a kill loses at most the row being
// computed; a half-written last line is cut off on resume.
#include <fcntl.h>
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

}  // namespace

std::string journal_line(size_t index, const SweepRow& row) {
  nlohmann::json line;
  line["i"] = index;
  line["row"] = row_to_json(row);
  return line.dump() + "\n";
}

SweepJournal::SweepJournal(std::string path, const std::string& fingerprint, bool resume)
    : path_(std::move(path)) {
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
    bool header_seen = false;
    while (start < text.size()) {
      const size_t end = text.find('\n', start);
      if (end == std::string::npos) break;  // half-written last line: dropped below
      const std::string line = text.substr(start, end - start);
      nlohmann::json json;
      try {
        json = nlohmann::json::parse(line);
      } catch (const nlohmann::json::exception&) {
        throw InputError(path_, fmt::format("line {} of the sweep journal is not JSON; delete the "
                                            "file to start over", header_seen ? done_.size() + 2 : 1));
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
        if (!json.is_object() || !json.contains("i") || !json.contains("row") ||
            !json.at("i").is_number_unsigned()) {
          throw InputError(path_, "malformed row in the sweep journal; delete the file to start over");
        }
        // A row is never duplicated: the first copy of an index wins.
        done_.emplace(json.at("i").get<size_t>(), row_from_json(json.at("row")));
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
}

}  // namespace spsim
