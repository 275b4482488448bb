// PLACEHOLDER -- the tinyexp runner overwrites model_data.h and model_data.cc
// in its own copy of this sketch (tinyexp/tflm/c_array.py, tinyexp/device/sketch.py).
// Kept in the repository only so the sketch compiles as is; with it the board
// answers no_model. Same declarations as the generated header.
#ifndef TINYEXP_MODEL_DATA_H_
#define TINYEXP_MODEL_DATA_H_

extern const unsigned char g_model[];
extern const unsigned int g_model_len;
extern const unsigned long g_model_crc32;

#endif  // TINYEXP_MODEL_DATA_H_
