// The models folder, the list and description of models, and pulling a model from the Hugging
// Face hub with cpp-httplib's client.
#include "embed/model_store.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <system_error>

#include <httplib.h>

#include "common/json.h"
#include "common/mapped_file.h"
#include "common/posix_io.h"
#include "embed/bert.h"
#include "embed/builtin_data.h"
#include "embed/model.h"
#include "embed/model2vec.h"
#include "embed/safetensors.h"

namespace sextant::embed {

namespace fs = std::filesystem;
using posix::ErrnoStatus;
using posix::OpenRetryingEintr;
using posix::ParentDirectory;
using posix::WriteFully;

std::string ModelsDir() {
  if (const char* m = std::getenv("SEXTANT_MODELS"); m != nullptr && *m != '\0') {
    std::string dir(m);
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    return dir;
  }
  const char* home = std::getenv("HOME");
  std::string base = home != nullptr && *home != '\0' ? std::string(home) : std::string(".");
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  return base + "/.cache/sextant/models";
}

std::vector<std::string> PullRequiredFiles() { return {"config.json", "model.safetensors", "tokenizer.json"}; }

std::vector<std::string> PullOptionalFiles() {
  return {"modules.json",        "1_Pooling/config.json", "sentence_bert_config.json", "config_sentence_transformers.json",
          "vocab.txt",           "tokenizer_config.json", "special_tokens_map.json",   "README.md",
          "LICENSE"};
}

namespace {

bool NamePartOk(std::string_view part) {
  if (part.empty() || part.size() > 96 || part.front() == '.') return false;
  if (part.find("..") != std::string_view::npos) return false;
  return std::all_of(part.begin(), part.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

}  // namespace

Status CheckRepoName(std::string_view repo) {
  const std::string shown(repo.substr(0, 200));
  if (repo.empty()) return Status::InvalidArgument("empty model repository name (expected owner/name)");
  const size_t slash = repo.find('/');
  std::vector<std::string_view> parts;
  if (slash == std::string_view::npos) {
    parts.push_back(repo);
  } else {
    parts.push_back(repo.substr(0, slash));
    parts.push_back(repo.substr(slash + 1));
    if (parts[1].find('/') != std::string_view::npos) {
      return Status::InvalidArgument("model repository '" + shown + "' has more than one '/' (expected owner/name)");
    }
  }
  for (std::string_view part : parts) {
    if (!NamePartOk(part)) {
      return Status::InvalidArgument("model repository '" + shown + "': '" + std::string(part.substr(0, 100)) +
                                     "' must be 1-96 characters of A-Z a-z 0-9 . _ -, not beginning with '.' "
                                     "and without '..' (expected owner/name)");
    }
  }
  return Status::OK();
}

namespace {

bool IsDir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool IsFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// A directory that holds a model (or a damaged one): it has config.json or modules.json.
bool LooksLikeModel(const std::string& dir) {
  return IsFile(dir + "/config.json") || IsFile(dir + "/modules.json");
}

// The regular files under `dir` (relative names, sorted) and their sizes; hidden ones skipped.
std::vector<std::pair<std::string, uint64_t>> FilesOf(const std::string& dir) {
  std::vector<std::pair<std::string, uint64_t>> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    const std::string leaf = it->path().filename().string();
    if (!leaf.empty() && leaf.front() == '.') {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    std::error_code fe;
    if (!it->is_regular_file(fe)) continue;
    const uint64_t size = it->file_size(fe);
    files.emplace_back(fs::relative(it->path(), dir, fe).string(), fe ? 0 : size);
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Kind and dimension of the model in `dir` without loading its weights: config.json's
// model_type (as LoadModel decides), then hidden_size (BERT) or the safetensors header's
// "embeddings" shape (Model2Vec).
Status Describe(const std::string& dir, ModelEntry* e) {
  auto text = ReadFileToString(dir + "/config.json");
  if (!text.ok()) {
    e->kind = "bert";  // a sentence-transformers directory without its config.json
    return Status::NotFound(dir + "/config.json is missing");
  }
  SEXTANT_ASSIGN_OR_RETURN(nlohmann::json config, ParseJson(*text));
  if (!config.is_object()) return Status::InvalidArgument(dir + "/config.json is not a JSON object");
  const auto type = config.find("model_type");
  const std::string model_type = type != config.end() && type->is_string() ? type->get<std::string>() : "model2vec";
  if (model_type == "bert") {
    e->kind = "bert";
    const auto hidden = config.find("hidden_size");
    if (hidden == config.end() || !hidden->is_number_unsigned()) {
      return Status::InvalidArgument(dir + "/config.json: no hidden_size");
    }
    e->dimension = hidden->get<size_t>();
    return Status::OK();
  }
  if (model_type != "model2vec") {
    return Status::InvalidArgument(dir + ": a '" + model_type + "' model, which Sextant does not run");
  }
  e->kind = "model2vec";
  SEXTANT_ASSIGN_OR_RETURN(SafeTensors st, SafeTensors::Open(dir + "/model.safetensors"));
  SEXTANT_ASSIGN_OR_RETURN(const TensorInfo* t, st.Get("embeddings"));
  if (t->shape.size() != 2) return Status::InvalidArgument(dir + "/model.safetensors: 'embeddings' is not a matrix");
  e->dimension = t->shape[1];
  return Status::OK();
}

ModelEntry EntryOf(const std::string& dir, std::string name) {
  ModelEntry e;
  e.name = std::move(name);
  e.path = dir;
  for (const auto& [file, size] : FilesOf(dir)) e.bytes += size;
  if (Status st = Describe(dir, &e); !st.ok()) {
    e.dimension = 0;
    e.error = st.message();
  }
  return e;
}

uint64_t BuiltinBytes(const BuiltinModelFiles& m) {
  return m.config_json.size() + m.safetensors.size() + m.tokenizer_json.size();
}

// Subdirectory names of `dir` that are not hidden, sorted.
Result<std::vector<std::string>> SubDirs(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return Status::IOError("cannot read the models folder " + dir + ": " + ec.message());
  for (fs::directory_iterator end; it != end; it.increment(ec)) {
    if (ec) return Status::IOError("cannot read the models folder " + dir + ": " + ec.message());
    const std::string leaf = it->path().filename().string();
    if (leaf.empty() || leaf.front() == '.') continue;
    if (IsDir(it->path().string())) out.push_back(leaf);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<std::vector<ModelEntry>> ListModels() {
  std::vector<ModelEntry> out;
  for (const auto& m : BuiltinModelData()) {
    auto model = LoadModel(m.name);
    ModelEntry e;
    e.name = std::string(m.name);
    e.kind = "model2vec";
    e.dimension = model.ok() ? (*model)->dimension() : 0;
    if (!model.ok()) e.error = model.status().message();
    e.bytes = BuiltinBytes(m);
    e.builtin = true;
    out.push_back(std::move(e));
  }
  const std::string root = ModelsDir();
  if (!IsDir(root)) return out;
  SEXTANT_ASSIGN_OR_RETURN(std::vector<std::string> top, SubDirs(root));
  for (const std::string& a : top) {
    const std::string dir = root + "/" + a;
    if (LooksLikeModel(dir)) {
      out.push_back(EntryOf(dir, a));
      continue;
    }
    auto inner = SubDirs(dir);
    if (!inner.ok()) continue;  // an unreadable owner folder holds nothing we can list
    for (const std::string& b : *inner) {
      const std::string sub = dir + "/" + b;
      if (LooksLikeModel(sub)) out.push_back(EntryOf(sub, a + "/" + b));
    }
  }
  return out;
}

namespace {

// The licence a model states: LICENSE's first non-empty line, else the model card's
// front-matter "license:" value.
std::string LicenseLine(const std::string& dir) {
  if (auto text = ReadFileToString(dir + "/LICENSE"); text.ok()) {
    size_t at = 0;
    while (at < text->size()) {
      size_t end = text->find('\n', at);
      if (end == std::string::npos) end = text->size();
      std::string line = text->substr(at, end - at);
      while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
      size_t first = line.find_first_not_of(" \t");
      if (first != std::string::npos) return line.substr(first, 200);
      at = end + 1;
    }
  }
  if (auto card = ReadFileToString(dir + "/README.md"); card.ok() && card->rfind("---", 0) == 0) {
    const size_t close = card->find("\n---", 3);
    const std::string front = card->substr(0, close == std::string::npos ? std::min<size_t>(card->size(), 8192) : close);
    for (size_t at = 0; at < front.size();) {
      size_t end = front.find('\n', at);
      if (end == std::string::npos) end = front.size();
      std::string line = front.substr(at, end - at);
      if (line.rfind("license:", 0) == 0) {
        line = line.substr(8);
        const size_t first = line.find_first_not_of(" \t\"'");
        const size_t last = line.find_last_not_of(" \t\r\"'");
        if (first != std::string::npos) return line.substr(first, last - first + 1).substr(0, 200);
      }
      at = end + 1;
    }
  }
  return "";
}

void DescribeLoaded(const EmbeddingModel& model, nlohmann::json* j) {
  (*j)["dimension"] = model.dimension();
  if (const auto* m2v = dynamic_cast<const Model2Vec*>(&model)) {
    (*j)["kind"] = "model2vec";
    (*j)["max_tokens"] = Model2Vec::kMaxTokens;
    (*j)["max_chars"] = m2v->max_chars();
    (*j)["normalize"] = m2v->normalize();
    (*j)["pooling"] = "mean";
  } else if (const auto* bert = dynamic_cast<const BertModel*>(&model)) {
    (*j)["kind"] = "bert";
    (*j)["max_tokens"] = bert->max_seq_length();
    (*j)["normalize"] = bert->normalize();
    (*j)["pooling"] = bert->pooling() == BertPooling::kCls ? "cls" : "mean";
    (*j)["layers"] = bert->config().num_layers;
    nlohmann::json prompts = nlohmann::json::object();
    for (const std::string& name : bert->PromptNames()) {
      if (const std::string* p = bert->Prompt(name)) prompts[name] = *p;
    }
    (*j)["prompts"] = std::move(prompts);
    if (!bert->default_prompt_name().empty()) (*j)["default_prompt"] = bert->default_prompt_name();
  }
}

}  // namespace

Result<nlohmann::json> ModelInfo(std::string_view name_or_dir) {
  nlohmann::json j = nlohmann::json::object();
  j["name"] = std::string(name_or_dir);
  for (const auto& m : BuiltinModelData()) {
    if (m.name != name_or_dir) continue;
    SEXTANT_ASSIGN_OR_RETURN(auto model, LoadModel(m.name));
    DescribeLoaded(*model, &j);
    j["files"] = nlohmann::json::array({{{"name", "config.json"}, {"bytes", m.config_json.size()}},
                                        {{"name", "model.safetensors"}, {"bytes", m.safetensors.size()}},
                                        {{"name", "tokenizer.json"}, {"bytes", m.tokenizer_json.size()}}});
    j["bytes"] = BuiltinBytes(m);
    j["license"] = "MIT";  // models/potion-base-4M/LICENSE, compiled in with the model
    j["builtin"] = true;
    return j;
  }
  const std::string given(name_or_dir);
  std::string dir = given;
  if (given.empty() || !IsDir(given)) {
    if (CheckRepoName(given).ok() && IsDir(ModelsDir() + "/" + given)) dir = ModelsDir() + "/" + given;
  }
  SEXTANT_ASSIGN_OR_RETURN(auto model, LoadModel(name_or_dir));  // the same resolution, and the check
  DescribeLoaded(*model, &j);
  j["path"] = dir;
  nlohmann::json files = nlohmann::json::array();
  uint64_t bytes = 0;
  for (const auto& [file, size] : FilesOf(dir)) {
    files.push_back({{"name", file}, {"bytes", size}});
    bytes += size;
  }
  j["files"] = std::move(files);
  j["bytes"] = bytes;
  if (std::string license = LicenseLine(dir); !license.empty()) j["license"] = license;
  if (auto source = ReadFileToString(dir + "/.sextant-source.json"); source.ok()) {
    if (auto s = ParseJson(*source); s.ok() && s->is_object()) j["source"] = *s;
  }
  j["builtin"] = false;
  return j;
}

// ---------------------------------------------------------------------------------------
// Pulling

namespace {

// An HTTP(S) origin and a path on it.
struct Location {
  std::string scheme;  // "http" or "https"
  std::string host;    // as written (IPv6 in brackets)
  int port = 0;
  std::string path;    // from '/', with its query

  std::string Origin() const { return scheme + "://" + host + ":" + std::to_string(port); }
  std::string Url() const {
    const bool default_port = (scheme == "http" && port == 80) || (scheme == "https" && port == 443);
    return scheme + "://" + host + (default_port ? "" : ":" + std::to_string(port)) + path;
  }
};

Result<Location> ParseUrl(const std::string& url, const std::string& what) {
  Location loc;
  const size_t sep = url.find("://");
  if (sep == std::string::npos) return Status::InvalidArgument(what + " '" + url + "' is not an http(s) URL");
  loc.scheme = url.substr(0, sep);
  std::transform(loc.scheme.begin(), loc.scheme.end(), loc.scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (loc.scheme != "http" && loc.scheme != "https") {
    return Status::InvalidArgument(what + " '" + url + "' is not an http(s) URL");
  }
  const size_t host_at = sep + 3;
  size_t path_at = url.find_first_of("/?#", host_at);
  if (path_at == std::string::npos) path_at = url.size();
  std::string authority = url.substr(host_at, path_at - host_at);
  if (authority.find('@') != std::string::npos) {
    return Status::InvalidArgument(what + ": credentials in the URL are not supported (use HF_TOKEN)");
  }
  loc.port = loc.scheme == "https" ? 443 : 80;
  size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']', colon) == std::string::npos) {
    const std::string port = authority.substr(colon + 1);
    authority.resize(colon);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) ||
        std::stoi(port) < 1 || std::stoi(port) > 65535) {
      return Status::InvalidArgument(what + " '" + url + "': bad port '" + port + "'");
    }
    loc.port = std::stoi(port);
  }
  if (authority.empty()) return Status::InvalidArgument(what + " '" + url + "' has no host");
  loc.host = authority;
  loc.path = url.substr(path_at);
  if (const size_t hash = loc.path.find('#'); hash != std::string::npos) loc.path.resize(hash);
  if (loc.path.empty() || loc.path.front() != '/') loc.path.insert(0, "/");
  return loc;
}

// Percent-encodes all but unreserved characters (as huggingface_hub quotes the revision).
std::string Quote(std::string_view s, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Status CheckRevision(const std::string& revision) {
  if (revision.empty() || revision.size() > 256 || revision.find("..") != std::string::npos ||
      !std::all_of(revision.begin(), revision.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '_' || c == '-' || c == '/';
      })) {
    return Status::InvalidArgument("revision '" + revision.substr(0, 100) +
                                   "' must be 1-256 characters of A-Z a-z 0-9 . _ - /, without '..'");
  }
  return Status::OK();
}

// A module folder named by modules.json (e.g. "2_Dense"), when it is a plain relative path.
bool ModulePathOk(const std::string& path) {
  if (path.empty() || path.size() > 200 || path.front() == '/') return false;
  size_t at = 0;
  while (at <= path.size()) {
    size_t end = path.find('/', at);
    if (end == std::string::npos) end = path.size();
    if (!NamePartOk(std::string_view(path).substr(at, end - at))) return false;
    at = end + 1;
  }
  return true;
}

// Removes a directory tree when it goes out of scope, unless released.
class TreeGuard {
 public:
  explicit TreeGuard(std::string path) : path_(std::move(path)) {}
  ~TreeGuard() {
    if (!path_.empty()) {
      std::error_code ec;
      fs::remove_all(path_, ec);
    }
  }
  void Release() { path_.clear(); }

 private:
  std::string path_;
};

class Puller {
 public:
  Puller(const Location& endpoint, std::string repo, const PullOptions& options)
      : endpoint_(endpoint), repo_(std::move(repo)), options_(options) {
    if (const char* t = std::getenv("HF_TOKEN"); t != nullptr && *t != '\0') token_ = t;
  }

  // Downloads `file` into `out_path`. A missing optional file (404) sets *skipped and leaves
  // no file.
  Status Fetch(const std::string& file, const std::string& out_path, bool required, bool* skipped) {
    *skipped = false;
    Location at = endpoint_;
    at.path = (endpoint_.path == "/" ? "" : endpoint_.path) + "/" + repo_ + "/resolve/" +
              Quote(options_.revision, false) + "/" + Quote(file, true);
    const std::string first_url = at.Url();
    for (int hop = 0; hop <= kMaxRedirects; ++hop) {
      Response r;
      SEXTANT_RETURN_IF_ERROR(Get(at, hop == 0 || SameOrigin(at), file, out_path, &r));
      if (r.status >= 300 && r.status < 400 && r.status != 304) {
        if (r.location.empty()) {
          return Status::IOError("GET " + at.Url() + ": HTTP " + std::to_string(r.status) + " without a Location");
        }
        Location next;
        if (r.location.front() == '/') {
          next = at;
          next.path = r.location;
        } else {
          SEXTANT_ASSIGN_OR_RETURN(next, ParseUrl(r.location, "redirect from " + at.Url()));
        }
        at = std::move(next);
        continue;
      }
      if (r.status == 200) return Status::OK();
      ::unlink(out_path.c_str());
      if (r.status == 404 && !required) {
        *skipped = true;
        return Status::OK();
      }
      std::string why = "GET " + first_url + (at.Url() == first_url ? "" : " (redirected to " + at.Url() + ")") +
                        ": HTTP " + std::to_string(r.status);
      if (r.status == 404) {
        return Status::NotFound(why + ": the repository '" + repo_ + "' (revision '" + options_.revision +
                                "') has no " + file);
      }
      if (r.status == 401 || r.status == 403) {
        return Status::NotFound(why + ": no access to '" + repo_ + "' (a private or gated repository needs HF_TOKEN" +
                                (token_.empty() ? "" : "; the one given was refused") + ")");
      }
      return Status::IOError(why);
    }
    return Status::IOError("GET " + first_url + ": more than " + std::to_string(kMaxRedirects) + " redirects");
  }

 private:
  static constexpr int kMaxRedirects = 10;
  struct Response {
    int status = 0;
    std::string location;
  };

  bool SameOrigin(const Location& at) const {
    return at.scheme == endpoint_.scheme && at.host == endpoint_.host && at.port == endpoint_.port;
  }

  // One GET. A 200 body goes to out_path (checked against Content-Length); other bodies are
  // dropped.
  Status Get(const Location& at, bool send_token, const std::string& file, const std::string& out_path,
             Response* r) {
    httplib::Client cli(at.Origin());
    cli.set_connection_timeout(options_.connect_timeout_s, 0);
    cli.set_read_timeout(options_.read_timeout_s, 0);
    cli.set_write_timeout(options_.read_timeout_s, 0);
    cli.set_follow_location(false);  // redirects are followed here, to keep the token on its host
    cli.set_decompress(false);
    cli.set_url_encode(false);
    httplib::Headers headers = {{"User-Agent", "sextant/0.1"}, {"Accept-Encoding", "identity"}};
    if (send_token && !token_.empty()) headers.emplace("Authorization", "Bearer " + token_);

    int fd = -1;
    uint64_t received = 0, last_report = 0;
    std::optional<uint64_t> length;
    Status failure;
    auto on_response = [&](const httplib::Response& res) {
      r->status = res.status;
      if (res.status >= 300 && res.status < 400) r->location = res.get_header_value("Location");
      if (res.status != 200) return true;
      if (res.has_header("Content-Length")) {
        const std::string v = res.get_header_value("Content-Length");
        char* end = nullptr;
        errno = 0;
        const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
        if (v.empty() || *end != '\0' || errno != 0 || !std::isdigit(static_cast<unsigned char>(v[0]))) {
          failure = Status::IOError("GET " + at.Url() + ": bad Content-Length '" + v.substr(0, 40) + "'");
          return false;
        }
        length = n;
        if (n > options_.max_file_bytes) {
          failure = Status::IOError("GET " + at.Url() + ": " + file + " is " + std::to_string(n) +
                                    " bytes, more than the limit of " + std::to_string(options_.max_file_bytes));
          return false;
        }
      }
      fd = OpenRetryingEintr(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) {
        failure = ErrnoStatus(out_path, "open", errno);
        return false;
      }
      Report(file, 0, length.value_or(0), false);
      return true;
    };
    auto on_data = [&](const char* data, size_t n) {
      if (r->status != 200) return true;  // an error page: not kept
      if ((length && received + n > *length) || received + n > options_.max_file_bytes) {
        failure = Status::IOError("GET " + at.Url() + ": " + file + " is longer than " +
                                  (length ? "its Content-Length " + std::to_string(*length)
                                          : "the limit of " + std::to_string(options_.max_file_bytes)) +
                                  " bytes");
        return false;
      }
      if (Status st = WriteFully(fd, out_path, std::string_view(data, n)); !st.ok()) {
        failure = st;
        return false;
      }
      received += n;
      if (received - last_report >= (1u << 20)) {
        last_report = received;
        Report(file, received, length.value_or(0), false);
      }
      return true;
    };
    auto result = cli.Get(at.path, headers, on_response, on_data);
    Status done;
    if (fd >= 0) {
      if (::fsync(fd) != 0 && failure.ok()) failure = ErrnoStatus(out_path, "fsync", errno);
      if (::close(fd) != 0 && failure.ok()) failure = ErrnoStatus(out_path, "close", errno);
    }
    if (!failure.ok()) return failure;
    if (!result) {
      if (r->status == 200) {
        return Status::IOError("GET " + at.Url() + ": " + file + " arrived incomplete after " +
                               std::to_string(received) + (length ? " of " + std::to_string(*length) : "") +
                               " bytes (" + httplib::to_string(result.error()) + ")");
      }
      return Status::IOError("GET " + at.Url() + ": " + httplib::to_string(result.error()) +
                             " (is the server reachable? HF_ENDPOINT=" + endpoint_.Url() + ")");
    }
    if (r->status == 200) {
      if (length && received != *length) {
        return Status::IOError("GET " + at.Url() + ": " + file + " is truncated: " + std::to_string(received) +
                               " of its Content-Length " + std::to_string(*length) + " bytes");
      }
      Report(file, received, length.value_or(received), true);
    }
    return Status::OK();
  }

  void Report(const std::string& file, uint64_t received, uint64_t total, bool done) const {
    if (options_.progress) options_.progress(PullProgress{file, received, total, done});
  }

  Location endpoint_;
  std::string repo_;
  const PullOptions& options_;
  std::string token_;
};

Status FsyncDirectory(const std::string& dir) {
  const int fd = OpenRetryingEintr(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(dir, "open", errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  return rc == 0 ? Status::OK() : ErrnoStatus(dir, "fsync", err);
}

// Puts the complete directory `from` at `to` in one step: `to` is either absent or the
// previous model until the rename, never half of either. The previous model, if any, is then
// removed.
Status InstallDirectory(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) == 0) return Status::OK();
  int err = errno;
  if (err == EEXIST || err == ENOTEMPTY) {
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_EXCHANGE) == 0) {
      std::error_code ec;
      fs::remove_all(from, ec);  // now the previous model
      return Status::OK();
    }
    err = errno;
  }
  if (err != EINVAL && err != ENOSYS) return ErrnoStatus(to, "rename", err);
  // A file system without renameat2's flags: the previous model is moved aside, then the new
  // one into place (a reader may find no model for that moment, never a partial one).
  const std::string aside = from + ".old";
  const bool had = ::rename(to.c_str(), aside.c_str()) == 0;
  if (!had && errno != ENOENT) return ErrnoStatus(to, "rename", errno);
  if (::rename(from.c_str(), to.c_str()) != 0) {
    err = errno;
    if (had) (void)::rename(aside.c_str(), to.c_str());
    return ErrnoStatus(to, "rename", err);
  }
  std::error_code ec;
  if (had) fs::remove_all(aside, ec);
  return Status::OK();
}

}  // namespace

Result<std::string> PullModel(std::string_view repo_in, const PullOptions& options) {
  const std::string repo(repo_in);
  SEXTANT_RETURN_IF_ERROR(CheckRepoName(repo));
  SEXTANT_RETURN_IF_ERROR(CheckRevision(options.revision));
  const char* env = std::getenv("HF_ENDPOINT");
  std::string endpoint_url = env != nullptr && *env != '\0' ? env : "https://huggingface.co";
  while (!endpoint_url.empty() && endpoint_url.back() == '/') endpoint_url.pop_back();
  SEXTANT_ASSIGN_OR_RETURN(Location endpoint, ParseUrl(endpoint_url, "HF_ENDPOINT"));
  if (endpoint.path.find('?') != std::string::npos) {
    return Status::InvalidArgument("HF_ENDPOINT '" + endpoint_url + "' must not have a query");
  }

  std::string root = options.dir.empty() ? ModelsDir() : options.dir;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  const std::string target = root + "/" + repo;
  const std::string parent = ParentDirectory(target);
  std::error_code ec;
  fs::create_directories(parent, ec);
  if (ec) return Status::IOError("cannot create the models folder " + parent + ": " + ec.message());
  const std::string leaf = target.substr(parent.size() + 1);
  std::string tmp_template = parent + "/." + leaf + ".pull-XXXXXX";
  if (::mkdtemp(tmp_template.data()) == nullptr) return ErrnoStatus(tmp_template, "mkdtemp", errno);
  const std::string tmp = tmp_template;
  TreeGuard guard(tmp);

  Puller puller(endpoint, repo, options);
  std::vector<std::string> fetched;
  auto fetch = [&](const std::string& file, bool required) -> Status {
    const std::string out = tmp + "/" + file;
    if (const size_t slash = file.rfind('/'); slash != std::string::npos) {
      std::error_code mk;
      fs::create_directories(tmp + "/" + file.substr(0, slash), mk);
      if (mk) return Status::IOError("cannot create " + tmp + "/" + file.substr(0, slash) + ": " + mk.message());
    }
    bool skipped = false;
    SEXTANT_RETURN_IF_ERROR(puller.Fetch(file, out, required, &skipped));
    if (!skipped) fetched.push_back(file);
    return Status::OK();
  };
  for (const std::string& f : PullRequiredFiles()) SEXTANT_RETURN_IF_ERROR(fetch(f, true));
  for (const std::string& f : PullOptionalFiles()) SEXTANT_RETURN_IF_ERROR(fetch(f, false));
  // The configuration of modules in other folders than 1_Pooling (e.g. 2_Normalize, 2_Dense).
  if (auto modules = ReadFileToString(tmp + "/modules.json"); modules.ok()) {
    if (auto j = ParseJson(*modules); j.ok() && j->is_array()) {
      for (const auto& m : *j) {
        if (!m.is_object() || !m.contains("path") || !m["path"].is_string()) continue;
        const std::string path = m["path"].get<std::string>();
        const std::string file = path + "/config.json";
        if (!ModulePathOk(path) || std::find(fetched.begin(), fetched.end(), file) != fetched.end() ||
            file == "1_Pooling/config.json") {
          continue;
        }
        SEXTANT_RETURN_IF_ERROR(fetch(file, false));
      }
    }
  }

  // Only a model that loads is installed.
  if (auto model = LoadModel(tmp); !model.ok()) {
    std::string message = model.status().message();
    for (size_t at; (at = message.find(tmp)) != std::string::npos;) message.replace(at, tmp.size(), repo);
    return Status::InvalidArgument("the model downloaded from '" + repo + "' does not load: " + message);
  }
  nlohmann::json source = {{"repo", repo}, {"revision", options.revision}, {"endpoint", endpoint.Url()}};
  source["files"] = fetched;
  source["pulled_at_unix"] = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
  const std::string source_text = source.dump() + "\n";
  SEXTANT_RETURN_IF_ERROR(
      WriteFileAtomically(tmp + "/.sextant-source.json", {FilePiece{source_text.data(), source_text.size()}}));
  SEXTANT_RETURN_IF_ERROR(FsyncDirectory(tmp));
  SEXTANT_RETURN_IF_ERROR(InstallDirectory(tmp, target));
  guard.Release();
  SEXTANT_RETURN_IF_ERROR(FsyncDirectory(parent));
  return target;
}

}  // namespace sextant::embed
