// Models spsim reads but does not cost yet: the commands that cost a step refuse them.
#ifndef SPSIM_MODEL_CHECK_COSTED_H_
#define SPSIM_MODEL_CHECK_COSTED_H_

#include <string>

#include "spsim/model.h"

namespace spsim {

/// Throws InputError(`where`) for a model whose layers spsim reads but does not cost yet (experts,
/// latent attention): a dense reading of them would be silently wrong.
void check_costed(const ModelSpec& model, const std::string& where);

}  // namespace spsim

#endif  // SPSIM_MODEL_CHECK_COSTED_H_
