#include "common/data_dir.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include <fmt/format.h>

#include "spsim/error.h"

namespace spsim::detail {

namespace fs = std::filesystem;

std::string data_dir() {
  std::error_code ec;
  if (const char* env = std::getenv("SPSIM_DATA_DIR"); env != nullptr && *env != '\0') {
    if (!fs::is_directory(env, ec)) {
      throw InputError("SPSIM_DATA_DIR", fmt::format("\"{}\" is not a folder; point it at the folder "
                                                     "holding models/ and topologies/, or unset it", env));
    }
    return env;
  }
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "share" / "spsim";
    if (fs::is_directory(installed / "models", ec)) return installed.string();
  }
  return SPSIM_SOURCE_DATA_DIR;
}

std::vector<std::string> list_data_files(const std::string& folder) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(fs::path(data_dir()) / folder, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".json") {
      names.push_back(entry.path().stem().string());
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string resolve_data_file(const std::string& path_or_name, const std::string& folder,
                              const std::string& flag) {
  std::error_code ec;
  const fs::file_status status = fs::status(path_or_name, ec);
  if (fs::is_regular_file(status)) return path_or_name;
  if (fs::exists(status)) {
    throw InputError(flag, fmt::format("\"{}\" is {}, not a file; give the path of a .json file or a "
                                       "shipped name (see `spsim list {}`)", path_or_name,
                                       fs::is_directory(status) ? "a directory" : "a FIFO, device or socket",
                                       folder));
  }
  const fs::path shipped = fs::path(data_dir()) / folder / (path_or_name + ".json");
  if (fs::is_regular_file(shipped, ec)) return shipped.string();
  const auto names = list_data_files(folder);
  const std::string suggestion = closest_match(path_or_name, names);
  std::string message = fmt::format("no file \"{}\" and no shipped {} of that name", path_or_name,
                                    folder == "models" ? "model" : folder == "topologies" ? "topology" : folder);
  if (!suggestion.empty()) message += fmt::format("; did you mean \"{}\"?", suggestion);
  message += fmt::format(" (see `spsim list {}`)", folder);
  throw InputError(flag, message);
}

}  // namespace spsim::detail
