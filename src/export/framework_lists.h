// The framework setting lists of src/export/names/*.txt, compiled in (embed.cmake writes the
// arrays), and lookups over them.
#ifndef SPSIM_EXPORT_FRAMEWORK_LISTS_H_
#define SPSIM_EXPORT_FRAMEWORK_LISTS_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace spsim::detail {

/// One list file: its stem ("megatron-lm") and its lines, comments included.
struct FrameworkList {
  const char* name;
  const char* const* lines;
  size_t size;
};
const std::vector<FrameworkList>& framework_lists();  // generated

/// How a name takes values: flag (none), value (one), list (one or more), optional (0 or 1).
enum class NameKind { kFlag, kValue, kList, kOptional };

/// A name of a list with its kind and the values it accepts (empty: any).
struct ListedName {
  std::string name;
  NameKind kind = NameKind::kValue;
  std::vector<std::string> choices;
};

/// The entry of `name` in list `list`, or nullptr. InputError-free: a missing list is a bug.
const ListedName* find_listed(std::string_view list, std::string_view name);
/// Every name of a list, in file order.
const std::vector<ListedName>& listed_names(std::string_view list);

}  // namespace spsim::detail

#endif  // SPSIM_EXPORT_FRAMEWORK_LISTS_H_
