// BENCH statistics over up to 1000 timings, computed on the board without heap.
// Definitions (the host test checks them against numpy with the same ones):
//   mean, std     arithmetic mean and population standard deviation (numpy.std, ddof=0)
//   median        middle value, or the mean of the two middle values (numpy.median)
//   p95           linear interpolation between order statistics at rank 0.95*(n-1)
//                 (numpy.percentile(x, 95), default method "linear")
// Every result is in thousandths, the exact value rounded half up, because the
// protocol prints 3 decimals: mean/median/p95/min/max of integers are exact in
// thousandths up to that rounding; std goes through a double square root.
#ifndef TXP_STATS_H
#define TXP_STATS_H

#include <stdint.h>
#include <string.h>

namespace txp {

static const uint32_t kMaxBench = 1000;

struct Stats {
  uint32_t n;
  uint64_t mean_milli;
  uint64_t std_milli;
  uint64_t min_milli;
  uint64_t median_milli;
  uint64_t p95_milli;
  uint64_t max_milli;
};

// Sorts values[0..n) ascending in place (shell sort: no recursion, no heap).
void sort_u32(uint32_t* values, uint32_t n);

// Fills *out from values[0..n), n >= 1; reorders values (sorts them).
void compute_stats(uint32_t* values, uint32_t n, Stats* out);

// sum/n in thousandths, rounded half up.
uint64_t mean_milli(uint64_t sum, uint32_t n);

// Profiler ticks as microseconds in thousandths, rounded half up; ticks_per_s > 0.
uint64_t ticks_to_us_milli(uint32_t ticks, uint32_t ticks_per_s);

}  // namespace txp

#endif  // TXP_STATS_H
