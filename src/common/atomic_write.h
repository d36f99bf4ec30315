// Atomic file output: every file spsim writes (results, traces) goes through a temporary file and
// a rename, so an error never leaves partial output. Below the engines, which write traces.
#ifndef SPSIM_COMMON_ATOMIC_WRITE_H_
#define SPSIM_COMMON_ATOMIC_WRITE_H_

#include <string>

namespace spsim {

/// Writes `content` to `path` through a temporary file in the same folder and a rename. A symlink
/// is written through to its target; see check_output_path for what is refused.
void write_file_atomically(const std::string& path, const std::string& content);

/// The file write_file_atomically(path) would replace (a symlink resolved to its target), or an
/// InputError when it cannot: an empty path, a folder, a FIFO, device or socket, or a missing
/// folder. Commands call it before their work, so a bad -o fails at once.
std::string check_output_path(const std::string& path);

/// Removes "PATH.tmp.PID" files whose process no longer runs (left by kill -9 during a write).
void remove_stray_temporaries(const std::string& path);

}  // namespace spsim

#endif  // SPSIM_COMMON_ATOMIC_WRITE_H_
