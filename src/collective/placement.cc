// Where a communication group lands on nodes.
#include <algorithm>

#include <fmt/format.h>

#include "spsim/collective.h"
#include "spsim/error.h"

namespace spsim {

GroupPlacement place_group(const CommGroup& group, int64_t gpus_per_node) {
  if (group.size < 1 || group.stride < 1 || gpus_per_node < 1) {
    throw Error(fmt::format("place_group: group \"{}\" size {} stride {} on {} GPUs per node", group.name,
                            group.size, group.stride, gpus_per_node));
  }
  // Members are base + j * stride. With stride >= G every member is on its own node. Otherwise
  // G / stride consecutive members share a node (strides are products of the inner degrees, so
  // they divide G whenever they are below it in practice; the floor is exact then).
  GroupPlacement placement;
  placement.size = group.size;
  placement.ranks_per_node =
      group.stride >= gpus_per_node ? 1 : std::min(group.size, gpus_per_node / group.stride);
  placement.nodes = (group.size + placement.ranks_per_node - 1) / placement.ranks_per_node;
  return placement;
}

}  // namespace spsim
