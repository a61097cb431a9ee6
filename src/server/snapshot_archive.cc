#include "server/snapshot_archive.h"

#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <vector>

#include "server/key_store.h"

namespace sextant::server {
namespace {

// A download is built in memory: snapshots larger than this are copied from the data
// directory instead.
constexpr uintmax_t kMaxArchiveBytes = uintmax_t{256} << 20;

// Writes `v` as width-1 octal digits and a NUL (a ustar number field).
void Octal(char* field, size_t width, uint64_t v) {
  field[width - 1] = '\0';
  for (size_t i = width - 1; i-- > 0; v >>= 3) field[i] = static_cast<char>('0' + (v & 7));
}

// Appends one POSIX ustar header block for a regular file (typeflag '0') or a directory ('5').
Status AppendTarHeader(std::string* out, const std::string& name, uintmax_t size, std::time_t mtime, char type) {
  if (name.size() > 100) return Status::Internal("a file name in the snapshot is too long for a tar header: " + name);
  char h[512] = {};
  std::memcpy(h, name.data(), name.size());
  Octal(h + 100, 8, type == '5' ? 0755 : 0644);  // mode
  Octal(h + 108, 8, 0);                          // uid
  Octal(h + 116, 8, 0);                          // gid
  Octal(h + 124, 12, size);                      // below 8 GiB: kMaxArchiveBytes
  Octal(h + 136, 12, static_cast<uint64_t>(std::max<std::time_t>(mtime, 0)));
  std::memset(h + 148, ' ', 8);  // the checksum counts its own field as spaces
  h[156] = type;
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  Octal(h + 148, 7, sum);  // six digits, NUL, space
  h[155] = ' ';
  out->append(h, sizeof(h));
  return Status::OK();
}

}  // namespace

std::string NewSnapshotName(const std::string& collection) {
  char stamp[32];
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
  return collection + "-" + stamp + "-" + RandomHex(2);
}

Result<std::string> TarSnapshot(const std::string& dir, const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::directory_entry> entries;
  for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) entries.push_back(*it);
  if (ec) return Status::IOError("cannot read the snapshot " + name + ": " + ec.message());
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.path() < b.path(); });
  uintmax_t total = 0;
  for (const auto& e : entries) {
    if (e.is_regular_file(ec)) total += 512 + (e.file_size(ec) + 511) / 512 * 512;
  }
  if (total > kMaxArchiveBytes) {
    return Status::FailedPrecondition("snapshot '" + name + "' is " + std::to_string(total >> 20) +
                                      " MiB, more than a download holds (" + std::to_string(kMaxArchiveBytes >> 20) +
                                      " MiB): copy it from the data directory (snapshots/TENANT/DATABASE/" + name + ")");
  }
  std::string out;
  out.reserve(static_cast<size_t>(total) + 3 * 512);
  SEXTANT_RETURN_IF_ERROR(AppendTarHeader(&out, name + "/", 0, std::time(nullptr), '5'));
  for (const auto& e : entries) {
    const std::string rel = fs::relative(e.path(), dir, ec).generic_string();
    if (ec) return Status::IOError("cannot read the snapshot " + name + ": " + ec.message());
    const std::time_t mtime = std::time(nullptr);
    if (e.is_directory(ec)) {
      SEXTANT_RETURN_IF_ERROR(AppendTarHeader(&out, name + "/" + rel + "/", 0, mtime, '5'));
      continue;
    }
    if (!e.is_regular_file(ec)) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return Status::IOError("cannot read " + e.path().string());
    SEXTANT_RETURN_IF_ERROR(AppendTarHeader(&out, name + "/" + rel, data.size(), mtime, '0'));
    out += data;
    out.append((512 - data.size() % 512) % 512, '\0');
  }
  out.append(1024, '\0');  // two zero blocks end the archive
  return out;
}


Reply SnapshotArchiveReply(const std::string& dir, const std::string& name) {
  auto tar = TarSnapshot(dir, name);
  if (!tar.ok()) return FromStatus(tar.status());
  Reply r;
  r.raw = std::move(tar).value();
  r.raw_type = "application/x-tar";
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + ".tar\"");
  return r;
}

}  // namespace sextant::server
