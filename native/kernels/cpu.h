// Internal CPU feature dispatch shared by the native kernels.
#pragma once

namespace alter {
enum class Isa { Portable, Avx2, Avx512 };
Isa active_isa();
}  // namespace alter
