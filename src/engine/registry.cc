#include <fmt/format.h>

#include "engine/analytic_engine.h"
#include "engine/des_engine.h"
#include "spsim/error.h"

namespace spsim {

std::unique_ptr<Engine> make_engine(std::string_view name) {
  if (name == "analytic") return make_analytic_engine();
  if (name == "des") return make_des_engine();
  const std::string hint = closest_match(std::string(name), {"analytic", "des"});
  throw InputError("--engine", fmt::format("unknown engine \"{}\"; use analytic or des{}", name,
                                           hint.empty() ? "" : fmt::format(" (did you mean \"{}\"?)", hint)));
}

}  // namespace spsim
