// main() for the fuzz targets where libFuzzer is not available (g++, the release and asan
// presets): replays every file under the given folders through LLVMFuzzerTestOneInput, each file
// whole and cut at a quarter, a half and three quarters of its length (truncated inputs are the
// commonest real-world damage). Under the asan preset this runs the loaders on the seed corpus with
// AddressSanitizer and UndefinedBehaviorSanitizer; a finding aborts the process and fails ctest.
// It is a regression check on known inputs, not a fuzzer: the search for new inputs needs clang
// (cmake --preset fuzz, fuzz/README.md).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

// Regular files under `root` (or `root` itself), sorted so that every run replays the same order.
std::vector<fs::path> inputs_under(const fs::path& root) {
  std::vector<fs::path> files;
  if (fs::is_regular_file(root)) {
    files.push_back(root);
  } else {
    for (const auto& entry : fs::recursive_directory_iterator(root)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void replay(const std::string& bytes) {
  // A copy of exactly `size` bytes, so that AddressSanitizer sees a read past the end.
  const std::vector<uint8_t> copy(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(copy.data(), copy.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_FOLDER...  (replays each input through the fuzz target)\n", argv[0]);
    return 2;
  }
  size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]).rfind('-', 0) == 0) continue;  // libFuzzer flags, as in its command lines
    for (const fs::path& file : inputs_under(argv[i])) {
      const std::string bytes = read_bytes(file);
      replay(bytes);
      for (const size_t cut : {bytes.size() / 4, bytes.size() / 2, 3 * bytes.size() / 4}) {
        replay(bytes.substr(0, cut));
      }
      replayed += 4;
    }
  }
  std::printf("replayed %zu inputs\n", replayed);
  return replayed == 0 ? 1 : 0;
}
