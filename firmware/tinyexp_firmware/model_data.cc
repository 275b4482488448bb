// PLACEHOLDER -- replaced by the tinyexp runner with the run's .tflite as a C
// array. An empty model (g_model_len == 0) makes the firmware answer no_model.
#include "model_data.h"

alignas(16) const unsigned char g_model[1] = {0};
const unsigned int g_model_len = 0;
const unsigned long g_model_crc32 = 0x00000000UL;  // CRC-32 of zero bytes
