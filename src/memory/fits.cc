#include "spsim/memory.h"
#include "spsim/topology.h"

namespace spsim {

bool fits(const MemoryEstimate& memory, const GpuSpec& gpu) { return memory.peak() <= gpu.hbm_bytes; }

}  // namespace spsim
