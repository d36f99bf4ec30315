// Lookups over the framework setting lists (src/export/names/*.txt, compiled in).
#include <map>
#include <sstream>

#include "export/framework_lists.h"
#include "spsim/error.h"
#include "spsim/launch.h"

namespace spsim {

namespace detail {

namespace {

struct ParsedList {
  std::string source;  // first comment line without "# "
  std::vector<ListedName> names;
  std::map<std::string, size_t, std::less<>> index;
};

const std::map<std::string, ParsedList, std::less<>>& parsed_lists() {
  static const auto lists = [] {
    std::map<std::string, ParsedList, std::less<>> out;
    for (const FrameworkList& list : framework_lists()) {
      ParsedList parsed;
      for (size_t i = 0; i < list.size; ++i) {
        const std::string line = list.lines[i];
        if (line.rfind("#", 0) == 0) {
          if (parsed.source.empty()) parsed.source = line.substr(line.find_first_not_of("# "));
          continue;
        }
        std::istringstream words(line);
        ListedName entry;
        std::string kind;
        words >> entry.name >> kind;
        if (kind == "flag") {
          entry.kind = NameKind::kFlag;
        } else if (kind == "list") {
          entry.kind = NameKind::kList;
        } else if (kind == "optional") {
          entry.kind = NameKind::kOptional;
        } else {
          entry.kind = NameKind::kValue;  // "value", or deepspeed.txt's FILE:LINE
        }
        if (kind == "flag" || kind == "value" || kind == "list" || kind == "optional") {
          for (std::string choice; words >> choice;) entry.choices.push_back(choice);
        }
        parsed.index[entry.name] = parsed.names.size();
        parsed.names.push_back(std::move(entry));
      }
      out[list.name] = std::move(parsed);
    }
    return out;
  }();
  return lists;
}

const ParsedList& parsed(std::string_view list) {
  const auto& lists = parsed_lists();
  const auto it = lists.find(list);
  if (it == lists.end()) throw Error("no framework list " + std::string(list));
  return it->second;
}

}  // namespace

const ListedName* find_listed(std::string_view list, std::string_view name) {
  const ParsedList& p = parsed(list);
  const auto it = p.index.find(name);
  return it == p.index.end() ? nullptr : &p.names[it->second];
}

const std::vector<ListedName>& listed_names(std::string_view list) { return parsed(list).names; }

}  // namespace detail

bool framework_accepts(std::string_view list, std::string_view name) {
  return detail::find_listed(list, name) != nullptr;
}

std::string framework_list_source(std::string_view list) { return detail::parsed(list).source; }

}  // namespace spsim
