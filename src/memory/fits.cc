#include "spsim/memory.h"
#include "spsim/topology.h"

namespace spsim {

bool fits(const MemoryEstimate& memory, const Topology& topology) {
  return memory.peak() <= topology.gpu.hbm_bytes &&
         (memory.host <= 0 || memory.host <= topology.host.memory_bytes_per_gpu);
}

}  // namespace spsim
