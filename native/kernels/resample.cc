// Nearest-neighbour 2x upsampling and k x k / stride k average pooling, NHWC.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "parallel.h"

namespace alter {

void upsample_nearest2x_forward(int64_t N, int64_t H, int64_t W, int64_t C, const float* x,
                                float* y) {
  if (N <= 0 || H <= 0 || W <= 0 || C <= 0) return;
  const int64_t rowOut = 2 * W * C;
  parallel_for(N * H, std::max<int64_t>(1, 16384 / (W * C)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {  // r = n*H + h
      const float* xr = x + r * W * C;
      float* y0 = y + 2 * r * rowOut;
      for (int64_t w = 0; w < W; ++w) {
        std::memcpy(y0 + (2 * w) * C, xr + w * C, sizeof(float) * C);
        std::memcpy(y0 + (2 * w + 1) * C, xr + w * C, sizeof(float) * C);
      }
      std::memcpy(y0 + rowOut, y0, sizeof(float) * rowOut);
    }
  });
}

void upsample_nearest2x_backward(int64_t N, int64_t H, int64_t W, int64_t C, const float* dy,
                                 float* dx) {
  if (N <= 0 || H <= 0 || W <= 0 || C <= 0) return;
  const int64_t rowOut = 2 * W * C;
  parallel_for(N * H, std::max<int64_t>(1, 16384 / (W * C)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* d0 = dy + 2 * r * rowOut;
      const float* d1 = d0 + rowOut;
      float* o = dx + r * W * C;
      for (int64_t w = 0; w < W; ++w) {
        const float* a = d0 + 2 * w * C;
        const float* b = d1 + 2 * w * C;
        float* ow = o + w * C;
        for (int64_t c = 0; c < C; ++c) ow[c] = (a[c] + a[C + c]) + (b[c] + b[C + c]);
      }
    }
  });
}

void avg_pool2d_forward(int64_t N, int64_t H, int64_t W, int64_t C, int64_t k, const float* x,
                        float* y) {
  if (N <= 0 || H <= 0 || W <= 0 || C <= 0 || k <= 0) return;
  const int64_t OH = H / k, OW = W / k;
  if (OH <= 0 || OW <= 0) return;
  const float inv = 1.f / static_cast<float>(k * k);
  parallel_for(N * OH, std::max<int64_t>(1, 16384 / (W * C * k)), [&](int64_t r0, int64_t r1) {
    std::vector<float> acc(C);
    for (int64_t r = r0; r < r1; ++r) {  // r = n*OH + oh
      const int64_t n = r / OH, oh = r % OH;
      for (int64_t ow = 0; ow < OW; ++ow) {
        std::fill(acc.begin(), acc.end(), 0.f);
        for (int64_t i = 0; i < k; ++i) {
          const float* xr = x + ((n * H + oh * k + i) * W + ow * k) * C;
          for (int64_t j = 0; j < k; ++j)
            for (int64_t c = 0; c < C; ++c) acc[c] += xr[j * C + c];
        }
        float* o = y + (r * OW + ow) * C;
        for (int64_t c = 0; c < C; ++c) o[c] = acc[c] * inv;
      }
    }
  });
}

void avg_pool2d_backward(int64_t N, int64_t H, int64_t W, int64_t C, int64_t k, const float* dy,
                         float* dx) {
  if (N <= 0 || H <= 0 || W <= 0 || C <= 0 || k <= 0) return;
  const int64_t OH = H / k, OW = W / k;
  const float inv = 1.f / static_cast<float>(k * k);
  parallel_for(N * H, std::max<int64_t>(1, 16384 / (W * C)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {  // r = n*H + h
      const int64_t n = r / H, h = r % H;
      float* o = dx + r * W * C;
      if (h / k >= OH) {  // rows past the last full window (H not divisible by k) get no gradient
        std::fill(o, o + W * C, 0.f);
        continue;
      }
      const float* d = dy + (n * OH + h / k) * OW * C;
      for (int64_t w = 0; w < W; ++w) {
        float* ow = o + w * C;
        if (w / k >= OW) {
          std::fill(ow, ow + C, 0.f);
          continue;
        }
        const float* dw = d + (w / k) * C;
        for (int64_t c = 0; c < C; ++c) ow[c] = dw[c] * inv;
      }
    }
  });
}

}  // namespace alter
