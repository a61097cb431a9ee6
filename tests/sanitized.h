// Whether this test binary runs under a sanitizer (ASan, TSan, MSan; GCC or Clang): tests that
// repeat the same work many times run a smaller version there, where it is several times slower.
#pragma once

namespace sextant::testing {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

}  // namespace sextant::testing
