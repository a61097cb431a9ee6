// <immintrin.h> for the files compiled with AVX-512 flags (simd/*_avx512.cc, embed's AVX-512
// and VNNI kernels). GCC 12's AVX-512 headers set up their "undefined" vectors in a way that
// trips -Wuninitialized (GCC bug 105593); the pragmas keep those false positives out of our
// -Werror build without hiding the warning anywhere else.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
