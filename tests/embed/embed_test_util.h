// Helpers shared by the embed tests: where the data is, and a writer of safetensors files.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#ifndef SEXTANT_SHARED_DATA
#define SEXTANT_SHARED_DATA "../shared/data"
#endif
#ifndef SEXTANT_MODELS_DIR
#define SEXTANT_MODELS_DIR "models"
#endif

namespace sextant::embed::testing {

// The built-in model's files, in the repository.
// (Appended rather than concatenated: GCC 12 warns about its own inlined operator+ here.)
inline std::string PotionDir() {
  std::string dir = SEXTANT_MODELS_DIR;
  dir.append("/potion-base-4M");
  return dir;
}
inline std::string SharedData() { return SEXTANT_SHARED_DATA; }
inline bool HaveShared(const std::string& rel) {
  std::string path = SharedData();
  path.append("/").append(rel);
  return std::filesystem::exists(path);
}

inline std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
inline void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

struct RawTensor {
  std::string name;
  std::string dtype;
  std::vector<uint64_t> shape;
  std::string bytes;
};

// A well-formed safetensors file holding `tensors` in the order given.
inline std::string MakeSafetensors(const std::vector<RawTensor>& tensors, const nlohmann::json& metadata = nullptr) {
  nlohmann::json h = nlohmann::json::object();
  uint64_t at = 0;
  std::string data;
  for (const RawTensor& t : tensors) {
    h[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {at, at + t.bytes.size()}}};
    at += t.bytes.size();
    data += t.bytes;
  }
  if (!metadata.is_null()) h["__metadata__"] = metadata;
  std::string header = h.dump();
  while (header.size() % 8 != 0) header += ' ';
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}

template <typename T>
std::string BytesOf(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

}  // namespace sextant::embed::testing
