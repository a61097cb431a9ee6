// Handing free heap memory back to the system.
#pragma once

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace sextant {

// Freed large structures (graph arrays, segments, scratch) leave their pages in glibc's
// arenas as resident memory; this returns the free ones, so the process's RSS follows its
// memory use down. Nothing under the sanitizers, whose allocators do not use those arenas,
// nor without glibc.
inline void ReleaseFreeHeap() {
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#if defined(__has_feature)
#if !__has_feature(address_sanitizer) && !__has_feature(thread_sanitizer) && !__has_feature(memory_sanitizer)
  ::malloc_trim(0);
#endif
#else
  ::malloc_trim(0);
#endif
#endif
}

}  // namespace sextant
