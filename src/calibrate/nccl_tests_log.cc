// Importer for nccl-tests output: the text log (every variant in reference/calibration.md §1.3)
// and the -J JSON. Column positions come from the header line, never from token heuristics
// (a large time prints as an integer, which breaks "is column 5 an integer -> root").
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/json_reader.h"
#include "spsim/calibrate.h"
#include "spsim/error.h"
#include "spsim/limits.h"

namespace spsim {

namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> split_ws(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

/// Removes a launcher prefix: srun -l ("  3: ") or Open MPI --tag-output ("[1,0]<stdout>:").
std::string strip_launcher_prefix(const std::string& line) {
  size_t i = line.find_first_not_of(' ');
  if (i == std::string::npos) return line;
  if (line[i] == '[') {
    const auto close = line.find("]<std", i);
    const auto colon = close == std::string::npos ? close : line.find(">:", close);
    if (colon != std::string::npos) return line.substr(colon + 2);
    return line;
  }
  size_t j = i;
  while (j < line.size() && line[j] >= '0' && line[j] <= '9') ++j;
  if (j > i && j + 1 < line.size() && line[j] == ':' && line[j + 1] == ' ') {
    return line.substr(j + 2);
  }
  return line;
}

/// "all_gather_perf_mpi" / "./build/alltoall_perf" -> the spsim kind, "" if not a *_perf name,
/// or the bare test name in `unsupported` when it is a collective spsim does not model.
std::string kind_from_test_name(std::string name, std::string* unsupported) {
  const auto slash = name.find_last_of('/');
  if (slash != std::string::npos) name = name.substr(slash + 1);
  const auto perf = name.find("_perf");
  if (perf == std::string::npos) return "";
  const std::string base = name.substr(0, perf);
  static const std::map<std::string, std::string> kinds = {
      {"all_reduce", "all_reduce"},         {"all_gather", "all_gather"},
      {"reduce_scatter", "reduce_scatter"}, {"alltoall", "all_to_all"},
      {"sendrecv", "send_recv"}};
  const auto it = kinds.find(base);
  if (it != kinds.end()) return it->second;
  if (unsupported != nullptr) *unsupported = name;
  return "";
}

/// Guess from a file name such as "h100_allgather_2node.log".
std::string kind_from_file_name(const std::string& name) {
  std::string lower;
  for (char c : name) {
    if (c != '_' && c != '-') lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const auto slash = lower.find_last_of('/');
  if (slash != std::string::npos) lower = lower.substr(slash + 1);
  static const std::pair<const char*, const char*> patterns[] = {
      {"allreduce", "all_reduce"}, {"allgather", "all_gather"}, {"reducescatter", "reduce_scatter"},
      {"alltoall", "all_to_all"},  {"sendrecv", "send_recv"}};
  std::string found;
  for (const auto& [pattern, kind] : patterns) {
    if (lower.find(pattern) != std::string::npos) {
      if (!found.empty()) return "";  // ambiguous
      found = kind;
    }
  }
  return found;
}

/// NCCL_VERSION_CODE as printed by nccl-tests ("22902") -> "2.29.2" (major*10000 + minor*100 +
/// patch since NCCL 2.9); anything else unchanged.
std::string nccl_version_text(const std::string& code) {
  if (!all_digits(code) || code.size() != 5) return code;
  const int v = std::stoi(code);
  return fmt::format("{}.{}.{}", v / 10000, (v % 10000) / 100, v % 100);
}

const char* nccl_tests_name(const std::string& kind) {
  if (kind == "all_to_all") return "alltoall_perf";
  if (kind == "send_recv") return "sendrecv_perf";
  if (kind == "all_gather") return "all_gather_perf";
  if (kind == "reduce_scatter") return "reduce_scatter_perf";
  return "all_reduce_perf";
}

double parse_number(const std::string& token, const std::string& where, const std::string& column) {
  const char* begin = token.c_str();
  char* end = nullptr;
  const double value = std::strtod(begin, &end);
  if (end == begin || *end != '\0' || !std::isfinite(value) || value < 0) {
    throw InputError(where, fmt::format("column \"{}\": expected a non-negative number (got \"{}\"); "
                                        "the row is garbled or truncated",
                                        column, token));
  }
  return value;
}

int64_t parse_integer(const std::string& token, const std::string& where, const std::string& column) {
  if (!all_digits(token) || token.size() > 18) {
    throw InputError(where, fmt::format("column \"{}\": expected a non-negative integer (got \"{}\"); "
                                        "the row is garbled or truncated",
                                        column, token));
  }
  return std::stoll(token);
}

/// A count the log states about its own job (a rank, -g/-t, "nThread T nGpus G"): digits, at
/// most kMaxGpus. A fuzzer-grown header holds integers past int64, which std::stoll throws on.
int64_t parse_job_count(const std::string& token, const std::string& where, const std::string& what) {
  if (!all_digits(token) || token.size() > 7 || std::stoll(token) > kMaxGpus) {
    throw InputError(where, fmt::format("{} \"{}\" is not a count spsim accepts (a whole number "
                                        "up to {}); the header is garbled",
                                        what, token, kMaxGpus));
  }
  return std::stoll(token);
}

struct RankInfo {
  int64_t rank = 0;
  std::string host;
  std::string gpu;
};

/// One test being read.
struct Section {
  std::string test_name;
  int name_line = 0;
  std::string command_kind;       // from a "./build/x_perf ..." command line
  int command_line_no = 0;
  int64_t command_gpus = 0;       // -g N x -t N from that command line
  int64_t header_threads = 0, header_gpus = 0;  // "# nThread T nGpus G"
  std::vector<RankInfo> ranks;
  std::vector<std::string> columns;  // header names, in order
  int header_line = 0;
  std::vector<CollectivePoint> points;
  bool started() const {
    return !test_name.empty() || !ranks.empty() || header_line > 0 || !points.empty();
  }
};

class LogReader {
 public:
  LogReader(std::string display_name, std::string kind_hint, int64_t ranks)
      : file_(std::move(display_name)), hint_(std::move(kind_hint)), ranks_(ranks) {}

  std::vector<CollectiveRun> read(const std::string& text) {
    std::istringstream in(text);
    int line_no = 0;
    for (std::string raw; std::getline(in, raw);) {
      ++line_no;
      const std::string line = trim(strip_launcher_prefix(raw));
      if (line.empty()) continue;
      if (line[0] == '#') {
        comment(trim(line.substr(1)), line_no);
      } else {
        body(line, line_no);
      }
    }
    if (cur_.header_line > 0 || !cur_.points.empty()) finish(line_no);
    if (runs_.empty()) {
      throw InputError(file_, "no nccl-tests result table found (no header line \"#  size  count  "
                              "type ... time  algbw  busbw\"); is this an nccl-tests log?");
    }
    return std::move(runs_);
  }

 private:
  std::string where(int line) const { return fmt::format("{}:{}", file_, line); }

  void comment(const std::string& body, int line_no) {
    if (line_no == 1 || body.rfind("SOURCE:", 0) == 0) {
      if (body.rfind("SOURCE:", 0) == 0) source_note_ = "# " + body;
    }
    if (body.rfind("Collective test starting:", 0) == 0) {
      if (!cur_.points.empty()) finish(line_no);
      cur_.test_name = trim(body.substr(std::string("Collective test starting:").size()));
      cur_.name_line = line_no;
      return;
    }
    if (body.rfind("Collective test concluded", 0) == 0) {
      if (cur_.header_line > 0 || !cur_.points.empty()) finish(line_no);
      return;
    }
    if (body.rfind("nccl-tests version", 0) == 0) {
      const auto lib = body.find("nccl-library=");
      // "nccl-library=" may end the line (a truncated header): then the version stays unknown.
      const auto version = lib == std::string::npos ? std::vector<std::string>{}
                                                    : split_ws(body.substr(lib + 13));
      if (!version.empty()) nccl_version_ = nccl_version_text(version.front());
      return;
    }
    const auto tokens = split_ws(body);
    if (tokens.size() >= 4 && tokens[0] == "nThread" && tokens[2] == "nGpus") {
      if (!cur_.points.empty()) finish(line_no);
      cur_.header_threads = all_digits(tokens[1]) ? parse_job_count(tokens[1], where(line_no), "nThread") : 0;
      cur_.header_gpus = all_digits(tokens[3]) ? parse_job_count(tokens[3], where(line_no), "nGpus") : 0;
      if (cur_.header_threads * cur_.header_gpus > kMaxGpus) {
        throw InputError(where(line_no), fmt::format("nThread {} x nGpus {} is past {} GPUs; the "
                                                     "header is garbled",
                                                     tokens[1], tokens[3], kMaxGpus));
      }
      return;
    }
    if (tokens.size() >= 2 && tokens[0] == "Rank" && all_digits(tokens[1])) {
      if (!cur_.points.empty()) finish(line_no);
      rank_line(tokens, body, line_no);
      return;
    }
    // The column header: names, no numbers; must have size, time and busbw.
    const bool has_size = std::find(tokens.begin(), tokens.end(), "size") != tokens.end() ||
                          std::find(tokens.begin(), tokens.end(), "bytes") != tokens.end();
    const bool has_time = std::find(tokens.begin(), tokens.end(), "time") != tokens.end();
    const bool has_busbw = std::find(tokens.begin(), tokens.end(), "busbw") != tokens.end();
    if (has_size && has_time && has_busbw) {
      if (!cur_.points.empty()) finish(line_no);
      cur_.columns = tokens;
      cur_.header_line = line_no;
    }
  }

  void rank_line(const std::vector<std::string>& tokens, const std::string& body, int line_no) {
    RankInfo info;
    info.rank = parse_job_count(tokens[1], where(line_no), "rank");
    const auto on = std::find(tokens.begin(), tokens.end(), "on");
    if (on == tokens.end() || on + 1 == tokens.end()) {
      throw InputError(where(line_no), "rank line without \"on <host>\"; the log is garbled");
    }
    info.host = *(on + 1);
    const auto bracket = body.find(']');
    if (bracket != std::string::npos) info.gpu = trim(body.substr(bracket + 1));
    cur_.ranks.push_back(info);
  }

  void body(const std::string& line, int line_no) {
    const auto tokens = split_ws(line);
    if (tokens.empty()) return;
    // A command line ("./build/all_gather_perf -b 8 -e 8G -f 2 -g 8", maybe after mpirun/srun).
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string unsupported;
      const std::string kind = kind_from_test_name(tokens[i], &unsupported);
      if (kind.empty() && unsupported.empty()) continue;
      if (tokens[i].find("_perf") == std::string::npos) continue;
      if (!cur_.points.empty()) finish(line_no);
      cur_.command_kind = kind.empty() ? "!" + unsupported : kind;
      cur_.command_line_no = line_no;
      int64_t gpus = 1, threads = 1;
      for (size_t j = i + 1; j + 1 < tokens.size(); ++j) {
        if ((tokens[j] == "-g" || tokens[j] == "--ngpus") && all_digits(tokens[j + 1])) {
          gpus = parse_job_count(tokens[j + 1], where(line_no), tokens[j]);
        }
        if ((tokens[j] == "-t" || tokens[j] == "--nthreads") && all_digits(tokens[j + 1])) {
          threads = parse_job_count(tokens[j + 1], where(line_no), tokens[j]);
        }
      }
      if (gpus * threads > kMaxGpus) {
        throw InputError(where(line_no), fmt::format("-g {} x -t {} is past {} GPUs; the command "
                                                     "line is garbled",
                                                     gpus, threads, kMaxGpus));
      }
      cur_.command_gpus = gpus * threads;
      return;
    }
    if (tokens.size() >= 3 && tokens[0] == "NCCL" && tokens[1] == "version") {
      nccl_version_ = tokens[2];
      return;
    }
    if (cur_.header_line == 0 || !all_digits(tokens[0])) return;  // launcher / NCCL INFO noise
    data_row(tokens, line_no);
  }

  void data_row(const std::vector<std::string>& tokens, int line_no) {
    const auto& cols = cur_.columns;
    const std::string at = where(line_no);
    if (tokens.size() != cols.size()) {
      throw InputError(at, fmt::format("row has {} fields but the header at line {} has {} columns; "
                                       "the row is truncated or garbled",
                                       tokens.size(), cur_.header_line, cols.size()));
    }
    CollectivePoint base;
    base.line = line_no;
    // Out-of-place is the first time/algbw/busbw/#wrong group, in-place the second.
    CollectivePoint halves[2];
    int time_seen = 0, algbw_seen = 0, busbw_seen = 0, wrong_seen = 0;
    for (size_t i = 0; i < cols.size(); ++i) {
      const std::string& c = cols[i];
      const std::string& t = tokens[i];
      if (c == "size" || c == "bytes") {
        base.bytes = parse_integer(t, at, c);
      } else if (c == "count" || c == "N") {
        base.count = parse_integer(t, at, c);
      } else if (c == "type") {
        base.type = t;
      } else if (c == "time") {
        if (time_seen < 2) halves[time_seen].time_us = parse_number(t, at, c);
        ++time_seen;
      } else if (c == "algbw") {
        if (algbw_seen < 2) halves[algbw_seen].algbw_GBps = parse_number(t, at, c);
        ++algbw_seen;
      } else if (c == "busbw") {
        if (busbw_seen < 2) halves[busbw_seen].busbw_GBps = parse_number(t, at, c);
        ++busbw_seen;
      } else if (c == "#wrong" || c == "wrong" || c == "error" || c == "res") {
        if (wrong_seen < 2) halves[wrong_seen].wrong = t;
        ++wrong_seen;
      }
    }
    for (int h = 0; h < std::min(time_seen, 2); ++h) {
      CollectivePoint p = base;
      p.in_place = h == 1;
      p.time_us = halves[h].time_us;
      p.algbw_GBps = halves[h].algbw_GBps;
      p.busbw_GBps = halves[h].busbw_GBps;
      p.wrong = halves[h].wrong;
      cur_.points.push_back(p);
    }
  }

  void finish(int line_no) {
    Section s = std::move(cur_);
    cur_ = Section{};
    if (s.header_line == 0 && s.points.empty()) return;
    if (s.points.empty()) {
      throw InputError(where(s.header_line),
                       fmt::format("table header but no result rows before line {}; the log is "
                                   "truncated or the run failed (look for a CUDA/NCCL error in it)",
                                   line_no));
    }
    CollectiveRun run;
    run.file = file_;
    run.source_note = source_note_;
    run.nccl_version = nccl_version_;
    run.test_name = s.test_name;
    run.kind = resolve_kind(s);
    if (run.test_name.empty()) run.test_name = nccl_tests_name(run.kind);
    // Ranks and hosts.
    if (!s.ranks.empty()) {
      int64_t max_rank = 0;
      std::map<std::string, int64_t> per_host;
      for (const auto& r : s.ranks) {
        max_rank = std::max(max_rank, r.rank);
        if (per_host[r.host]++ == 0) run.hosts.push_back(r.host);
        if (run.gpu_name.empty()) run.gpu_name = r.gpu;
      }
      run.ranks = max_rank + 1;
      for (const auto& [host, n] : per_host) run.ranks_per_node = std::max(run.ranks_per_node, n);
    } else if (s.command_gpus > 0 || s.header_gpus > 0) {
      // One process drove every GPU (-g N): necessarily one node. With MPI nccl-tests always
      // prints the rank lines, so their absence means a single process.
      run.ranks = s.header_gpus > 0 ? s.header_gpus * std::max<int64_t>(1, s.header_threads)
                                    : s.command_gpus;
      run.ranks_per_node = run.ranks;
    } else {
      throw InputError(where(s.header_line),
                       "cannot tell the number of ranks: no \"# Rank N ... on HOST\" lines, no "
                       "\"# nThread T nGpus G\" line and no command line with -g; keep the "
                       "nccl-tests header in the log");
    }
    run.points = std::move(s.points);
    if (!s.ranks.empty()) resolve_elided_ranks(run);
    check_bus_factor(run);
    runs_.push_back(std::move(run));
  }

  // Device lines elided ("# Rank 0 ..." then "...") or cut: the printed ranks undercount the
  // group, which busbw/algbw still tells (factor (n-1)/n, or 2(n-1)/n for all-reduce). Takes
  // --ranks when given, else the one count that fits every row; leaves the host layout unknown.
  void resolve_elided_ranks(CollectiveRun& run) const {
    const int64_t listed = run.ranks;
    int64_t n = 0;
    if (ranks_ > 0) {
      if (ranks_ < listed) {
        throw InputError(file_, fmt::format("the log lists ranks up to {}, but --ranks says {}; drop --ranks "
                                            "or give the group size the log ran with",
                                            listed - 1, ranks_));
      }
      n = ranks_;
    } else {
      if (bus_factor_holds(run, listed)) return;
      n = ranks_from_bus_factor(run);
      if (n <= listed) return;  // none or several fit: check_bus_factor says what is wrong
    }
    if (n == listed) return;
    run.listed_ranks = listed;
    run.ranks = n;
    run.hosts.clear();
    run.ranks_per_node = 0;
  }

  static bool bus_factor_holds(const CollectiveRun& run, int64_t ranks) {
    const double expected = busbw_factor(run.kind, ranks);
    bool any = false;
    for (const auto& p : run.points) {
      if (p.algbw_GBps < 1.0) continue;
      any = true;
      const double tolerance = 0.011 / p.algbw_GBps + 1e-3;
      if (std::abs(p.busbw_GBps / p.algbw_GBps / expected - 1.0) > tolerance) return false;
    }
    return any;
  }

  // The rank count every row's busbw/algbw agrees with, searched around the value the row with
  // the largest algbw (the most precise ratio) implies; 0 when no count or several fit.
  static int64_t ranks_from_bus_factor(const CollectiveRun& run) {
    const CollectivePoint* best = nullptr;
    for (const auto& p : run.points) {
      if (p.algbw_GBps >= 1.0 && (best == nullptr || p.algbw_GBps > best->algbw_GBps)) best = &p;
    }
    if (best == nullptr || run.kind == "send_recv") return 0;
    const double ratio = best->busbw_GBps / best->algbw_GBps;
    const double top = run.kind == "all_reduce" ? 2.0 : 1.0;  // the factor's limit
    if (!(ratio > 0) || ratio >= top) return 0;
    const double guess = top / (top - ratio);
    // Two printed decimals cannot tell n from n + 1 long before this (at 64 ranks the factors
    // differ by 2.4e-4 of themselves), so larger guesses are ambiguous anyway: --ranks.
    if (!(guess < 4096.0)) return 0;
    int64_t found = 0;
    const auto lo = std::max<int64_t>(2, static_cast<int64_t>(guess / 2));
    const auto hi = std::min<int64_t>(kMaxGpus, static_cast<int64_t>(guess * 2) + 2);
    for (int64_t n = lo; n <= hi; ++n) {
      if (!bus_factor_holds(run, n)) continue;
      if (found != 0) return 0;  // ambiguous: the printed decimals cannot tell them apart
      found = n;
    }
    return found;
  }

  std::string resolve_kind(const Section& s) const {
    std::string from_log;
    int from_line = 0;
    if (!s.test_name.empty()) {
      std::string unsupported;
      from_log = kind_from_test_name(s.test_name, &unsupported);
      from_line = s.name_line;
      if (from_log.empty()) {
        throw InputError(where(s.name_line),
                         fmt::format("test \"{}\" is not a collective spsim calibrates; use logs of "
                                     "all_gather_perf, reduce_scatter_perf, all_reduce_perf, "
                                     "alltoall_perf or sendrecv_perf",
                                     s.test_name));
      }
    } else if (!s.command_kind.empty()) {
      from_line = s.command_line_no;
      if (s.command_kind[0] == '!') {
        throw InputError(where(from_line),
                         fmt::format("test \"{}\" is not a collective spsim calibrates; use logs of "
                                     "all_gather_perf, reduce_scatter_perf, all_reduce_perf, "
                                     "alltoall_perf or sendrecv_perf",
                                     s.command_kind.substr(1)));
      }
      from_log = s.command_kind;
    }
    if (!hint_.empty()) {
      busbw_factor(hint_, 2);  // validates the name
      if (!from_log.empty() && from_log != hint_) {
        throw InputError(where(from_line),
                         fmt::format("the log is a {} test but the collective given is {}; pass "
                                     "the right log or kind",
                                     from_log, hint_));
      }
      return hint_;
    }
    if (!from_log.empty()) return from_log;
    const std::string guess = kind_from_file_name(file_);
    if (!guess.empty()) return guess;
    throw InputError(where(s.header_line),
                     "cannot tell which collective this log measured: no \"# Collective test "
                     "starting\" line, no *_perf command line and no collective in the file name; "
                     "name the collective (spsim calibrate --nccl-tests KIND=FILE)");
  }

  // busbw / algbw must be the kind's factor: catches a log given as the wrong collective and a
  // wrong rank count. Only rows with algbw >= 1 GB/s are checked: below that the printed two
  // decimals cannot resolve the ratio.
  void check_bus_factor(const CollectiveRun& run) const {
    const double expected = busbw_factor(run.kind, run.ranks);
    for (const auto& p : run.points) {
      if (p.algbw_GBps < 1.0) continue;
      const double ratio = p.busbw_GBps / p.algbw_GBps;
      // Each printed value is off by up to 0.005, so the ratio by up to 0.005/algbw relative each.
      const double tolerance = 0.011 / p.algbw_GBps + 1e-3;
      if (std::abs(ratio / expected - 1.0) > tolerance) {
        std::string other;
        for (const char* k : kCollectiveKinds) {
          if (std::abs(ratio / busbw_factor(k, run.ranks) - 1.0) <= tolerance) other = k;
        }
        throw InputError(
            where(p.line),
            fmt::format("busbw/algbw = {:.4f} but {} over {} ranks has factor {:.4f}{}; the log "
                        "is for another collective or the rank count is wrong (device lines "
                        "elided? give the group size: spsim calibrate --ranks N)",
                        ratio, run.kind, run.ranks, expected,
                        other.empty() ? "" : fmt::format(" ({} has {:.4f})", other,
                                                         busbw_factor(other, run.ranks))));
      }
    }
  }

  std::string file_;
  std::string hint_;
  int64_t ranks_ = 0;  // --ranks: the group size of logs whose device lines are elided
  std::string source_note_;
  std::string nccl_version_;
  Section cur_;
  std::vector<CollectiveRun> runs_;
};

// nccl-tests -J output (src/util.cu, 2025-10): lenient, it is not spsim's format.
std::vector<CollectiveRun> read_json_output(const std::string& text, const std::string& file,
                                            const std::string& kind_hint) {
  const nlohmann::json doc = detail::parse_json(text, file);
  auto fail = [&](const std::string& pointer, const std::string& message) {
    throw InputError(file, fmt::format("{}: {}", pointer, message));
  };
  // Checked field readers: nlohmann's value()/get() throw json::type_error on a wrong type and
  // wrap an unsigned past int64 to a negative; both must be one clear InputError instead.
  auto text_field = [&](const nlohmann::json& o, const char* key, const std::string& pointer) {
    if (!o.contains(key)) return std::string();
    if (!o[key].is_string()) fail(pointer + "/" + key, "expected a string");
    return o[key].get<std::string>();
  };
  auto count_field = [&](const nlohmann::json& o, const char* key, const std::string& pointer,
                         int64_t max) {
    if (!o.contains(key)) return int64_t{0};
    const auto& v = o[key];
    if (!v.is_number_integer() || (v.is_number_unsigned() ? v.get<uint64_t>() > uint64_t(max)
                                                          : v.get<int64_t>() < 0 || v.get<int64_t>() > max)) {
      fail(pointer + "/" + key, fmt::format("expected a whole number from 0 to {}", max));
    }
    return v.get<int64_t>();
  };
  auto finite_field = [&](const nlohmann::json& o, const char* key, const std::string& pointer) {
    const auto& v = o[key];
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < 0) {
      fail(pointer + "/" + key, "expected a non-negative finite number");
    }
    return v.get<double>();
  };
  if (!doc.is_object() || !doc.contains("results") || !doc["results"].is_array()) {
    fail("/results", "missing: not an nccl-tests -J JSON file");
  }
  CollectiveRun run;
  run.file = file;
  run.test_name = "";
  if (doc.contains("nccl_version")) run.nccl_version = nccl_version_text(doc["nccl_version"].dump());
  // Which test: an "args"/"experiment_name" naming *_perf, else the hint, else the file name.
  std::string kind;
  std::string unsupported;
  for (const char* key : {"args", "experiment_name", "test", "collective"}) {
    if (doc.contains(key)) {
      for (const auto& token : split_ws(doc[key].is_string() ? doc[key].get<std::string>()
                                                             : doc[key].dump())) {
        std::string t = token;
        t.erase(std::remove(t.begin(), t.end(), '"'), t.end());
        const std::string k = kind_from_test_name(t, &unsupported);
        if (!k.empty()) kind = k, run.test_name = t;
      }
    }
  }
  if (kind.empty() && !unsupported.empty()) {
    fail("/args", fmt::format("test \"{}\" is not a collective spsim calibrates", unsupported));
  }
  if (!kind_hint.empty()) {
    busbw_factor(kind_hint, 2);
    if (!kind.empty() && kind != kind_hint) {
      fail("/args", fmt::format("the file is a {} test but the collective given is {}", kind,
                                kind_hint));
    }
    kind = kind_hint;
  }
  if (kind.empty()) kind = kind_from_file_name(file);
  if (kind.empty()) {
    fail("/args", "cannot tell which collective was measured; name it (KIND=FILE)");
  }
  run.kind = kind;
  if (run.test_name.empty()) run.test_name = nccl_tests_name(kind);
  std::map<std::string, int64_t> per_host;
  if (doc.contains("devices") && doc["devices"].is_array()) {
    int64_t max_rank = -1;
    const auto& devices = doc["devices"];
    for (size_t i = 0; i < devices.size(); ++i) {
      const auto& d = devices[i];
      if (!d.is_object()) continue;
      const std::string ptr = fmt::format("/devices/{}", i);
      const std::string host = text_field(d, "hostname", ptr);
      if (per_host[host]++ == 0) run.hosts.push_back(host);
      max_rank = std::max<int64_t>(max_rank, count_field(d, "rank", ptr, kMaxGpus - 1));
      if (run.gpu_name.empty()) run.gpu_name = text_field(d, "device_info", ptr);
    }
    run.ranks = max_rank + 1;
  }
  if (run.ranks < 1) fail("/devices", "missing or empty: cannot tell the number of ranks");
  for (const auto& [host, n] : per_host) run.ranks_per_node = std::max(run.ranks_per_node, n);
  const auto& results = doc["results"];
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    const std::string ptr = fmt::format("/results/{}", i);
    if (!r.is_object() || !r.contains("size") || !r["size"].is_number_unsigned() ||
        r["size"].get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max())) {
      fail(ptr + "/size", "missing or not a non-negative integer");
    }
    for (int h = 0; h < 2; ++h) {
      const char* half = h == 0 ? "out_of_place" : "in_place";
      if (!r.contains(half)) continue;
      const auto& o = r[half];
      CollectivePoint p;
      p.bytes = r["size"].get<int64_t>();
      p.count = count_field(r, "count", ptr, std::numeric_limits<int64_t>::max());
      p.type = text_field(r, "type", ptr);
      p.in_place = h == 1;
      if (!o.is_object()) fail(ptr + "/" + half, "expected an object");
      for (const char* key : {"time", "cpu_time"}) {
        if (o.contains(key) && o[key].is_number()) p.time_us = o[key].get<double>();
      }
      if (!o.contains("bus_bw") || !o["bus_bw"].is_number() || !(p.time_us > 0) ||
          !std::isfinite(p.time_us)) {
        fail(ptr + "/" + half, "needs a positive \"time\" and a numeric \"bus_bw\"");
      }
      if (o.contains("alg_bw")) p.algbw_GBps = finite_field(o, "alg_bw", ptr + "/" + half);
      p.busbw_GBps = finite_field(o, "bus_bw", ptr + "/" + half);
      if (o.contains("nwrong")) p.wrong = o["nwrong"].dump();
      run.points.push_back(p);
    }
  }
  if (run.points.empty()) fail("/results", "empty: the run produced no results");
  return {run};
}

}  // namespace

std::vector<CollectiveRun> read_nccl_tests_log(const std::string& text,
                                               const std::string& display_name,
                                               const std::string& kind_hint, int64_t ranks) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    throw InputError(display_name, "empty file; pass an nccl-tests log");
  }
  if (ranks < 0 || ranks > kMaxGpus) {
    throw InputError("--ranks", fmt::format("must be 1 to {} (got {})", kMaxGpus, ranks));
  }
  if (text[first] == '{') {
    auto runs = read_json_output(text, display_name, kind_hint);
    for (const auto& run : runs) {
      if (ranks > 0 && run.ranks != ranks) {
        throw InputError(display_name, fmt::format("the JSON lists {} devices, but --ranks says {}; drop --ranks "
                                                   "(a -J log names every device)",
                                                   run.ranks, ranks));
      }
    }
    return runs;
  }
  return LogReader(display_name, kind_hint, ranks).read(text);
}

}  // namespace spsim
