// Forked helpers (the DES simulation, sweep workers) must not outlive the process that started
// them: after a kill -9 of spsim they would keep burning a core and gigabytes as orphans.
#ifndef SPSIM_COMMON_PROCESS_H_
#define SPSIM_COMMON_PROCESS_H_

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace spsim::detail {

/// Call first thing in a forked child, with the parent's PID taken before fork(): the child gets
/// SIGKILL when the parent dies, and exits at once if the parent died before this call.
inline void die_with_parent(pid_t parent) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(4);
}

}  // namespace spsim::detail

#endif  // SPSIM_COMMON_PROCESS_H_
