# Writes the web console's files (console/*) into one C++ source, run at build time by
# src/server/CMakeLists.txt: cmake -DOUT=file.cc -DFILES="a|b" -P embed_console.cmake.
# Each file becomes a byte array with its name, content type and an ETag (SHA-256 prefix).
string(REPLACE "|" ";" FILES "${FILES}")
set(body "")
set(table "")
set(i 0)
foreach(f IN LISTS FILES)
  get_filename_component(name ${f} NAME)
  get_filename_component(ext ${f} LAST_EXT)
  if(ext STREQUAL ".html")
    set(type "text/html; charset=utf-8")
  elseif(ext STREQUAL ".js")
    set(type "text/javascript; charset=utf-8")
  elseif(ext STREQUAL ".css")
    set(type "text/css; charset=utf-8")
  elseif(ext STREQUAL ".svg")
    set(type "image/svg+xml")
  else()
    message(FATAL_ERROR "embed_console: no content type for ${f}")
  endif()
  file(READ ${f} hex HEX)
  file(SHA256 ${f} sha)
  string(SUBSTRING ${sha} 0 16 etag)
  file(SIZE ${f} size)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
  string(APPEND body "const char kFile${i}[] = {${bytes}0};\n")
  string(APPEND table "    {\"${name}\", \"${type}\", \"\\\"${etag}\\\"\", std::string_view(kFile${i}, ${size})},\n")
  math(EXPR i "${i} + 1")
endforeach()
set(text "// Generated from console/ by cmake/embed_console.cmake; do not edit.
#include \"server/console_assets.h\"

namespace sextant::server {
namespace {
${body}}  // namespace

const std::vector<ConsoleAsset>& ConsoleAssets() {
  static const std::vector<ConsoleAsset> kAssets = {
${table}  };
  return kAssets;
}

}  // namespace sextant::server
")
# Rewritten only when it changed, so that an unchanged console compiles nothing.
if(EXISTS ${OUT})
  file(READ ${OUT} old)
  if(old STREQUAL text)
    return()
  endif()
endif()
file(WRITE ${OUT} "${text}")
