// Fused AdamW step, matching torch.optim.AdamW (single-tensor path):
//   p *= 1 - lr*wd
//   m = b1*m + (1-b1)*g ;  v = b2*v + (1-b2)*g*g
//   denom = sqrt(v) / sqrt(bc2) + eps ;  p -= (lr/bc1) * m / denom
// Scalars are formed in double (as Python does) and rounded to float once, as torch does when it
// passes them to its float kernels.
#include <cmath>

#include "kernels.h"
#include "parallel.h"

namespace alter {

void adamw_step(int64_t n, float* p, const float* g, float* m, float* v, float lr, float beta1,
                float beta2, float eps, float weightDecay, float bc1, float bc2) {
  if (n <= 0) return;
  const float decay = static_cast<float>(1.0 - static_cast<double>(lr) * weightDecay);
  const float b1 = beta1, b2 = beta2;
  const float omb1 = static_cast<float>(1.0 - static_cast<double>(beta1));
  const float omb2 = static_cast<float>(1.0 - static_cast<double>(beta2));
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
