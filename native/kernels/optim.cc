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

void adamw_step(int64_t n, float* p, const float* g, float* m, float* v, double lr, double beta1,
                double beta2, double eps_d, double weightDecay, double bc1, double bc2) {
  if (n <= 0) return;
  const float decay = static_cast<float>(1.0 - lr * weightDecay);
  const float b1 = static_cast<float>(beta1), b2 = static_cast<float>(beta2);
  const float omb1 = static_cast<float>(1.0 - beta1);
  const float omb2 = static_cast<float>(1.0 - beta2);
  const float step = static_cast<float>(lr / bc1);
  const float bc2sqrt = static_cast<float>(std::sqrt(bc2));
  const float eps = static_cast<float>(eps_d);
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
