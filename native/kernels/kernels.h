// The kernel contract: every numeric routine the engine runs natively, as plain C++ over raw float
// pointers. Nothing here knows about N-API; native/binding.cc is the only file that does.
//
// Conventions (shared with the TypeScript reference in src/engine/kernels/reference.ts):
//  - float32, row-major, contiguous unless a stride is passed explicitly; sizes are int64_t.
//  - activations are channels-last: an image batch is [N, H, W, C]; conv weights stay in PyTorch's
//    OIHW layout so checkpoints load unchanged (kernels repack internally).
//  - outputs are overwritten, never accumulated into, unless the name says "accumulate".
//  - every routine is safe for zero-sized inputs (it returns without touching memory).
#pragma once
#include <cstdint>

namespace alter {

// ---- threads (parallel.cc) ------------------------------------------------------------------
int num_threads();
void set_num_threads(int n);  // n <= 0 restores the default (hardware concurrency or ALTER_NUM_THREADS)

// ---- CPU features (cpu.cc) --------------------------------------------------------------------
// "avx512", "avx2" or "portable": the instruction set the dispatching kernels use on this machine.
const char* cpu_isa();
// Forces a lower ISA for testing ("avx2", "portable"); returns false if the name is unknown or
// the CPU does not support it.
bool force_isa(const char* name);
// Measured single-precision FMA throughput of all threads, in GFLOP/s (used by the benchmark to
// state the machine's peak).
double measure_peak_gflops();

// ---- matrix multiply (gemm.cc) ----------------------------------------------------------------
// C[M,N] = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T. lda/ldb/ldc are row strides of the
// matrices as stored. beta == 0 means C is not read (may hold garbage / NaN).
void sgemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc);
// The same over a batch: matrix i starts at A + i*strideA (strideA may be 0 to broadcast).
void sgemm_batched(int64_t batch, bool transA, bool transB, int64_t M, int64_t N, int64_t K,
                   float alpha, const float* A, int64_t strideA, int64_t lda, const float* B,
                   int64_t strideB, int64_t ldb, float beta, float* C, int64_t strideC,
                   int64_t ldc);

// ---- 2-D convolution, x NHWC, w OIHW, y NHWC (conv2d.cc) -----------------------------------
struct Conv2dShape {
  int64_t N, H, W, C;           // input
  int64_t O, KH, KW;            // output channels, kernel size
  int64_t strideH, strideW, padH, padW;
  int64_t OH, OW;               // (H + 2*padH - KH) / strideH + 1, likewise OW
};
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, const float* bias,
                    float* y);  // bias may be null
void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx);
void conv2d_backward_weight(const Conv2dShape& s, const float* dy, const float* x, float* dw,
                            float* dbias);  // dw OIHW; dbias may be null

// ---- fused scaled-dot-product attention (attention.cc) --------------------------------------
// q [B, Lq, H, D], k and v [B, Lk, H, D] (the layout a Linear projection produces, so no head
// transpose is needed), out [B, Lq, H, D], lse [B, H, Lq] = log-sum-exp of the scaled scores
// (saved by forward for backward). Never materialises an Lq x Lk matrix per head: works in tiles.
struct AttentionShape {
  int64_t B, H, Lq, Lk, D;
  float scale;  // usually 1/sqrt(D)
};
void attention_forward(const AttentionShape& s, const float* q, const float* k, const float* v,
                       float* out, float* lse);
void attention_backward(const AttentionShape& s, const float* q, const float* k, const float* v,
                        const float* out, const float* lse, const float* dout, float* dq,
                        float* dk, float* dv);

// ---- normalisation (norm.cc) ------------------------------------------------------------------
// Group norm over channels-last x [N, HW, C]; group g holds channels [g*C/G, (g+1)*C/G).
// mean and rstd [N, G] are saved for backward. gamma/beta [C] may be null (identity affine).
void group_norm_forward(int64_t N, int64_t HW, int64_t C, int64_t G, float eps, const float* x,
                        const float* gamma, const float* beta, float* y, float* mean, float* rstd);
void group_norm_backward(int64_t N, int64_t HW, int64_t C, int64_t G, const float* dy,
                         const float* x, const float* mean, const float* rstd,
                         const float* gamma, float* dx, float* dgamma, float* dbeta);
// Layer norm over the last dimension D of x [R, D]; mean/rstd [R]. gamma/beta may be null, and
// dgamma/dbeta may be null when not needed.
void layer_norm_forward(int64_t R, int64_t D, float eps, const float* x, const float* gamma,
                        const float* beta, float* y, float* mean, float* rstd);
void layer_norm_backward(int64_t R, int64_t D, const float* dy, const float* x, const float* mean,
                         const float* rstd, const float* gamma, float* dx, float* dgamma,
                         float* dbeta);
// Softmax (or log-softmax) over the last dimension of x [R, D].
void softmax_forward(int64_t R, int64_t D, bool log, const float* x, float* y);
// Given y = forward output: softmax dx = y*(dy - sum(dy*y)); log-softmax dx = dy - exp(y)*sum(dy).
void softmax_backward(int64_t R, int64_t D, bool log, const float* y, const float* dy, float* dx);

// ---- elementwise (elementwise.cc) --------------------------------------------------------------
enum class Unary : int {
  Neg = 0, Exp = 1, Log = 2, Sqrt = 3, Abs = 4, Sigmoid = 5, Silu = 6, GeluErf = 7,
  GeluTanh = 8, Relu = 9, Tanh = 10, Square = 11, Reciprocal = 12, Sign = 13,
};
void unary_forward(Unary op, int64_t n, const float* x, float* y);
// dx = dy * f'(x); y = f(x) is passed too because some derivatives are cheapest from it.
void unary_backward(Unary op, int64_t n, const float* x, const float* y, const float* dy,
                    float* dx);

enum class Binary : int {
  Add = 0, Sub = 1, Mul = 2, Div = 3, Pow = 4, Maximum = 5, Minimum = 6,
  Greater = 7, Less = 8, Equal = 9,  // comparisons give 1.0f / 0.0f
};
// out[i] = a[...] op b[...] over an output of the given rank and shape; aStrides/bStrides are
// element strides per output dimension (0 where that input is broadcast). rank <= 8.
void binary_forward(Binary op, int rank, const int64_t* shape, const float* a,
                    const int64_t* aStrides, const float* b, const int64_t* bStrides, float* out);
// y = clamp(x, lo, hi) and its backward (gradient passes where lo <= x <= hi).
void clamp_forward(int64_t n, float lo, float hi, const float* x, float* y);
void clamp_backward(int64_t n, float lo, float hi, const float* x, const float* dy, float* dx);
// out = cond != 0 ? a : b, all contiguous of length n (the caller broadcasts first).
void where_forward(int64_t n, const float* cond, const float* a, const float* b, float* out);
// y = a*x + b*y (in place on y): the workhorse of gradient accumulation and optimizers.
void axpby(int64_t n, float a, const float* x, float b, float* y);
void fill(int64_t n, float value, float* y);

// ---- reductions and layout (reduce.cc) ---------------------------------------------------------
// x viewed as [outer, r, inner]; out [outer, inner].
enum class Reduce : int { Sum = 0, Max = 1, Min = 2 };
void reduce(Reduce op, int64_t outer, int64_t r, int64_t inner, const float* x, float* out);
void argmax(int64_t outer, int64_t r, int64_t inner, const float* x, int32_t* out);
// Sum of squares of x[0..n) in double precision (gradient-norm clipping, RMS checks).
double sum_squares(int64_t n, const float* x);
// Strided gather into a contiguous output: out has the given rank and shape; element
// (i0..ik) is read from x[offset + sum(i_j * xStrides[j])]. Covers permute, slice, expand.
void strided_copy(int rank, const int64_t* shape, const float* x, int64_t offset,
                  const int64_t* xStrides, float* out);
// The adjoint: out[...] += x contiguous, scattered with the strides (slice/expand backward).
// Strides may alias (expand) — the kernel must accumulate correctly then.
void strided_add(int rank, const int64_t* shape, const float* x, float* out, int64_t offset,
                 const int64_t* outStrides);

// ---- spatial resampling, NHWC (resample.cc) ------------------------------------------------------
void upsample_nearest2x_forward(int64_t N, int64_t H, int64_t W, int64_t C, const float* x,
                                float* y);  // y [N, 2H, 2W, C]
void upsample_nearest2x_backward(int64_t N, int64_t H, int64_t W, int64_t C, const float* dy,
                                 float* dx);  // dx [N, H, W, C]
// Average pooling with a k x k window and stride k (no padding); H and W divisible by k.
void avg_pool2d_forward(int64_t N, int64_t H, int64_t W, int64_t C, int64_t k, const float* x,
                        float* y);
void avg_pool2d_backward(int64_t N, int64_t H, int64_t W, int64_t C, int64_t k, const float* dy,
                         float* dx);

// ---- indexing (reduce.cc) -------------------------------------------------------------------------
// out[i, :] = table[idx[i], :] for i < n; table [rows, D]. Indices are checked by the caller.
void gather_rows(int64_t n, int64_t D, const float* table, const int32_t* idx, float* out);
// dtable[idx[i], :] += dout[i, :] (dtable is accumulated, repeated indices add up).
void scatter_add_rows(int64_t n, int64_t D, const float* dout, const int32_t* idx, float* dtable);

// ---- optimizer (optim.cc) -------------------------------------------------------------------------
// One fused AdamW update over n parameters (decoupled weight decay, Loshchilov & Hutter):
// p -= lr*wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
// p -= lr * (m / bc1) / (sqrt(v / bc2) + eps), bc1 = 1 - b1^t, bc2 = 1 - b2^t.
// The scalars are doubles so that 1 - beta is formed exactly as PyTorch forms it in Python.
void adamw_step(int64_t n, float* p, const float* g, float* m, float* v, double lr, double beta1,
                double beta2, double eps, double weightDecay, double bc1, double bc2);

}  // namespace alter
