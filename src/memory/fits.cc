#include "spsim/memory.h"
#include "spsim/error.h"

#include <fmt/format.h>
#include "spsim/topology.h"

namespace spsim {

bool fits(const MemoryEstimate& memory, const Topology& topology) {
  return memory.peak() <= topology.gpu.hbm_bytes && host_over_bytes(memory, topology) <= 0;
}

double host_over_bytes(const MemoryEstimate& memory, const Topology& topology) {
  if (memory.host <= 0) return -1.0;
  return memory.host - topology.host.memory_bytes_per_rank();
}

std::string binding_memory_term(const MemoryEstimate& memory, const Topology& topology) {
  if (memory.peak() <= topology.gpu.hbm_bytes && host_over_bytes(memory, topology) > 0) return "host";
  return memory.largest_term();
}

void check_host_for_offload(bool offloads, const Topology& topology) {
  if (!offloads || topology.host.present()) return;
  throw_no_host_block(topology.name);
}

std::string host_overflow_text(const MemoryEstimate& memory, const Topology& topology) {
  if (host_over_bytes(memory, topology) <= 0) return "";
  constexpr double kGiB = 1024.0 * 1024 * 1024;
  return fmt::format("offloads {:.1f} GiB per GPU to host memory, its share of the host holds {:.1f} GiB",
                     memory.host / kGiB, topology.host.memory_bytes_per_rank() / kGiB);
}

}  // namespace spsim
