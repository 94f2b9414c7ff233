#!/bin/sh
# `npm run test:native`: the standalone C++ kernel tests (native/tests/*.cc) against naive
# double-precision references, on every ISA the machine has. Built straight with g++ (no node-gyp),
# so a kernel bug shows up with the exact failing case. Exit status: non-zero on any failure.
set -eu
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for t in kernels_test gemm_conv_test; do
  g++ -O2 -std=c++17 -pthread -Wno-psabi -Inative/kernels native/kernels/*.cc "native/tests/$t.cc" -o "$out/$t"
done
status=0
"$out/kernels_test" > "$out/kernels.log" || status=$?
grep -E "^(FAIL|==)|checks" "$out/kernels.log" || true
"$out/gemm_conv_test" --no-bench | tail -3 || status=1
exit "$status"
