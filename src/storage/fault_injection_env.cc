#include "storage/fault_injection_env.h"

#include <algorithm>
#include <filesystem>
#include <utility>

namespace sextant::storage {
namespace {

// One spelling per name ("a/./b/" and "a/b" are the same entry), so bookkeeping keyed by
// path and by directory agrees. Purely lexical: symbolic links are not resolved.
std::string Normalize(const std::string& path) {
  std::string p = std::filesystem::path(path).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p.empty() ? "." : p;
}

bool IsUnder(const std::string& key, const std::string& dir) {
  return key == dir || (key.size() > dir.size() && key.compare(0, dir.size(), dir) == 0 &&
                        (dir == "/" || key[dir.size()] == '/'));
}

// Rewrites a whole file through `env` and syncs it (used to restore and to damage files).
Status Overwrite(Env* env, const std::string& path, std::string_view contents) {
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                           env->NewWritableFile(path, /*append=*/false));
  SEXTANT_RETURN_IF_ERROR(file->Append(contents));
  SEXTANT_RETURN_IF_ERROR(file->Sync());
  return file->Close();
}

}  // namespace

// A file written through a FaultInjectionEnv: forwards to the base file and reports syncs.
class FaultInjectionWritableFile final : public WritableFile {
 public:
  FaultInjectionWritableFile(FaultInjectionEnv* env, std::string path,
                             std::shared_ptr<FaultInjectionEnv::FileState> state,
                             std::unique_ptr<WritableFile> base)
      : env_(env), path_(std::move(path)), state_(std::move(state)), base_(std::move(base)) {}

  Status Append(std::string_view data) override {
    // The env's lock also covers the write, so a simulated crash falls between two appends.
    std::lock_guard<std::mutex> guard(env_->mu_);
    if (state_->dead) return Status::IOError(path_ + ": append after a simulated crash");
    SEXTANT_RETURN_IF_ERROR(env_->CheckWriteLocked(path_, "append"));
    return base_->Append(data);
  }

  Status Sync() override {
    std::lock_guard<std::mutex> guard(env_->mu_);
    if (state_->dead) return Status::IOError(path_ + ": sync after a simulated crash");
    SEXTANT_RETURN_IF_ERROR(env_->CheckWriteLocked(path_, "fdatasync"));
    const uint64_t size = base_->Size();
    SEXTANT_RETURN_IF_ERROR(base_->Sync());
    state_->synced_size = std::max(state_->synced_size, size);
    return Status::OK();
  }

  Status Close() override {
    std::lock_guard<std::mutex> guard(env_->mu_);
    return base_->Close();
  }

  uint64_t Size() const override {
    std::lock_guard<std::mutex> guard(env_->mu_);
    return base_->Size();
  }

 private:
  FaultInjectionEnv* const env_;
  const std::string path_;
  const std::shared_ptr<FaultInjectionEnv::FileState> state_;
  const std::unique_ptr<WritableFile> base_;
};

FaultInjectionEnv::~FaultInjectionEnv() = default;

Status FaultInjectionEnv::CheckWriteLocked(const std::string& path, const char* op) {
  if (!write_error_ && writes_left_.has_value()) {
    if (*writes_left_ == 0) {
      write_error_ = true;
      writes_left_.reset();
    } else {
      --*writes_left_;
    }
  }
  if (write_error_) return Status::IOError(path + ": " + op + ": injected write error");
  return Status::OK();
}

Status FaultInjectionEnv::RememberNameLocked(const std::string& path) {
  const std::string key = Normalize(path);
  if (names_.count(key) != 0) return Status::OK();  // the older record is the durable one
  DurableName name;
  if (base_->FileExists(path)) {
    // Directory operations are modelled as durable at once (see the header): nothing to keep.
    if (base_->ListDir(path).ok()) return Status::OK();
    SEXTANT_ASSIGN_OR_RETURN(std::string contents, base_->ReadFile(path));
    auto it = files_.find(key);
    if (it != files_.end() && contents.size() > it->second->synced_size) {
      contents.resize(it->second->synced_size);
    }
    name.contents = std::move(contents);
  }
  names_.emplace(key, std::move(name));
  return Status::OK();
}

void FaultInjectionEnv::ForgetDirLocked(const std::string& dir) {
  const std::string d = Normalize(dir);
  for (auto it = names_.begin(); it != names_.end();) {
    it = ParentDir(it->first) == d ? names_.erase(it) : std::next(it);
  }
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::NewWritableFile(const std::string& path,
                                                                        bool append) {
  std::lock_guard<std::mutex> guard(mu_);
  const std::string key = Normalize(path);
  const bool existed = base_->FileExists(path);
  // Only a new name is a directory change; reopening an existing file keeps its entry.
  if (!existed) SEXTANT_RETURN_IF_ERROR(RememberNameLocked(path));
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                           base_->NewWritableFile(path, append));
  std::shared_ptr<FileState>& state = files_[key];
  if (state == nullptr) {
    state = std::make_shared<FileState>();
    // Bytes that were there before this Env saw the file count as durable.
    if (append && existed) state->synced_size = file->Size();
  } else if (!append) {
    state->synced_size = 0;  // truncated: nothing of the new contents is synced yet
  }
  return std::unique_ptr<WritableFile>(
      new FaultInjectionWritableFile(this, path, state, std::move(file)));
}

Result<std::string> FaultInjectionEnv::ReadFile(const std::string& path) {
  return base_->ReadFile(path);
}

Status FaultInjectionEnv::WriteFileAtomically(const std::string& path, std::string_view data) {
  std::lock_guard<std::mutex> guard(mu_);
  SEXTANT_RETURN_IF_ERROR(CheckWriteLocked(path, "write atomically"));
  SEXTANT_RETURN_IF_ERROR(base_->WriteFileAtomically(path, data));
  // The file was synced and so was its directory: everything in that directory is durable.
  files_.erase(Normalize(path));
  ForgetDirLocked(ParentDir(Normalize(path)));
  return Status::OK();
}

Status FaultInjectionEnv::RenameFile(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> guard(mu_);
  const std::string from_key = Normalize(from);
  const std::string to_key = Normalize(to);
  if (base_->ListDir(from).ok()) {
    // A directory: the rename counts as durable at once; what is known about the files below
    // it moves with it (and whatever was known below a replaced empty `to` is void).
    SEXTANT_RETURN_IF_ERROR(base_->RenameFile(from, to));
    if (from_key == to_key) return Status::OK();
    auto move_under = [&](auto& map) {
      std::erase_if(map, [&](const auto& kv) { return IsUnder(kv.first, to_key); });
      std::vector<std::string> keys;
      for (const auto& kv : map) {
        if (IsUnder(kv.first, from_key)) keys.push_back(kv.first);
      }
      for (const std::string& key : keys) {
        auto node = map.extract(key);
        node.key() = to_key + key.substr(from_key.size());
        map.insert(std::move(node));
      }
    };
    move_under(files_);
    move_under(names_);
    return Status::OK();
  }
  SEXTANT_RETURN_IF_ERROR(RememberNameLocked(from));
  SEXTANT_RETURN_IF_ERROR(RememberNameLocked(to));
  SEXTANT_RETURN_IF_ERROR(base_->RenameFile(from, to));
  if (from_key == to_key) return Status::OK();
  auto it = files_.find(from_key);
  if (it != files_.end()) {
    files_[to_key] = std::move(it->second);  // same inode, same synced length
    files_.erase(it);
  } else {
    files_.erase(to_key);  // `to` now names an untracked, hence durable, file
  }
  return Status::OK();
}

Status FaultInjectionEnv::RemoveFile(const std::string& path) {
  std::lock_guard<std::mutex> guard(mu_);
  SEXTANT_RETURN_IF_ERROR(RememberNameLocked(path));
  SEXTANT_RETURN_IF_ERROR(base_->RemoveFile(path));
  files_.erase(Normalize(path));
  return Status::OK();
}

Status FaultInjectionEnv::CreateDirs(const std::string& path) { return base_->CreateDirs(path); }

Status FaultInjectionEnv::RemoveDirRecursively(const std::string& path) {
  std::lock_guard<std::mutex> guard(mu_);
  SEXTANT_RETURN_IF_ERROR(base_->RemoveDirRecursively(path));
  const std::string dir = Normalize(path);
  std::erase_if(files_, [&](const auto& kv) { return IsUnder(kv.first, dir); });
  std::erase_if(names_, [&](const auto& kv) { return IsUnder(kv.first, dir); });
  return Status::OK();
}

Status FaultInjectionEnv::SyncDir(const std::string& path) {
  std::lock_guard<std::mutex> guard(mu_);
  SEXTANT_RETURN_IF_ERROR(base_->SyncDir(path));
  ForgetDirLocked(path);
  return Status::OK();
}

Result<std::vector<std::string>> FaultInjectionEnv::ListDir(const std::string& path) {
  return base_->ListDir(path);
}

bool FaultInjectionEnv::FileExists(const std::string& path) { return base_->FileExists(path); }

Result<uint64_t> FaultInjectionEnv::GetFileSize(const std::string& path) {
  return base_->GetFileSize(path);
}

Status FaultInjectionEnv::TruncateFile(const std::string& path, uint64_t size) {
  std::lock_guard<std::mutex> guard(mu_);
  SEXTANT_RETURN_IF_ERROR(CheckWriteLocked(path, "truncate"));
  SEXTANT_RETURN_IF_ERROR(base_->TruncateFile(path, size));
  // TruncateFile syncs the file, so all of its new length is durable.
  auto it = files_.find(Normalize(path));
  if (it != files_.end()) it->second->synced_size = size;
  return Status::OK();
}

Result<std::unique_ptr<FileLock>> FaultInjectionEnv::LockFile(const std::string& path) {
  return base_->LockFile(path);
}

Status FaultInjectionEnv::CopyFile(const std::string& from, const std::string& to) {
  std::lock_guard<std::mutex> guard(mu_);
  SEXTANT_RETURN_IF_ERROR(CheckWriteLocked(to, "copy"));
  // Copying onto an existing name rewrites that inode in place: no directory change.
  if (!base_->FileExists(to)) SEXTANT_RETURN_IF_ERROR(RememberNameLocked(to));
  SEXTANT_RETURN_IF_ERROR(base_->CopyFile(from, to));
  files_.erase(Normalize(to));  // the copy is synced: its data is durable
  return Status::OK();
}

Status FaultInjectionEnv::DropUnsyncedData() {
  std::lock_guard<std::mutex> guard(mu_);
  Status first;
  auto note = [&first](const Status& st) {
    if (first.ok() && !st.ok()) first = st;
  };
  // Data first, then names: a restored name gets its durable contents back whole.
  for (const auto& [key, state] : files_) {
    if (!base_->FileExists(key)) continue;
    Result<uint64_t> size = base_->GetFileSize(key);
    if (!size.ok()) {
      note(size.status());
    } else if (*size > state->synced_size) {
      note(base_->TruncateFile(key, state->synced_size));
    }
  }
  for (const auto& [key, name] : names_) {
    if (name.contents.has_value()) {
      note(Overwrite(base_, key, *name.contents));
    } else if (base_->FileExists(key)) {
      note(base_->RemoveFile(key));
    }
  }
  for (const auto& [key, state] : files_) state->dead = true;
  files_.clear();
  names_.clear();
  return first;
}

Result<uint64_t> FaultInjectionEnv::SyncedSize(const std::string& path) {
  std::lock_guard<std::mutex> guard(mu_);
  SEXTANT_ASSIGN_OR_RETURN(uint64_t size, base_->GetFileSize(path));
  auto it = files_.find(Normalize(path));
  if (it == files_.end()) return size;
  return std::min(size, it->second->synced_size);
}

void FaultInjectionEnv::SetWriteError(bool fail) {
  std::lock_guard<std::mutex> guard(mu_);
  write_error_ = fail;
  writes_left_.reset();
}

void FaultInjectionEnv::FailAfterWrites(uint64_t n) {
  std::lock_guard<std::mutex> guard(mu_);
  write_error_ = false;
  writes_left_ = n;
}

Status FaultInjectionEnv::FlipByte(const std::string& path, uint64_t offset, uint8_t mask) {
  std::lock_guard<std::mutex> guard(mu_);
  SEXTANT_ASSIGN_OR_RETURN(std::string contents, base_->ReadFile(path));
  if (offset >= contents.size()) {
    return Status::OutOfRange(path + ": FlipByte at offset " + std::to_string(offset) +
                              " of a " + std::to_string(contents.size()) + "-byte file");
  }
  contents[offset] = static_cast<char>(static_cast<uint8_t>(contents[offset]) ^ mask);
  return Overwrite(base_, path, contents);
}

Status FaultInjectionEnv::TruncateTail(const std::string& path, uint64_t n) {
  std::lock_guard<std::mutex> guard(mu_);
  SEXTANT_ASSIGN_OR_RETURN(uint64_t size, base_->GetFileSize(path));
  const uint64_t new_size = n >= size ? 0 : size - n;
  SEXTANT_RETURN_IF_ERROR(base_->TruncateFile(path, new_size));
  auto it = files_.find(Normalize(path));
  if (it != files_.end()) it->second->synced_size = std::min(it->second->synced_size, new_size);
  return Status::OK();
}

Status FaultInjectionEnv::AppendRaw(const std::string& path, std::string_view bytes) {
  std::lock_guard<std::mutex> guard(mu_);
  SEXTANT_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                           base_->NewWritableFile(path, /*append=*/true));
  SEXTANT_RETURN_IF_ERROR(file->Append(bytes));
  SEXTANT_RETURN_IF_ERROR(file->Sync());
  // The sync made the whole file durable, including earlier unsynced appends.
  auto it = files_.find(Normalize(path));
  if (it != files_.end()) it->second->synced_size = file->Size();
  return file->Close();
}

}  // namespace sextant::storage
