#include "common/json_reader.h"
#include "spsim/error.h"
#include "spsim/units.h"
#include "test_util.h"

namespace spsim {
namespace {

TEST(ClosestMatch, SuggestsNearbyKey) {
  EXPECT_EQ(closest_match("hidden_sise", {"hidden_size", "num_layers"}), "hidden_size");
  EXPECT_EQ(closest_match("zzzzzzzz", {"hidden_size", "num_layers"}), "");
}

TEST(ParseCount, BinarySuffixesAsNcclTests) {
  EXPECT_EQ(parse_count("131072", "--seq"), 131072);
  EXPECT_EQ(parse_count("128K", "--seq"), 131072);
  EXPECT_EQ(parse_count("1M", "--seq"), 1048576);
  EXPECT_EQ(parse_count("2G", "--seq"), int64_t{2} << 30);
  EXPECT_EQ(format_count(131072), "128K");
  EXPECT_EQ(format_count(1000), "1000");
}

TEST(ParseCount, RejectsBadValues) {
  EXPECT_THROW_MSG(parse_count("0", "--seq"), InputError, "must be positive");
  EXPECT_THROW_MSG(parse_count("-5", "--seq"), InputError, "is not a count");
  EXPECT_THROW_MSG(parse_count("12Q", "--seq"), InputError, "unknown suffix");
  EXPECT_THROW_MSG(parse_count("99999999999999", "--seq"), InputError, "too large");
  EXPECT_THROW_MSG(parse_count("2048G", "--seq"), InputError, "too large");
}

TEST(ObjectReader, NamesFieldAndSuggestsFix) {
  const auto json = nlohmann::json::parse(R"({"hidden_sise": 4096, "layers": -1, "x": "a"})");
  detail::ObjectReader in(json, "m.json");
  EXPECT_THROW_MSG(in.integer("layers"), InputError, "/layers: must be between 1 and");
  EXPECT_THROW_MSG(in.integer("x"), InputError, "/x: expected an integer, got \"a\" (string)");
  EXPECT_THROW_MSG(in.integer("hidden_size"), InputError, "/hidden_size: missing required field");
  try {
    in.finish();
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), "m.json");
    EXPECT_STREQ(e.what(), "/hidden_sise: unknown key \"hidden_sise\"; did you mean \"hidden_size\"?");
  }
}

TEST(ParseJson, SyntaxErrorHasLineAndColumn) {
  EXPECT_THROW_MSG(detail::parse_json("{\n  \"a\": 1,\n}", "x.json"), InputError, "line 3, column 1");
}

// A number literal past a double's range was an uncaught nlohmann out_of_range: "internal error",
// exit 3 (found by fuzz_model; inputs fuzz/corpus/regressions/).
TEST(ParseJson, NumberOverflowIsAnInputError) {
  for (const char* text : {R"({"hidden_size": 1e131072})", R"({"a": [5E4288]})", R"({"x": -111e308})"}) {
    SCOPED_TRACE(text);
    EXPECT_THROW_MSG(detail::parse_json(text, "m.json"), InputError, "numbers must fit a double");
  }
}

TEST(ObjectReader, RejectsNaNAndInfinity) {
  nlohmann::json json;
  json["v"] = std::numeric_limits<double>::quiet_NaN();
  detail::ObjectReader in(json, "t.json");
  EXPECT_THROW(in.number("v"), InputError);
}

}  // namespace
}  // namespace spsim
