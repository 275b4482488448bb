#include "txp_stats.h"

namespace txp {

void sort_u32(uint32_t* a, uint32_t n) {
  // Ciura's gap sequence; 1000 values sort in well under a millisecond of a
  // BENCH that has just spent n invokes, and the code stays a dozen lines.
  static const uint32_t kGaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
  for (size_t g = 0; g < sizeof(kGaps) / sizeof(kGaps[0]); ++g) {
    const uint32_t gap = kGaps[g];
    for (uint32_t i = gap; i < n; ++i) {
      uint32_t v = a[i];
      uint32_t j = i;
      for (; j >= gap && a[j - gap] > v; j -= gap) a[j] = a[j - gap];
      a[j] = v;
    }
  }
}

uint64_t mean_milli(uint64_t sum, uint32_t n) {
  // sum <= 1000 * 2^32, so sum * 2000 stays far below 2^64.
  return (sum * 2000 / n + 1) / 2;
}

uint64_t ticks_to_us_milli(uint32_t ticks, uint32_t ticks_per_s) {
  // ticks < 2^32, so ticks * 2e9 < 8.6e18 stays below 2^64.
  return (static_cast<uint64_t>(ticks) * 2000000000u / ticks_per_s + 1) / 2;
}

// Square root by Newton's method from above: the iterates fall monotonically to
// sqrt(v), so stopping at the first non-decrease gives the double's precision
// without libm (kept out of these portable files).
static double sqrt_newton(double v) {
  if (v <= 0.0) return 0.0;
  double x = v > 1.0 ? v : 1.0;
  for (int i = 0; i < 2000; ++i) {
    double next = 0.5 * (x + v / x);
    if (next >= x) break;
    x = next;
  }
  return x;
}

void compute_stats(uint32_t* a, uint32_t n, Stats* out) {
  sort_u32(a, n);
  uint64_t sum = 0;
  for (uint32_t i = 0; i < n; ++i) sum += a[i];
  const double mean = static_cast<double>(sum) / n;
  double squares = 0.0;
  for (uint32_t i = 0; i < n; ++i) {
    double d = a[i] - mean;
    squares += d * d;
  }

  out->n = n;
  out->mean_milli = mean_milli(sum, n);
  out->std_milli = static_cast<uint64_t>(sqrt_newton(squares / n) * 1000.0 + 0.5);
  out->min_milli = static_cast<uint64_t>(a[0]) * 1000;
  out->max_milli = static_cast<uint64_t>(a[n - 1]) * 1000;
  // (a + b) / 2 in thousandths is (a + b) * 500: exact.
  const uint32_t mid = n / 2;
  out->median_milli = n % 2 ? static_cast<uint64_t>(a[mid]) * 1000
                            : (static_cast<uint64_t>(a[mid - 1]) + a[mid]) * 500;
  // rank 0.95*(n-1) = lo + frac/100 exactly; a[lo] + (a[lo+1]-a[lo]) * frac/100
  // in thousandths is an integer, so p95 needs no floating point at all.
  const uint32_t rank100 = 95 * (n - 1);
  const uint32_t lo = rank100 / 100;
  const uint32_t frac = rank100 % 100;
  out->p95_milli = static_cast<uint64_t>(a[lo]) * 1000;
  if (frac != 0) out->p95_milli += static_cast<uint64_t>(a[lo + 1] - a[lo]) * frac * 10;
}

}  // namespace txp
