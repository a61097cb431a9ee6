// The web console's files (console/ in the source tree), compiled into the server by
// cmake/embed_console.cmake and served at /console (handlers_console.cc).
#pragma once

#include <string_view>
#include <vector>

namespace sextant::server {

struct ConsoleAsset {
  std::string_view name;          // the file name, e.g. "app.js"; the page is "index.html"
  std::string_view content_type;  // from the extension
  std::string_view etag;          // quoted, from the content's SHA-256
  std::string_view content;
};

// Every file of the console, in file-name order. Static data: safe from any thread.
const std::vector<ConsoleAsset>& ConsoleAssets();

}  // namespace sextant::server
