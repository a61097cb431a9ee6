// libFuzzer target: the safetensors reader (src/embed/safetensors.h) on arbitrary bytes. A file
// it accepts must be consistent (each tensor's bytes = elements x dtype size, the tensors tiling
// the data in order) and every tensor must convert without reading out of bounds; a file it
// refuses must be refused with a message naming the source.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "embed/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using sextant::embed::DTypeSize;
  using sextant::embed::SafeTensors;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto st = SafeTensors::Parse(bytes, "fuzz.safetensors");
  if (!st.ok()) {
    if (st.status().message().rfind("fuzz.safetensors: ", 0) != 0) __builtin_trap();
    return 0;
  }
  uint64_t at = 0;
  for (const auto& t : st->tensors()) {
    if (t.begin != at || t.end - t.begin != t.elements * DTypeSize(t.dtype)) __builtin_trap();
    at = t.end;
    if (st->Bytes(t).size() != t.end - t.begin) __builtin_trap();
    std::vector<float> out(t.elements);
    (void)st->ToFloat(t, out.data());
    (void)st->ToInt64(t.name);
    if (st->Find(t.name) != &t) __builtin_trap();
  }
  if (size < 8 || at > size) __builtin_trap();
  return 0;
}
