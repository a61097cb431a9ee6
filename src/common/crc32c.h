// CRC-32C (Castagnoli), as used by the index and log file formats.
// Uses the SSE4.2 crc32 instruction when the CPU has it, a table-driven loop otherwise;
// both give identical results (tested against each other and against published vectors).
#pragma once

#include <cstddef>
#include <cstdint>

namespace sextant {

// Returns the CRC-32C of data[0, n) continuing from `crc` (the value returned for the bytes
// before; 0 to start). Crc32cExtend(Crc32cExtend(0, a), b) == CRC of a followed by b.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);
inline uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }

// The portable implementation, for tests.
uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t n);

}  // namespace sextant
