// The headers precompiled once per build (SEXTANT_PCH in CMakeLists.txt): nlohmann-json and the
// standard library headers nearly every file includes.
#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
