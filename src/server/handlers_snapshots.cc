// Handlers of the snapshot routes. Snapshots are kept by the catalog under the data
// directory (catalog.h), never at a path the client chooses.
#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "server/server_impl.h"

namespace sextant::server {

using nlohmann::json;

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

// The snapshot directory `dir` as a tar archive whose entries start with `name`/, files in
// name order; refused when it would be larger than kMaxArchiveBytes.
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

}  // namespace

Reply ServerImpl::CreateSnapshot(RequestContext& ctx) {
  SX_TRY(std::shared_ptr<Collection> col, GetCollection(ctx));
  SX_PARSE(std::optional<std::string> name, ParseSnapshotCreate(ctx.body));
  if (!name) {
    char stamp[32];
    const std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
    name = col->config().name + "-" + stamp + "-" + RandomHex(2);
  }
  SX_TRY(const std::string path, catalog_->NewSnapshotPath(ctx.tenant, ctx.database, *name));
  SX_TRY_STATUS(col->CreateSnapshot(path));
  return Reply{201, {{"snapshot", *name}, {"collection", col->config().name}}};
}

Reply ServerImpl::ListSnapshots(RequestContext& ctx) {
  json out = json::array();
  for (const std::string& s : catalog_->ListSnapshots(ctx.tenant, ctx.database)) out.push_back({{"name", s}});
  return Reply{200, {{"snapshots", out}}};
}

Reply ServerImpl::DeleteSnapshot(RequestContext& ctx) {
  SX_TRY_STATUS(catalog_->DeleteSnapshot(ctx.tenant, ctx.database, ctx.params["snapshot"]));
  return Reply{200, {{"deleted", ctx.params["snapshot"]}}};
}

Reply ServerImpl::RestoreSnapshot(RequestContext& ctx) {
  SX_TRY(const std::string path, catalog_->SnapshotPath(ctx.tenant, ctx.database, ctx.params["snapshot"]));
  SX_PARSE(std::string name, ParseSnapshotRestore(ctx.body));
  SX_TRY(std::shared_ptr<Collection> col, ctx.entry->db->RestoreSnapshot(path, name));
  SX_TRY(size_t n, col->Count());
  return Reply{201, {{"restored", name}, {"count", n}}};
}

// The snapshot as a tar archive (its directory as `restore` reads it), for the console's
// download and for moving a snapshot to another server's data directory.
Reply ServerImpl::DownloadSnapshot(RequestContext& ctx) {
  const std::string& name = ctx.params["snapshot"];
  SX_TRY(const std::string path, catalog_->SnapshotPath(ctx.tenant, ctx.database, name));
  SX_TRY(std::string tar, TarSnapshot(path, name));
  Reply r;
  r.raw = std::move(tar);
  r.raw_type = "application/x-tar";
  r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + ".tar\"");
  return r;
}

}  // namespace sextant::server
