// The N-API face of the kernels: unpacks JavaScript arguments, checks that every typed array is long
// enough for the sizes given (a short array is a JavaScript TypeError, never a native overrun), and
// calls the plain C++ kernels in kernels/. No arithmetic on tensor data happens in this file.
#include <napi.h>

#include <string>
#include <vector>

#include "kernels/kernels.h"

namespace {

using alter::Binary;
using alter::Reduce;
using alter::Unary;

struct Args {
  const Napi::CallbackInfo& info;
  const char* fn;

  [[noreturn]] void fail(size_t i, const std::string& what) const {
    throw Napi::TypeError::New(info.Env(), std::string("alter native ") + fn + ": argument " +
                                               std::to_string(i) + " " + what);
  }
  int64_t i64(size_t i) const {
    if (!info[i].IsNumber()) fail(i, "must be a number");
    double v = info[i].As<Napi::Number>().DoubleValue();
    if (v != static_cast<double>(static_cast<int64_t>(v))) fail(i, "must be an integer");
    return static_cast<int64_t>(v);
  }
  int64_t size(size_t i) const {
    int64_t v = i64(i);
    if (v < 0) fail(i, "must be >= 0");
    return v;
  }
  float f32(size_t i) const {
    if (!info[i].IsNumber()) fail(i, "must be a number");
    return info[i].As<Napi::Number>().FloatValue();
  }
  double f64(size_t i) const {
    if (!info[i].IsNumber()) fail(i, "must be a number");
    return info[i].As<Napi::Number>().DoubleValue();
  }
  bool flag(size_t i) const {
    if (!info[i].IsBoolean()) fail(i, "must be a boolean");
    return info[i].As<Napi::Boolean>().Value();
  }
  // A Float32Array holding at least `need` elements (need < 0: any length).
  float* floats(size_t i, int64_t need) const {
    if (!info[i].IsTypedArray() ||
        info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      fail(i, "must be a Float32Array");
    auto arr = info[i].As<Napi::Float32Array>();
    if (need >= 0 && static_cast<int64_t>(arr.ElementLength()) < need)
      fail(i, "holds " + std::to_string(arr.ElementLength()) + " floats, needs " +
                  std::to_string(need));
    return arr.Data();
  }
  float* floats_or_null(size_t i, int64_t need) const {
    if (info[i].IsNull() || info[i].IsUndefined()) return nullptr;
    return floats(i, need);
  }
  int32_t* ints(size_t i, int64_t need) const {
    if (!info[i].IsTypedArray() ||
        info[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      fail(i, "must be an Int32Array");
    auto arr = info[i].As<Napi::Int32Array>();
    if (static_cast<int64_t>(arr.ElementLength()) < need)
      fail(i, "holds " + std::to_string(arr.ElementLength()) + " ints, needs " +
                  std::to_string(need));
    return arr.Data();
  }
  std::vector<int64_t> dims(size_t i) const {
    if (!info[i].IsArray()) fail(i, "must be an array of integers");
    auto arr = info[i].As<Napi::Array>();
    if (arr.Length() > 8) fail(i, "has rank > 8");
    std::vector<int64_t> out(arr.Length());
    for (uint32_t j = 0; j < arr.Length(); ++j) {
      Napi::Value v = arr.Get(j);
      if (!v.IsNumber()) fail(i, "must be an array of integers");
      out[j] = static_cast<int64_t>(v.As<Napi::Number>().DoubleValue());
    }
    return out;
  }
  int64_t i64_field(const Napi::Object& o, const char* key) const {
    Napi::Value v = o.Get(key);
    if (!v.IsNumber()) fail(0, std::string("field ") + key + " must be a number");
    return static_cast<int64_t>(v.As<Napi::Number>().DoubleValue());
  }
};

// Elements spanned by a row-major matrix of `rows` rows with row stride ld (last row only needs
// `cols` elements).
int64_t span(int64_t rows, int64_t cols, int64_t ld) {
  return rows == 0 || cols == 0 ? 0 : (rows - 1) * ld + cols;
}

// Elements needed by a strided view: 1 + sum((shape_i - 1) * stride_i), or 0 if empty.
int64_t strided_span(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides,
                     int64_t offset) {
  int64_t last = offset;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) return 0;
    last += (shape[i] - 1) * strides[i];
  }
  return last + 1;
}

Napi::Value CpuIsa(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), alter::cpu_isa());
}
Napi::Value ForceIsa(const Napi::CallbackInfo& info) {
  std::string name = info[0].As<Napi::String>().Utf8Value();
  return Napi::Boolean::New(info.Env(), alter::force_isa(name.c_str()));
}
Napi::Value PeakGflops(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), alter::measure_peak_gflops());
}
Napi::Value NumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), alter::num_threads());
}
void SetNumThreads(const Napi::CallbackInfo& info) {
  Args a{info, "setNumThreads"};
  alter::set_num_threads(static_cast<int>(a.i64(0)));
}

void Sgemm(const Napi::CallbackInfo& info) {
  Args a{info, "sgemm"};
  bool tA = a.flag(0), tB = a.flag(1);
  int64_t M = a.size(2), N = a.size(3), K = a.size(4);
  float alpha = a.f32(5);
  int64_t lda = a.size(7), ldb = a.size(9), ldc = a.size(12);
  float beta = a.f32(10);
  const float* A = a.floats(6, tA ? span(K, M, lda) : span(M, K, lda));
  const float* B = a.floats(8, tB ? span(N, K, ldb) : span(K, N, ldb));
  float* C = a.floats(11, span(M, N, ldc));
  alter::sgemm(tA, tB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void SgemmBatched(const Napi::CallbackInfo& info) {
  Args a{info, "sgemmBatched"};
  int64_t batch = a.size(0);
  bool tA = a.flag(1), tB = a.flag(2);
  int64_t M = a.size(3), N = a.size(4), K = a.size(5);
  float alpha = a.f32(6);
  int64_t sA = a.size(8), lda = a.size(9), sB = a.size(11), ldb = a.size(12);
  float beta = a.f32(13);
  int64_t sC = a.size(15), ldc = a.size(16);
  int64_t last = batch == 0 ? 0 : batch - 1;
  const float* A = a.floats(7, batch == 0 ? 0 : last * sA + (tA ? span(K, M, lda) : span(M, K, lda)));
  const float* B = a.floats(10, batch == 0 ? 0 : last * sB + (tB ? span(N, K, ldb) : span(K, N, ldb)));
  float* C = a.floats(14, batch == 0 ? 0 : last * sC + span(M, N, ldc));
  alter::sgemm_batched(batch, tA, tB, M, N, K, alpha, A, sA, lda, B, sB, ldb, beta, C, sC, ldc);
}

alter::Conv2dShape conv_shape(const Args& a) {
  Napi::Object o = a.info[0].As<Napi::Object>();
  alter::Conv2dShape s{};
  s.N = a.i64_field(o, "N"); s.H = a.i64_field(o, "H"); s.W = a.i64_field(o, "W");
  s.C = a.i64_field(o, "C"); s.O = a.i64_field(o, "O"); s.KH = a.i64_field(o, "KH");
  s.KW = a.i64_field(o, "KW"); s.strideH = a.i64_field(o, "strideH");
  s.strideW = a.i64_field(o, "strideW"); s.padH = a.i64_field(o, "padH");
  s.padW = a.i64_field(o, "padW"); s.OH = a.i64_field(o, "OH"); s.OW = a.i64_field(o, "OW");
  if (s.N < 0 || s.H < 0 || s.W < 0 || s.C <= 0 || s.O <= 0 || s.KH <= 0 || s.KW <= 0 ||
      s.strideH <= 0 || s.strideW <= 0 || s.padH < 0 || s.padW < 0 ||
      s.OH != (s.H + 2 * s.padH - s.KH) / s.strideH + 1 ||
      s.OW != (s.W + 2 * s.padW - s.KW) / s.strideW + 1)
    a.fail(0, "is an inconsistent Conv2dShape");
  return s;
}

void Conv2dForward(const Napi::CallbackInfo& info) {
  Args a{info, "conv2dForward"};
  auto s = conv_shape(a);
  alter::conv2d_forward(s, a.floats(1, s.N * s.H * s.W * s.C), a.floats(2, s.O * s.C * s.KH * s.KW),
                        a.floats_or_null(3, s.O), a.floats(4, s.N * s.OH * s.OW * s.O));
}
void Conv2dBackwardInput(const Napi::CallbackInfo& info) {
  Args a{info, "conv2dBackwardInput"};
  auto s = conv_shape(a);
  alter::conv2d_backward_input(s, a.floats(1, s.N * s.OH * s.OW * s.O),
                               a.floats(2, s.O * s.C * s.KH * s.KW), a.floats(3, s.N * s.H * s.W * s.C));
}
void Conv2dBackwardWeight(const Napi::CallbackInfo& info) {
  Args a{info, "conv2dBackwardWeight"};
  auto s = conv_shape(a);
  alter::conv2d_backward_weight(s, a.floats(1, s.N * s.OH * s.OW * s.O),
                                a.floats(2, s.N * s.H * s.W * s.C),
                                a.floats(3, s.O * s.C * s.KH * s.KW), a.floats_or_null(4, s.O));
}

alter::AttentionShape attention_shape(const Args& a) {
  Napi::Object o = a.info[0].As<Napi::Object>();
  alter::AttentionShape s{};
  s.B = a.i64_field(o, "B"); s.H = a.i64_field(o, "H"); s.Lq = a.i64_field(o, "Lq");
  s.Lk = a.i64_field(o, "Lk"); s.D = a.i64_field(o, "D");
  Napi::Value scale = o.Get("scale");
  if (!scale.IsNumber()) a.fail(0, "field scale must be a number");
  s.scale = scale.As<Napi::Number>().FloatValue();
  if (s.B < 0 || s.H <= 0 || s.Lq < 0 || s.Lk <= 0 || s.D <= 0)
    a.fail(0, "is an invalid AttentionShape (Lk, H and D must be positive)");
  return s;
}

void AttentionForward(const Napi::CallbackInfo& info) {
  Args a{info, "attentionForward"};
  auto s = attention_shape(a);
  int64_t nq = s.B * s.Lq * s.H * s.D, nk = s.B * s.Lk * s.H * s.D;
  alter::attention_forward(s, a.floats(1, nq), a.floats(2, nk), a.floats(3, nk), a.floats(4, nq),
                           a.floats(5, s.B * s.H * s.Lq));
}
void AttentionBackward(const Napi::CallbackInfo& info) {
  Args a{info, "attentionBackward"};
  auto s = attention_shape(a);
  int64_t nq = s.B * s.Lq * s.H * s.D, nk = s.B * s.Lk * s.H * s.D;
  alter::attention_backward(s, a.floats(1, nq), a.floats(2, nk), a.floats(3, nk), a.floats(4, nq),
                            a.floats(5, s.B * s.H * s.Lq), a.floats(6, nq), a.floats(7, nq),
                            a.floats(8, nk), a.floats(9, nk));
}

void GroupNormForward(const Napi::CallbackInfo& info) {
  Args a{info, "groupNormForward"};
  int64_t N = a.size(0), HW = a.size(1), C = a.size(2), G = a.size(3);
  if (G <= 0 || C % G != 0) a.fail(3, "must be a positive divisor of the channel count");
  float eps = a.f32(4);
  int64_t n = N * HW * C;
  alter::group_norm_forward(N, HW, C, G, eps, a.floats(5, n), a.floats_or_null(6, C),
                            a.floats_or_null(7, C), a.floats(8, n), a.floats(9, N * G),
                            a.floats(10, N * G));
}
void GroupNormBackward(const Napi::CallbackInfo& info) {
  Args a{info, "groupNormBackward"};
  int64_t N = a.size(0), HW = a.size(1), C = a.size(2), G = a.size(3);
  if (G <= 0 || C % G != 0) a.fail(3, "must be a positive divisor of the channel count");
  int64_t n = N * HW * C;
  alter::group_norm_backward(N, HW, C, G, a.floats(4, n), a.floats(5, n), a.floats(6, N * G),
                             a.floats(7, N * G), a.floats_or_null(8, C), a.floats(9, n),
                             a.floats_or_null(10, C), a.floats_or_null(11, C));
}
void LayerNormForward(const Napi::CallbackInfo& info) {
  Args a{info, "layerNormForward"};
  int64_t R = a.size(0), D = a.size(1);
  float eps = a.f32(2);
  alter::layer_norm_forward(R, D, eps, a.floats(3, R * D), a.floats_or_null(4, D),
                            a.floats_or_null(5, D), a.floats(6, R * D), a.floats(7, R),
                            a.floats(8, R));
}
void LayerNormBackward(const Napi::CallbackInfo& info) {
  Args a{info, "layerNormBackward"};
  int64_t R = a.size(0), D = a.size(1);
  alter::layer_norm_backward(R, D, a.floats(2, R * D), a.floats(3, R * D), a.floats(4, R),
                             a.floats(5, R), a.floats_or_null(6, D), a.floats(7, R * D),
                             a.floats_or_null(8, D), a.floats_or_null(9, D));
}
void SoftmaxForward(const Napi::CallbackInfo& info) {
  Args a{info, "softmaxForward"};
  int64_t R = a.size(0), D = a.size(1);
  alter::softmax_forward(R, D, a.flag(2), a.floats(3, R * D), a.floats(4, R * D));
}
void SoftmaxBackward(const Napi::CallbackInfo& info) {
  Args a{info, "softmaxBackward"};
  int64_t R = a.size(0), D = a.size(1);
  alter::softmax_backward(R, D, a.flag(2), a.floats(3, R * D), a.floats(4, R * D),
                          a.floats(5, R * D));
}

Unary unary_op(const Args& a, size_t i) {
  int64_t op = a.i64(i);
  if (op < 0 || op > static_cast<int64_t>(Unary::Sign)) a.fail(i, "is not a unary op code");
  return static_cast<Unary>(op);
}
void UnaryForward(const Napi::CallbackInfo& info) {
  Args a{info, "unaryForward"};
  Unary op = unary_op(a, 0);
  int64_t n = a.size(1);
  alter::unary_forward(op, n, a.floats(2, n), a.floats(3, n));
}
void UnaryBackward(const Napi::CallbackInfo& info) {
  Args a{info, "unaryBackward"};
  Unary op = unary_op(a, 0);
  int64_t n = a.size(1);
  alter::unary_backward(op, n, a.floats(2, n), a.floats(3, n), a.floats(4, n), a.floats(5, n));
}
void BinaryForward(const Napi::CallbackInfo& info) {
  Args a{info, "binaryForward"};
  int64_t op = a.i64(0);
  if (op < 0 || op > static_cast<int64_t>(Binary::Equal)) a.fail(0, "is not a binary op code");
  auto shape = a.dims(1), sa = a.dims(3), sb = a.dims(5);
  if (sa.size() != shape.size() || sb.size() != shape.size()) a.fail(3, "rank differs from shape");
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  float* x = a.floats(2, strided_span(shape, sa, 0));
  float* y = a.floats(4, strided_span(shape, sb, 0));
  alter::binary_forward(static_cast<Binary>(op), static_cast<int>(shape.size()), shape.data(), x,
                        sa.data(), y, sb.data(), a.floats(6, n));
}
void ClampForward(const Napi::CallbackInfo& info) {
  Args a{info, "clampForward"};
  int64_t n = a.size(0);
  alter::clamp_forward(n, a.f32(1), a.f32(2), a.floats(3, n), a.floats(4, n));
}
void ClampBackward(const Napi::CallbackInfo& info) {
  Args a{info, "clampBackward"};
  int64_t n = a.size(0);
  alter::clamp_backward(n, a.f32(1), a.f32(2), a.floats(3, n), a.floats(4, n), a.floats(5, n));
}
void WhereForward(const Napi::CallbackInfo& info) {
  Args a{info, "whereForward"};
  int64_t n = a.size(0);
  alter::where_forward(n, a.floats(1, n), a.floats(2, n), a.floats(3, n), a.floats(4, n));
}
void Axpby(const Napi::CallbackInfo& info) {
  Args a{info, "axpby"};
  int64_t n = a.size(0);
  alter::axpby(n, a.f32(1), a.floats(2, n), a.f32(3), a.floats(4, n));
}
void Fill(const Napi::CallbackInfo& info) {
  Args a{info, "fill"};
  int64_t n = a.size(0);
  alter::fill(n, a.f32(1), a.floats(2, n));
}

void ReduceKernel(const Napi::CallbackInfo& info) {
  Args a{info, "reduce"};
  int64_t op = a.i64(0);
  if (op < 0 || op > static_cast<int64_t>(Reduce::Min)) a.fail(0, "is not a reduce op code");
  int64_t outer = a.size(1), r = a.size(2), inner = a.size(3);
  alter::reduce(static_cast<Reduce>(op), outer, r, inner, a.floats(4, outer * r * inner),
                a.floats(5, outer * inner));
}
void Argmax(const Napi::CallbackInfo& info) {
  Args a{info, "argmax"};
  int64_t outer = a.size(0), r = a.size(1), inner = a.size(2);
  if (r == 0) a.fail(1, "must be positive (argmax of an empty axis)");
  alter::argmax(outer, r, inner, a.floats(3, outer * r * inner), a.ints(4, outer * inner));
}
Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  Args a{info, "sumSquares"};
  int64_t n = a.size(0);
  return Napi::Number::New(info.Env(), alter::sum_squares(n, a.floats(1, n)));
}
void StridedCopy(const Napi::CallbackInfo& info) {
  Args a{info, "stridedCopy"};
  auto shape = a.dims(0), strides = a.dims(3);
  if (strides.size() != shape.size()) a.fail(3, "rank differs from shape");
  int64_t offset = a.size(2), n = 1;
  for (int64_t d : shape) n *= d;
  const float* x = a.floats(1, strided_span(shape, strides, offset));
  alter::strided_copy(static_cast<int>(shape.size()), shape.data(), x, offset, strides.data(),
                      a.floats(4, n));
}
void StridedAdd(const Napi::CallbackInfo& info) {
  Args a{info, "stridedAdd"};
  auto shape = a.dims(0), strides = a.dims(4);
  if (strides.size() != shape.size()) a.fail(4, "rank differs from shape");
  int64_t offset = a.size(3), n = 1;
  for (int64_t d : shape) n *= d;
  const float* x = a.floats(1, n);
  float* out = a.floats(2, strided_span(shape, strides, offset));
  alter::strided_add(static_cast<int>(shape.size()), shape.data(), x, out, offset, strides.data());
}

void UpsampleForward(const Napi::CallbackInfo& info) {
  Args a{info, "upsampleNearest2xForward"};
  int64_t N = a.size(0), H = a.size(1), W = a.size(2), C = a.size(3);
  alter::upsample_nearest2x_forward(N, H, W, C, a.floats(4, N * H * W * C),
                                    a.floats(5, 4 * N * H * W * C));
}
void UpsampleBackward(const Napi::CallbackInfo& info) {
  Args a{info, "upsampleNearest2xBackward"};
  int64_t N = a.size(0), H = a.size(1), W = a.size(2), C = a.size(3);
  alter::upsample_nearest2x_backward(N, H, W, C, a.floats(4, 4 * N * H * W * C),
                                     a.floats(5, N * H * W * C));
}
void AvgPoolForward(const Napi::CallbackInfo& info) {
  Args a{info, "avgPool2dForward"};
  int64_t N = a.size(0), H = a.size(1), W = a.size(2), C = a.size(3), k = a.size(4);
  if (k <= 0 || H % k != 0 || W % k != 0) a.fail(4, "must be a positive divisor of H and W");
  alter::avg_pool2d_forward(N, H, W, C, k, a.floats(5, N * H * W * C),
                            a.floats(6, N * (H / k) * (W / k) * C));
}
void AvgPoolBackward(const Napi::CallbackInfo& info) {
  Args a{info, "avgPool2dBackward"};
  int64_t N = a.size(0), H = a.size(1), W = a.size(2), C = a.size(3), k = a.size(4);
  if (k <= 0 || H % k != 0 || W % k != 0) a.fail(4, "must be a positive divisor of H and W");
  alter::avg_pool2d_backward(N, H, W, C, k, a.floats(5, N * (H / k) * (W / k) * C),
                             a.floats(6, N * H * W * C));
}

void GatherRows(const Napi::CallbackInfo& info) {
  Args a{info, "gatherRows"};
  int64_t n = a.size(0), D = a.size(1);
  auto table = a.info[2].As<Napi::Float32Array>();
  int64_t rows = D == 0 ? 0 : static_cast<int64_t>(table.ElementLength()) / D;
  const int32_t* idx = a.ints(3, n);
  for (int64_t i = 0; i < n; ++i)
    if (idx[i] < 0 || idx[i] >= rows) a.fail(3, "holds an index outside the table");
  alter::gather_rows(n, D, a.floats(2, rows * D), idx, a.floats(4, n * D));
}
void ScatterAddRows(const Napi::CallbackInfo& info) {
  Args a{info, "scatterAddRows"};
  int64_t n = a.size(0), D = a.size(1);
  auto table = a.info[4].As<Napi::Float32Array>();
  int64_t rows = D == 0 ? 0 : static_cast<int64_t>(table.ElementLength()) / D;
  const int32_t* idx = a.ints(3, n);
  for (int64_t i = 0; i < n; ++i)
    if (idx[i] < 0 || idx[i] >= rows) a.fail(3, "holds an index outside the table");
  alter::scatter_add_rows(n, D, a.floats(2, n * D), idx, a.floats(4, rows * D));
}

void AdamwStep(const Napi::CallbackInfo& info) {
  Args a{info, "adamwStep"};
  int64_t n = a.size(0);
  alter::adamw_step(n, a.floats(1, n), a.floats(2, n), a.floats(3, n), a.floats(4, n), a.f64(5),
                    a.f64(6), a.f64(7), a.f64(8), a.f64(9), a.f64(10), a.f64(11));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto add = [&](const char* name, auto fn) { exports.Set(name, Napi::Function::New(env, fn, name)); };
  add("cpuIsa", CpuIsa);
  add("forceIsa", ForceIsa);
  add("measurePeakGflops", PeakGflops);
  add("numThreads", NumThreads);
  add("setNumThreads", SetNumThreads);
  add("sgemm", Sgemm);
  add("sgemmBatched", SgemmBatched);
  add("conv2dForward", Conv2dForward);
  add("conv2dBackwardInput", Conv2dBackwardInput);
  add("conv2dBackwardWeight", Conv2dBackwardWeight);
  add("attentionForward", AttentionForward);
  add("attentionBackward", AttentionBackward);
  add("groupNormForward", GroupNormForward);
  add("groupNormBackward", GroupNormBackward);
  add("layerNormForward", LayerNormForward);
  add("layerNormBackward", LayerNormBackward);
  add("softmaxForward", SoftmaxForward);
  add("softmaxBackward", SoftmaxBackward);
  add("unaryForward", UnaryForward);
  add("unaryBackward", UnaryBackward);
  add("binaryForward", BinaryForward);
  add("clampForward", ClampForward);
  add("clampBackward", ClampBackward);
  add("whereForward", WhereForward);
  add("axpby", Axpby);
  add("fill", Fill);
  add("reduce", ReduceKernel);
  add("argmax", Argmax);
  add("sumSquares", SumSquares);
  add("stridedCopy", StridedCopy);
  add("stridedAdd", StridedAdd);
  add("upsampleNearest2xForward", UpsampleForward);
  add("upsampleNearest2xBackward", UpsampleBackward);
  add("avgPool2dForward", AvgPoolForward);
  add("avgPool2dBackward", AvgPoolBackward);
  add("gatherRows", GatherRows);
  add("scatterAddRows", ScatterAddRows);
  add("adamwStep", AdamwStep);
  return exports;
}

}  // namespace

NODE_API_MODULE(alter_native, Init)
