// Atomic file output: every file spsim writes (results, traces) goes through a temporary file and
// a rename, so an error never leaves partial output. Below the engines, which write traces.
#ifndef SPSIM_COMMON_ATOMIC_WRITE_H_
#define SPSIM_COMMON_ATOMIC_WRITE_H_

#include <string>

namespace spsim {

/// Writes `content` to `path` through a temporary file in the same folder and a rename.
void write_file_atomically(const std::string& path, const std::string& content);

}  // namespace spsim

#endif  // SPSIM_COMMON_ATOMIC_WRITE_H_
