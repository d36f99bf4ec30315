// Range syntax (conventions.md §4.3): nccl-tests binary suffixes, lists, products, and errors.
#include <gtest/gtest.h>

#include "spsim/sweep.h"
#include "test_util.h"

namespace spsim {
namespace {

using V = std::vector<int64_t>;

TEST(RangeTest, GeometricWithBinarySuffixes) {
  // 8K = 8192, doubling up to 1M = 1048576: 8K 16K 32K 64K 128K 256K 512K 1M = 8 values.
  EXPECT_EQ(parse_range("8K:1M:x2", "--seq"),
            (V{8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576}));
  EXPECT_EQ(parse_range("8:64:x4", "--gpus"), (V{8, 32}));  // 128 would pass the end
  EXPECT_EQ(parse_range("1G", "--seq"), (V{int64_t{1} << 30}));
}

TEST(RangeTest, RangeWithoutStepDoubles) { EXPECT_EQ(parse_range("8:64", "--gpus"), (V{8, 16, 32, 64})); }

TEST(RangeTest, ArithmeticStep) {
  EXPECT_EQ(parse_range("8K:32K:+8K", "--seq"), (V{8192, 16384, 24576, 32768}));
  EXPECT_EQ(parse_range("8K:20K:8K", "--seq"), (V{8192, 16384}));  // end not hit: not included
}

TEST(RangeTest, ListsAndRangesAreSortedAndDeduplicated) {
  EXPECT_EQ(parse_range("8,16,64:512:x2", "--gpus"), (V{8, 16, 64, 128, 256, 512}));
  EXPECT_EQ(parse_range("64, 8,16,8", "--gpus"), (V{8, 16, 64}));
  EXPECT_EQ(parse_range("8:32:x2,16", "--gpus"), (V{8, 16, 32}));
}

TEST(RangeTest, ErrorsNameTheFlagAndTheRule) {
  EXPECT_THROW_MSG(parse_range("", "--seq"), InputError, "empty value");
  EXPECT_THROW_MSG(parse_range("8,,16", "--gpus"), InputError, "empty item");
  EXPECT_THROW_MSG(parse_range("64:8", "--gpus"), InputError, "empty range");
  EXPECT_THROW_MSG(parse_range("8:64:x1", "--gpus"), InputError, "factor must be at least 2");
  EXPECT_THROW_MSG(parse_range("8:64:x1.5", "--gpus"), InputError, "not a whole number");
  EXPECT_THROW_MSG(parse_range("-8", "--gpus"), InputError, "positive");
  EXPECT_THROW_MSG(parse_range("1:2:3:4", "--gpus"), InputError, "3 colons");
  EXPECT_THROW_MSG(parse_range("1:20000:+1", "--gpus"), InputError, "more than 10000 points");
  EXPECT_THROW(parse_range("0", "--gpus"), InputError);
  EXPECT_THROW(parse_range("abc", "--seq"), InputError);
  try {
    parse_range("8:64:x1", "--gpus");
  } catch (const InputError& e) {
    EXPECT_EQ(e.where(), "--gpus");
  }
}

}  // namespace
}  // namespace spsim
