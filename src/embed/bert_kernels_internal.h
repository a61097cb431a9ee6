// Declarations shared by the ISA variants of the BERT kernels and their dispatcher. Only
// declarations: the variant files are compiled with ISA flags, and an inline function they
// instantiated could be picked by the linker for callers on CPUs without those instructions.
#pragma once

#include "embed/bert_kernels.h"

namespace sextant::embed::kernels {

// Defined only on x86-64, where CMake compiles bert_kernels_avx2.cc / bert_kernels_avx512.cc;
// calling one is valid only if the CPU runs its instructions.
const BertKernels& Avx2Kernels();
const BertKernels& Avx512Kernels();
const Int8Kernels& Avx2Int8Kernels();
// bert_kernels_vnni.cc: AVX-512 F/BW/VL/DQ + VNNI.
const Int8Kernels& VnniInt8Kernels();

// The coefficients of the vector erf: erf(x) = x * P(x^2) / Q(x^2) for |x| <= 4 (fitted for this
// project by reweighted least squares on [0, 4]; erf(4) rounds to 1 in float), P from the
// constant term up, Q likewise with Q[0] = 1.
inline constexpr float kErfP[6] = {1.128378987312317f,     0.19667278230190277f,  0.053523723036050797f,
                                   0.004021878819912672f,  0.0002884638379327953f, 1.9717510895134183e-06f};
inline constexpr float kErfQ[6] = {1.0f,                   0.5076277256011963f,   0.11665184050798416f,
                                   0.015480891801416874f,  0.0012208049884065986f, 3.747099617612548e-05f};
inline constexpr float kErfClamp = 4.0f;

}  // namespace sextant::embed::kernels
