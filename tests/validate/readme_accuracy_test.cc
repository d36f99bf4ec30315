// README's "How accurate is spsim" quotes `spsim validate --summary`: every quoted line must be
// what the command prints today, so a model change that moves the numbers also updates the README.
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace spsim {
namespace {

std::vector<std::string> quoted_summary(const std::string& readme) {
  const std::string start = "$ spsim validate --summary\n";
  const size_t at = readme.find(start);
  if (at == std::string::npos) return {};
  const size_t end = readme.find("```", at);
  std::istringstream block(readme.substr(at + start.size(), end - at - start.size()));
  std::vector<std::string> lines;
  for (std::string line; std::getline(block, line);) {
    if (line != "...") lines.push_back(line);
  }
  return lines;
}

TEST(ReadmeAccuracy, QuotesWhatValidatePrintsToday) {
  const std::string readme = test::read_text(std::string(SPSIM_TEST_DATA_DIR) + "/../../README.md");
  const std::vector<std::string> quoted = quoted_summary(readme);
  ASSERT_GE(quoted.size(), 5u) << "README.md has no `$ spsim validate --summary` block";
  const auto r = test::run_spsim("validate --summary");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& line : quoted) {
    EXPECT_NE(r.out.find(line + "\n"), std::string::npos)
        << "README.md quotes a line `spsim validate --summary` no longer prints (regenerate the "
           "section from its output):\n"
        << line;
  }
}

}  // namespace
}  // namespace spsim
