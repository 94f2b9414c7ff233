// Fused AdamW step, matching torch.optim.AdamW (single-tensor path):
//   p *= 1 - lr*wd
//   m = b1*m + (1-b1)*g ;  v = b2*v + (1-b2)*g*g
//   denom = sqrt(v) / sqrt(bc2) + eps ;  p -= (lr/bc1) * m / denom
// Scalars are formed in double (as Python does) and rounded to float once, as torch does when it
// passes them to its float kernels.
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "kernels.h"
#include "parallel.h"

namespace alter {
namespace {

// The betas arrive as float, but torch forms 1 - beta from the double the user wrote (0.999), and
// 1 - float(0.999) differs from 0.001 by 1.3e-5 relative. Recover the shortest decimal that rounds
// to the given float (exactly what the user typed, for up to 6 significant digits) and use it as
// the double value.
double shortest_decimal(float f) {
  char buf[32];
  for (int digits = 6; digits <= 9; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, static_cast<double>(f));
    const double d = std::strtod(buf, nullptr);
    if (static_cast<float>(d) == f) return d;
  }
  return f;
}

}  // namespace

void adamw_step(int64_t n, float* p, const float* g, float* m, float* v, float lr, float beta1,
                float beta2, float eps, float weightDecay, float bc1, float bc2) {
  if (n <= 0) return;
  const float decay = static_cast<float>(1.0 - static_cast<double>(lr) * weightDecay);
  const float b1 = beta1, b2 = beta2;
  const float omb1 = static_cast<float>(1.0 - shortest_decimal(beta1));
  const float omb2 = static_cast<float>(1.0 - shortest_decimal(beta2));
  const float step = static_cast<float>(static_cast<double>(lr) / bc1);
  const float bc2sqrt = static_cast<float>(std::sqrt(static_cast<double>(bc2)));
  parallel_for(n, 16384, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float gi = g[i];
      const float pi = p[i] * decay;
      const float mi = m[i] * b1 + omb1 * gi;
      const float vi = v[i] * b2 + omb2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      const float denom = std::sqrt(vi) / bc2sqrt + eps;
      p[i] = pi - step * (mi / denom);
    }
  });
}

}  // namespace alter
