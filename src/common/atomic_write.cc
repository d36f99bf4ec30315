#include "common/atomic_write.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "spsim/error.h"

namespace spsim {

void write_file_atomically(const std::string& path, const std::string& content) {
  // Write beside the target and rename: readers see the old file or the whole new one, and an
  // error (or a kill) never leaves a partial result behind.
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw InputError(path, fmt::format("folder \"{}\" does not exist; create it first", dir.string()));
  }
  const std::string temp = fmt::format("{}.tmp.{}", path, static_cast<long>(getpid()));
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
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(temp.c_str());
    throw InputError(path, fmt::format("cannot replace file ({})", reason));
  }
}

}  // namespace spsim
