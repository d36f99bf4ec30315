// The spsim-microbench JSON: written by microbench/ (through write_microbench_json), read by
// `spsim calibrate` (strictly: it is spsim's own format).
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/json_reader.h"
#include "spsim/calibrate.h"
#include "spsim/error.h"

namespace spsim {

namespace {

using nlohmann::json;
using detail::ObjectReader;

constexpr const char* kFormat = "spsim-microbench";
constexpr int64_t kFormatVersion = 1;

void put_spread(json& j, double median_us, const Spread& s) {
  j["time_us"] = median_us;
  j["time_us_min"] = s.min_us;
  j["time_us_max"] = s.max_us;
  j["time_us_p10"] = s.p10_us;
  j["time_us_p90"] = s.p90_us;
  j["iterations"] = s.iterations;
}

double get_spread(ObjectReader& r, Spread* s) {
  const double median = r.number("time_us", std::nullopt, 1e-6);
  s->min_us = r.number("time_us_min", 0.0);
  s->max_us = r.number("time_us_max", 0.0);
  s->p10_us = r.number("time_us_p10", 0.0);
  s->p90_us = r.number("time_us_p90", 0.0);
  s->iterations = r.integer("iterations", 0, 0);
  return median;
}

template <typename F>
void for_each_object(ObjectReader& parent, const std::string& key, F&& f) {
  if (!parent.has(key)) return;
  const json& array = parent.raw(key);
  if (!array.is_array()) parent.fail(key, "expected an array");
  for (size_t i = 0; i < array.size(); ++i) {
    ObjectReader item(array[i], parent.file(), fmt::format("{}/{}", parent.pointer(key), i));
    f(item);
    item.finish();
  }
}

}  // namespace

std::string write_microbench_json(const MicrobenchProvenance& prov,
                                  const MicrobenchResults& results) {
  json doc;
  doc["format"] = kFormat;
  doc["format_version"] = kFormatVersion;
  json p;
  p["tool"] = prov.tool;
  p["gpu_name"] = prov.gpu_name;
  p["driver_version"] = prov.driver_version;
  p["cuda_runtime_version"] = prov.cuda_runtime_version;
  p["nccl_version"] = prov.nccl_version;
  p["cublaslt_version"] = prov.cublaslt_version;
  p["cudnn_version"] = prov.cudnn_version;
  p["start_time_utc"] = prov.start_time_utc;
  p["command_line"] = prov.command_line;
  p["ranks"] = json::array();
  for (size_t r = 0; r < prov.rank_hosts.size(); ++r) {
    p["ranks"].push_back({{"rank", r},
                          {"host", prov.rank_hosts[r]},
                          {"device", r < prov.rank_devices.size() ? prov.rank_devices[r] : -1}});
  }
  doc["provenance"] = p;
  doc["collectives"] = json::array();
  for (const auto& run : results.collectives) {
    json g;
    g["kind"] = run.kind;
    g["ranks"] = run.ranks;
    g["hosts"] = run.hosts;
    g["ranks_per_node"] = run.ranks_per_node;
    g["scope"] = run.scope();
    g["busbw_convention"] = "nccl-tests";
    g["points"] = json::array();
    for (const auto& pt : run.points) {
      json j;
      j["bytes"] = pt.bytes;
      j["count"] = pt.count;
      j["dtype"] = pt.type;
      j["in_place"] = pt.in_place;
      put_spread(j, pt.time_us, pt.spread);
      j["algbw_GBps"] = pt.algbw_GBps;
      j["busbw_GBps"] = pt.busbw_GBps;
      g["points"].push_back(j);
    }
    doc["collectives"].push_back(g);
  }
  doc["gemm"] = json::array();
  for (const auto& g : results.gemm) {
    json j{{"label", g.label}, {"dtype", g.dtype}, {"m", g.m}, {"n", g.n}, {"k", g.k}};
    put_spread(j, g.time_us, g.spread);
    j["tflops"] = g.flops() / (g.time_us * 1e-6) / 1e12;
    doc["gemm"].push_back(j);
  }
  doc["attention"] = json::array();
  for (const auto& a : results.attention) {
    json j{{"impl", a.impl},         {"dtype", a.dtype},       {"direction", a.direction},
           {"causal", a.causal},     {"batch", a.batch},       {"heads", a.heads},
           {"kv_heads", a.kv_heads}, {"head_dim", a.head_dim}, {"seq_q", a.seq_q},
           {"seq_kv", a.seq_kv}};
    put_spread(j, a.time_us, a.spread);
    j["tflops"] = a.flops() / (a.time_us * 1e-6) / 1e12;
    j["flops_convention"] = "flash-attention: fwd 4*b*s_q*s_kv*h*d (x0.5 causal), bwd 2.5x fwd";
    doc["attention"].push_back(j);
  }
  doc["memory"] = json::array();
  for (const auto& m : results.memory) {
    json j{{"bytes", m.bytes}};
    put_spread(j, m.time_us, m.spread);
    // A device-to-device copy reads and writes every byte: HBM traffic is 2x the size.
    j["hbm_GBps"] = 2.0 * static_cast<double>(m.bytes) / (m.time_us * 1e-6) / 1e9;
    doc["memory"].push_back(j);
  }
  return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

MicrobenchResults read_microbench_json(const std::string& text, const std::string& file) {
  const json doc = detail::parse_json(text, file);
  ObjectReader root(doc, file);
  const std::string format = root.string("format");
  if (format != kFormat) {
    root.fail("format", fmt::format("expected \"{}\" (got \"{}\"); for nccl-tests output use "
                                    "--nccl-tests", kFormat, format));
  }
  const int64_t version = root.integer("format_version");
  if (version != kFormatVersion) {
    root.fail("format_version", fmt::format("this spsim reads version {} (got {}); rerun "
                                            "spsim-microbench from the same spsim release",
                                            kFormatVersion, version));
  }
  MicrobenchResults results;
  std::vector<std::string> rank_hosts;
  {
    ObjectReader p = root.object("provenance");
    const std::string tool = p.string("tool", "");
    const std::string gpu = p.string("gpu_name", "");
    const std::string driver = p.string("driver_version", "");
    const std::string cuda = p.string("cuda_runtime_version", "");
    const std::string nccl = p.string("nccl_version", "");
    p.string("cublaslt_version", "");
    p.string("cudnn_version", "");
    const std::string when = p.string("start_time_utc", "");
    p.string("command_line", "");
    std::map<std::string, int> hosts;
    for_each_object(p, "ranks", [&](ObjectReader& r) {
      r.integer("rank", std::nullopt, 0);
      const std::string host = r.string("host");
      if (hosts[host]++ == 0) rank_hosts.push_back(host);
      r.integer("device", std::nullopt, -1);
    });
    p.finish();
    results.provenance = fmt::format(
        "{} on {} (driver {}, CUDA {}, NCCL {}), {} host(s), {}", tool.empty() ? "spsim-microbench" : tool,
        gpu, driver, cuda, nccl, rank_hosts.size(), when);
  }
  for_each_object(root, "collectives", [&](ObjectReader& g) {
    CollectiveRun run;
    run.file = file;
    run.kind = g.string("kind");
    busbw_factor(run.kind, 2);  // validates the name (InputError lists the kinds)
    run.test_name = "spsim-microbench " + run.kind;
    run.ranks = g.integer("ranks");
    const json& hosts = g.raw("hosts");
    if (!hosts.is_array()) g.fail("hosts", "expected an array of hostnames");
    for (const auto& h : hosts) {
      if (!h.is_string()) g.fail("hosts", "expected an array of hostnames");
      run.hosts.push_back(h.get<std::string>());
    }
    run.ranks_per_node = g.integer("ranks_per_node");
    g.ignore("scope");  // derived from hosts
    const std::string convention = g.string("busbw_convention", "nccl-tests");
    if (convention != "nccl-tests") g.fail("busbw_convention", "only \"nccl-tests\" is defined");
    for_each_object(g, "points", [&](ObjectReader& r) {
      CollectivePoint pt;
      pt.bytes = r.integer("bytes", std::nullopt, 0);
      pt.count = r.integer("count", std::nullopt, 0);
      pt.type = r.string("dtype");
      pt.in_place = r.boolean("in_place", false);
      pt.time_us = get_spread(r, &pt.spread);
      pt.algbw_GBps = r.number("algbw_GBps", 0.0);
      pt.busbw_GBps = r.number("busbw_GBps", 0.0);
      run.points.push_back(pt);
    });
    if (run.points.empty()) g.fail("points", "empty: the group has no measurements");
    results.collectives.push_back(std::move(run));
  });
  for_each_object(root, "gemm", [&](ObjectReader& r) {
    GemmPoint g;
    g.label = r.string("label", "");
    g.dtype = r.string("dtype");
    g.m = r.integer("m");
    g.n = r.integer("n");
    g.k = r.integer("k");
    g.time_us = get_spread(r, &g.spread);
    r.ignore("tflops");  // derived
    results.gemm.push_back(g);
  });
  for_each_object(root, "attention", [&](ObjectReader& r) {
    AttentionPoint a;
    a.impl = r.string("impl");
    a.dtype = r.string("dtype");
    a.direction = r.string("direction");
    if (a.direction != "fwd" && a.direction != "bwd") {
      r.fail("direction", fmt::format("must be \"fwd\" or \"bwd\" (got \"{}\")", a.direction));
    }
    a.causal = r.boolean("causal");
    a.batch = r.integer("batch");
    a.heads = r.integer("heads");
    a.kv_heads = r.integer("kv_heads");
    a.head_dim = r.integer("head_dim");
    a.seq_q = r.integer("seq_q");
    a.seq_kv = r.integer("seq_kv");
    a.time_us = get_spread(r, &a.spread);
    r.ignore("tflops");
    r.ignore("flops_convention");
    results.attention.push_back(a);
  });
  for_each_object(root, "memory", [&](ObjectReader& r) {
    MemoryPoint m;
    m.bytes = r.integer("bytes");
    m.time_us = get_spread(r, &m.spread);
    r.ignore("hbm_GBps");
    results.memory.push_back(m);
  });
  root.finish();
  return results;
}

}  // namespace spsim
