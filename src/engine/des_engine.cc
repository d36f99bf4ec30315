// Placeholder until the SimGrid engine lands.
#include "engine/des_engine.h"

#include "spsim/error.h"

namespace spsim {

namespace {
class DesEngine final : public Engine {
 public:
  StepResult run(const TaskGraph&, const Topology&, const EngineOptions&) const override {
    throw InputError("--engine", "the des engine is not built yet; use --engine analytic");
  }
};
}  // namespace

std::unique_ptr<Engine> make_des_engine() { return std::make_unique<DesEngine>(); }

}  // namespace spsim
