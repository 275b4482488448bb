// PLACEHOLDER -- the tinyexp runner overwrites model_settings.h (with model_ops.h
// and model_data.*) in its own copy of this sketch with the run's model package
// (tinyexp/tflm/package.py). Kept in the repository only so the sketch compiles
// as is; with the empty placeholder model the board answers no_model. Same
// declarations as the generated header.
#ifndef TINYEXP_MODEL_SETTINGS_H_
#define TINYEXP_MODEL_SETTINGS_H_

#include <stdint.h>

namespace tinyexp_model {

constexpr unsigned int kArenaRequiredBytes = 0;
constexpr unsigned int kArenaMarginBytes = 1024;
constexpr unsigned int kArenaBytes = kArenaRequiredBytes + kArenaMarginBytes;
constexpr unsigned int kOperatorCount = 1;

}  // namespace tinyexp_model

#endif  // TINYEXP_MODEL_SETTINGS_H_
