// Model names and files: the models folder where pulled models live, what is installed, what a
// model is, and pulling a model's files from the Hugging Face hub (or any server laid out like
// it, named by HF_ENDPOINT as Hugging Face's own tools do).
//
// Layout: a model pulled from the repository `owner/name` lives in ModelsDir()/owner/name and
// is then known by the name "owner/name" (LoadModel and LoadNamedModel in model.h resolve it);
// a model directory placed directly in ModelsDir()/NAME is known as "NAME". Names beginning
// with '.' are the pull's work directories and are never models.
//
// Thread-safety: every function may be called from many threads; two pulls of the same
// repository into the same folder at once each complete or fail on their own (the last one to
// finish is the one installed).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sextant/status.h"

namespace sextant::embed {

// The models folder: $SEXTANT_MODELS when set and not empty, else $HOME/.cache/sextant/models
// (else ./.cache/sextant/models without HOME). Read on every call; not created here.
std::string ModelsDir();

// One installed or built-in model, as `sextant model list` prints it.
struct ModelEntry {
  std::string name;       // "potion-base-4M", or "owner/name" under ModelsDir()
  std::string kind;       // "model2vec" or "bert"
  size_t dimension = 0;   // floats per embedding (0 when `error` is set)
  std::string path;       // the directory; empty for a built-in model
  uint64_t bytes = 0;     // bytes of its files (built-in: the compiled-in files)
  bool builtin = false;
  std::string error;      // a directory that looks like a model but cannot be read: why
};

// The built-in models (default first), then every model directory under ModelsDir() sorted by
// name: a directory is a model when it holds config.json or modules.json (at depth one, or at
// depth two for owner/name). Kind and dimension come from config.json and the safetensors
// header, without loading the weights; a damaged directory is listed with `error` set. A
// missing models folder lists the built-in models only. Errors: IOError if the folder exists
// but cannot be read.
Result<std::vector<ModelEntry>> ListModels();

// What a model is, as one JSON object: name, kind, dimension, max_tokens (Model2Vec: tokens
// averaged at most; BERT: max_seq_length), normalize, pooling and prompts (BERT), path
// (absent for built-in), files [{name, bytes}], bytes, license (the first line of LICENSE, or
// the model card's "license:" line, when there is one), source (where a pulled model came
// from), builtin. `name_or_dir` is resolved as LoadModel resolves it (built-in, directory,
// then a name under ModelsDir()); the model is loaded to check it. Errors: those of LoadModel.
Result<nlohmann::json> ModelInfo(std::string_view name_or_dir);

// Where a pull is: `received` bytes of `file` so far, of `total` (0: the server did not say);
// called once with done = true when the file is complete.
struct PullProgress {
  std::string file;
  uint64_t received = 0;
  uint64_t total = 0;
  bool done = false;
};

struct PullOptions {
  std::string revision = "main";  // a branch, tag or commit
  std::string dir;                // the models folder; empty: ModelsDir()
  std::function<void(const PullProgress&)> progress;  // may be empty
  int connect_timeout_s = 15;
  int read_timeout_s = 60;        // between two reads of one response
  uint64_t max_file_bytes = uint64_t{16} << 30;  // a larger file is refused
};

// The files PullModel asks for: those a sentence-transformers or Model2Vec repository has.
// Required ones must exist (config.json, model.safetensors, tokenizer.json); the others are
// skipped when the server answers 404. Files of modules.json's module folders (e.g.
// "2_Dense/config.json") are asked for too, as optional.
std::vector<std::string> PullRequiredFiles();
std::vector<std::string> PullOptionalFiles();

// Checks a repository name: "owner/name" (or a bare "name", as older hub repositories),
// each part 1-96 characters of [A-Za-z0-9._-], not beginning with '.' and without "..".
// Errors: InvalidArgument naming what is wrong.
Status CheckRepoName(std::string_view repo);

// Downloads the model of hub repository `repo` at options.revision into options.dir/repo and
// returns that directory. Files come from {HF_ENDPOINT or https://huggingface.co}/{repo}/
// resolve/{revision}/{file} (revision percent-encoded), following redirects (at most 10; the
// Authorization header is not sent to another host); $HF_TOKEN, when set, is sent as
// "Authorization: Bearer TOKEN" and never written anywhere. The files go to a temporary
// directory beside the target (options.dir/owner/.name.pull-XXXXXX); once all have arrived
// the model must load (LoadModel), and only then replaces the target in one step (an
// existing model of that name stays in place, complete, until then). A failed pull leaves
// nothing behind. Each file's size is checked against Content-Length (a longer or shorter
// body is an error). Progress goes to options.progress.
// Errors: InvalidArgument for a bad repository name or revision, or when what was downloaded
// does not load (the loader's message, naming the file); NotFound naming the URL and HTTP
// status when a required file is missing (404, 401/403 for a private or gated repository);
// IOError for a server that cannot be reached, another HTTP status, a timeout, a truncated
// body, or a local file that cannot be written.
Result<std::string> PullModel(std::string_view repo, const PullOptions& options = {});

}  // namespace sextant::embed
