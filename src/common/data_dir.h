// Where the shipped models/, topologies/ and experiments/ live.
#ifndef SPSIM_COMMON_DATA_DIR_H_
#define SPSIM_COMMON_DATA_DIR_H_

#include <string>
#include <vector>

namespace spsim::detail {

/// The folder holding models/, topologies/, experiments/: $SPSIM_DATA_DIR if set, else
/// <exe>/../share/spsim when installed, else the source tree spsim was built from.
std::string data_dir();

/// Resolves `path_or_name`: an existing path is returned as is; otherwise
/// <data_dir>/<folder>/<name>.json. Throws InputError(flag) listing `available` if neither exists.
std::string resolve_data_file(const std::string& path_or_name, const std::string& folder,
                              const std::string& flag);

/// Stems of <data_dir>/<folder>/*.json, sorted.
std::vector<std::string> list_data_files(const std::string& folder);

}  // namespace spsim::detail

#endif  // SPSIM_COMMON_DATA_DIR_H_
