#include "common/atomic_write.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "spsim/error.h"

namespace spsim {

namespace {

namespace fs = std::filesystem;

// "PATH.tmp.PID" -> PID, or 0 when the name is not a temporary of `base`.
pid_t temporary_owner(const std::string& name, const std::string& base) {
  const std::string prefix = base + ".tmp.";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return 0;
  const std::string digits = name.substr(prefix.size());
  if (digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) return 0;
  return static_cast<pid_t>(std::atol(digits.c_str()));
}

}  // namespace

std::string check_output_path(const std::string& path) {
  if (path.empty()) throw InputError("--output", "an empty path; give a file name");
  if (path.back() == '/') throw InputError(path, "names a folder; give a file name");
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);  // through any symlink
  if (fs::is_directory(status)) throw InputError(path, "is a directory; give a file name");
  if (fs::exists(status) && !fs::is_regular_file(status)) {
    // A FIFO, device or socket (/dev/stdout too) cannot be replaced by a rename, and must not be:
    // as root, -o /dev/full replaced the device node with a regular file.
    throw InputError(path, "is not a regular file (a FIFO, device or socket); outputs are written to a "
                           "temporary file and renamed into place, so give a regular file path");
  }
  // A symbolic link is written through: its target is replaced and the link stays (it used to be
  // replaced by a regular file).
  fs::path target(path);
  for (int hops = 0; fs::is_symlink(fs::symlink_status(target, ec)); ++hops) {
    const fs::path link = fs::read_symlink(target, ec);
    if (ec || hops == 40 || link.filename().empty()) {
      throw InputError(path, "cannot follow the symbolic link to a file; give a file path");
    }
    target = link.is_absolute() ? link : target.parent_path() / link;
  }
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) {
    throw InputError(path, fmt::format("folder \"{}\" does not exist; create it first", dir.string()));
  }
  return target.string();
}

void remove_stray_temporaries(const std::string& path) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string base = target.filename().string();
  DIR* folder = ::opendir(dir.c_str());
  if (folder == nullptr) return;
  while (const dirent* entry = ::readdir(folder)) {
    const pid_t owner = temporary_owner(entry->d_name, base);
    // Left by a process that no longer runs (kill -9 during the write); a live owner keeps its own.
    if (owner > 0 && owner != ::getpid() && ::kill(owner, 0) != 0 && errno == ESRCH) {
      std::remove((dir / entry->d_name).c_str());
    }
  }
  ::closedir(folder);
}

void write_file_atomically(const std::string& path, const std::string& content) {
  // Write beside the target and rename: readers see the old file or the whole new one, and an
  // error (or a kill) never leaves a partial result behind.
  const std::string target = check_output_path(path);
  remove_stray_temporaries(target);
  const std::string temp = fmt::format("{}.tmp.{}", target, static_cast<long>(getpid()));
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError(path, fmt::format("cannot write ({})", std::strerror(errno)));
    out << content;
    out.flush();
    if (!out) {
      std::remove(temp.c_str());
      throw InputError(path, "write failed (disk full?)");
    }
  }
  if (std::rename(temp.c_str(), target.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temp.c_str());
    throw InputError(path, fmt::format("cannot replace file ({})", reason));
  }
}

}  // namespace spsim
