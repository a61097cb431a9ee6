// The roaring bitmap class under one name, whatever the CRoaring version.
//
// CRoaring before 0.3 (Debian bookworm ships 0.2.66) declares the C++ class as ::Roaring;
// later versions as roaring::Roaring. src/filter/CMakeLists.txt detects the old spelling and
// defines SEXTANT_ROARING_GLOBAL_CLASS (PUBLIC, so every user of sextant_filter sees it) so
// that `roaring::Roaring` works everywhere.
#pragma once

#include <roaring/roaring.hh>

#if defined(SEXTANT_ROARING_GLOBAL_CLASS)
namespace roaring {
using Roaring = ::Roaring;
}  // namespace roaring
#endif
