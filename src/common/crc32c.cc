#include "common/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#define SEXTANT_CRC32C_X86 1
#include <nmmintrin.h>
#endif

namespace sextant {
namespace {

// Reflected Castagnoli polynomial (0x1EDC6F41 with its bits reversed).
constexpr uint32_t kPoly = 0x82F63B78u;

using Tables = std::array<std::array<uint32_t, 256>, 8>;

// Slicing-by-8 tables: kTables[k][b] is the CRC contribution of byte b followed by k zero
// bytes, so eight input bytes can be folded in with eight independent lookups.
constexpr Tables MakeTables() {
  Tables t{};
  for (uint32_t b = 0; b < 256; ++b) {
    uint32_t c = b;
    for (int i = 0; i < 8; ++i) c = (c >> 1) ^ ((c & 1u) ? kPoly : 0u);
    t[0][b] = c;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (size_t b = 0; b < 256; ++b) {
      const uint32_t prev = t[k - 1][b];
      t[k][b] = (prev >> 8) ^ t[0][prev & 0xFFu];
    }
  }
  return t;
}

constexpr Tables kTables = MakeTables();

// Assembled byte by byte so the code is endian-independent; compilers turn this into a
// single load on little-endian targets.
inline uint32_t LoadLe32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

#ifdef SEXTANT_CRC32C_X86
__attribute__((target("sse4.2"))) uint32_t Crc32cExtendSse42(uint32_t crc, const void* data,
                                                             size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t state = ~crc;
  // Byte steps until p is 8-byte aligned, so the main loop does aligned 64-bit loads.
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7u) != 0) {
    state = _mm_crc32_u8(state, *p++);
    --n;
  }
  uint64_t state64 = state;
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    state64 = _mm_crc32_u64(state64, word);
    p += 8;
    n -= 8;
  }
  state = static_cast<uint32_t>(state64);
  while (n > 0) {
    state = _mm_crc32_u8(state, *p++);
    --n;
  }
  return ~state;
}

using ExtendFn = uint32_t (*)(uint32_t, const void*, size_t);

ExtendFn ChooseExtend() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") ? &Crc32cExtendSse42 : &Crc32cExtendPortable;
}
#endif

}  // namespace

uint32_t Crc32cExtendPortable(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t state = ~crc;
  while (n >= 8) {
    const uint32_t lo = state ^ LoadLe32(p);
    const uint32_t hi = LoadLe32(p + 4);
    state = kTables[7][lo & 0xFFu] ^ kTables[6][(lo >> 8) & 0xFFu] ^
            kTables[5][(lo >> 16) & 0xFFu] ^ kTables[4][lo >> 24] ^ kTables[3][hi & 0xFFu] ^
            kTables[2][(hi >> 8) & 0xFFu] ^ kTables[1][(hi >> 16) & 0xFFu] ^ kTables[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n > 0) {
    state = (state >> 8) ^ kTables[0][(state ^ *p++) & 0xFFu];
    --n;
  }
  return ~state;
}

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n) {
#ifdef SEXTANT_CRC32C_X86
  // Chosen once; a function-local static is initialised thread-safely.
  static const ExtendFn extend = ChooseExtend();
  return extend(crc, data, n);
#else
  return Crc32cExtendPortable(crc, data, n);
#endif
}

}  // namespace sextant
