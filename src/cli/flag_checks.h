// Checks on flag values that run while CLI11 parses, before any value is used: whole numbers
// within spsim's limits (CLI11 itself would wrap 2^64 to -1 or clamp it to 2^63-1, and read "010"
// as octal), finite numbers, and comma lists without empty items.
#ifndef SPSIM_CLI_FLAG_CHECKS_H_
#define SPSIM_CLI_FLAG_CHECKS_H_

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace spsim::cli {

/// A whole decimal number in [min, max], normalised ("+8", "010" become "8", "10"); attach it
/// with ->transform() (->check() would drop the normalised text). Past `max` the message names the limit (README "Limits
/// and errors"), e.g. "--ring-degree: 99999999999999999999 is past the limit of 65536".
CLI::Validator whole_number(int64_t min, int64_t max);

/// A finite decimal number in [min, max] (no nan, inf or hexadecimal).
CLI::Validator finite_number(double min, double max);

/// Splits comma lists ("8,16" and "--gpus 8 --gpus 16" alike) into items; an empty item ("8,,16",
/// "64K,") is an InputError naming `flag`.
std::vector<std::string> split_list(const std::vector<std::string>& args, const std::string& flag);

}  // namespace spsim::cli

#endif  // SPSIM_CLI_FLAG_CHECKS_H_
