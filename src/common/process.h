// Child processes: forked helpers (the DES simulation, sweep workers) must not outlive the process
// that started them (after a kill -9 of spsim they kept burning a core and gigabytes as
// orphans), and their output comes back through pipes.
#ifndef SPSIM_COMMON_PROCESS_H_
#define SPSIM_COMMON_PROCESS_H_

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace spsim::detail {

/// Call first thing in a forked child, with the parent's PID taken before fork(): the child gets
/// SIGKILL when the parent dies, and exits at once if the parent died before this call.
inline void die_with_parent(pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(4);
}

/// Everything a child writes to `fd` (a pipe's read end), until it closes it.
inline std::string read_until_eof(int fd) {
  std::string data;
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buffer, static_cast<size_t>(n));
  }
  return data;
}

}  // namespace spsim::detail

#endif  // SPSIM_COMMON_PROCESS_H_
