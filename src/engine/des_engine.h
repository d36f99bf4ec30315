// The discrete-event engine on SimGrid. Only src/engine/des*.cc include SimGrid.
#ifndef SPSIM_ENGINE_DES_ENGINE_H_
#define SPSIM_ENGINE_DES_ENGINE_H_

#include <memory>

#include "spsim/engine.h"

namespace spsim {

std::unique_ptr<Engine> make_des_engine();

}  // namespace spsim

#endif  // SPSIM_ENGINE_DES_ENGINE_H_
