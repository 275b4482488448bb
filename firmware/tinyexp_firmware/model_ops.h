// PLACEHOLDER -- replaced by the tinyexp runner with the run's model package
// (tinyexp/tflm/package.py): the registration of exactly its operators. The
// placeholder model has none.
#ifndef TINYEXP_MODEL_OPS_H_
#define TINYEXP_MODEL_OPS_H_

#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

#include "model_settings.h"

namespace tinyexp_model {

typedef tflite::MicroMutableOpResolver<kOperatorCount> OpResolver;

inline TfLiteStatus RegisterOps(OpResolver&) { return kTfLiteOk; }

}  // namespace tinyexp_model

#endif  // TINYEXP_MODEL_OPS_H_
