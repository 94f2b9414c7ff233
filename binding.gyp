{
  "targets": [
    {
      "target_name": "alter_native",
      "sources": [
        "native/binding.cc",
        "native/kernels/parallel.cc",
        "native/kernels/cpu.cc",
        "native/kernels/gemm.cc",
        "native/kernels/conv2d.cc",
        "native/kernels/attention.cc",
        "native/kernels/norm.cc",
        "native/kernels/elementwise.cc",
        "native/kernels/reduce.cc",
        "native/kernels/resample.cc",
        "native/kernels/optim.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2", "-O0"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions", "-fno-math-errno", "-pthread", "-Wall", "-Wno-unused-function", "-Wno-psabi", "-Wno-maybe-uninitialized"],
      "ldflags": ["-pthread"]
    }
  ]
}
