// Handlers of the OpenAI-compatible embedding routes: POST /v1/embeddings embeds text with a
// built-in or pulled model (never a directory a client names), GET /v1/models lists them. Their
// errors carry OpenAI's fields: {"error": {"message", "type", "code", "param"}}.
#include <charconv>
#include <map>
#include <mutex>

#include "embed/bert.h"
#include "embed/model.h"
#include "embed/model2vec.h"
#include "embed/model_store.h"
#include "server/server_impl.h"

namespace sextant::server {

using nlohmann::json;

// Models loaded by name, once per server (a model pulled again while the server runs is picked
// up after a restart). Built-in models are shared process-wide by LoadModel anyway.
struct ServerImpl::EmbeddingModels {
  std::mutex mu;
  std::map<std::string, std::shared_ptr<const embed::EmbeddingModel>, std::less<>> loaded;
};

std::shared_ptr<ServerImpl::EmbeddingModels> ServerImpl::NewEmbeddingModels() {
  return std::make_shared<EmbeddingModels>();
}

namespace {

// Inputs per request at most (OpenAI's limit).
constexpr size_t kMaxInputs = 2048;
// Texts embedded between two looks at the request's deadline.
constexpr size_t kChunk = 256;

// An error in OpenAI's shape, which keeps Sextant's {"code", "message"}.
Reply ApiError(int status, const std::string& code, const std::string& message, const std::string& param = "") {
  Reply r = Error(status, code, message);
  r.body["error"]["type"] = status >= 500 ? "server_error" : "invalid_request_error";
  r.body["error"]["param"] = param.empty() ? json(nullptr) : json(param);
  return r;
}

Reply ApiError(const Reply& sextant_error) {
  Reply r = sextant_error;
  if (r.body.is_object() && r.body.contains("error")) {
    r.body["error"]["type"] = r.status >= 500 ? "server_error" : "invalid_request_error";
    r.body["error"]["param"] = nullptr;
  }
  return r;
}

void AppendFloat(std::string& out, float x) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, x);  // shortest text that reads back as x
  out.append(buf, r.ptr);
}

// Little-endian float32 bytes in base64 (OpenAI's encoding_format "base64").
void AppendBase64(std::string& out, const float* v, size_t n) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* bytes = reinterpret_cast<const unsigned char*>(v);  // x86-64 and arm64 are little-endian
  const size_t len = n * sizeof(float);
  for (size_t i = 0; i < len; i += 3) {
    const uint32_t b0 = bytes[i], b1 = i + 1 < len ? bytes[i + 1] : 0, b2 = i + 2 < len ? bytes[i + 2] : 0;
    const uint32_t w = (b0 << 16) | (b1 << 8) | b2;
    out += kAlphabet[(w >> 18) & 63];
    out += kAlphabet[(w >> 12) & 63];
    out += i + 1 < len ? kAlphabet[(w >> 6) & 63] : '=';
    out += i + 2 < len ? kAlphabet[w & 63] : '=';
  }
}

// The tokens a text costs: those Model2Vec averages (unknown ones dropped, at most 512), or
// the ids a BERT encoder runs ([CLS], prompt and [SEP] included, cut at max_seq_length).
// Another kind of model: an estimate of one token per 4 bytes.
size_t CountTokens(const embed::EmbeddingModel& model, std::string_view text) {
  std::vector<int32_t> ids;
  if (const auto* m2v = dynamic_cast<const embed::Model2Vec*>(&model)) {
    if (m2v->TokenIds(text, &ids).ok()) return ids.size();
  } else if (const auto* bert = dynamic_cast<const embed::BertModel*>(&model)) {
    if (bert->TokenIds(text, bert->default_prompt_name(), &ids).ok()) return ids.size();
  }
  return (text.size() + 3) / 4;
}

}  // namespace

Result<std::shared_ptr<const embed::EmbeddingModel>> ServerImpl::LoadEmbeddingModel(const std::string& name) {
  {
    std::lock_guard<std::mutex> lock(embedding_models_->mu);
    if (auto it = embedding_models_->loaded.find(name); it != embedding_models_->loaded.end()) return it->second;
  }
  // Loaded outside the lock: a large model takes a while, and other models need not wait.
  // Two first requests for one model may both load it; the first stored is kept.
  SEXTANT_ASSIGN_OR_RETURN(std::shared_ptr<const embed::EmbeddingModel> model, embed::LoadNamedModel(name));
  std::lock_guard<std::mutex> lock(embedding_models_->mu);
  return embedding_models_->loaded.emplace(name, std::move(model)).first->second;
}

Reply ServerImpl::CreateEmbeddings(RequestContext& ctx) {
  const json& body = ctx.body;
  if (!body.is_object()) return ApiError(400, "bad_request", "the body must be a JSON object");
  const auto model_field = body.find("model");
  if (model_field == body.end() || !model_field->is_string() || model_field->get_ref<const std::string&>().empty()) {
    return ApiError(400, "bad_request", "\"model\" must be the name of a model (e.g. \"potion-base-4M\")", "model");
  }
  const std::string& name = model_field->get_ref<const std::string&>();
  // A name, never a path: the server reads no directory a client names.
  if (Status st = embed::CheckRepoName(name); !st.ok()) {
    return ApiError(400, "bad_request", "\"model\" is not a model name: " + st.message(), "model");
  }

  const auto input = body.find("input");
  if (input == body.end()) return ApiError(400, "bad_request", "\"input\" is required: a string or an array of strings", "input");
  std::vector<std::string_view> texts;
  if (input->is_string()) {
    texts.push_back(input->get_ref<const std::string&>());
  } else if (input->is_array()) {
    if (input->empty()) return ApiError(400, "bad_request", "\"input\" is an empty array", "input");
    if (input->size() > kMaxInputs) {
      return ApiError(400, "bad_request",
                      "\"input\" has " + std::to_string(input->size()) + " items; at most " +
                          std::to_string(kMaxInputs) + " per request",
                      "input");
    }
    for (size_t i = 0; i < input->size(); ++i) {
      const json& item = (*input)[i];
      if (item.is_string()) {
        texts.push_back(item.get_ref<const std::string&>());
        continue;
      }
      const bool token_ids = item.is_number_integer() || (item.is_array() && !item.empty() && item[0].is_number_integer());
      return ApiError(400, "bad_request",
                      token_ids ? "\"input\" holds token ids; this server embeds text only: send strings"
                                : "\"input\"[" + std::to_string(i) + "] must be a string, not " +
                                      std::string(item.type_name()),
                      "input");
    }
  } else {
    return ApiError(400, "bad_request",
                    "\"input\" must be a string or an array of strings, not " + std::string(input->type_name()), "input");
  }

  std::string encoding = "float";
  if (const auto f = body.find("encoding_format"); f != body.end() && !f->is_null()) {
    if (!f->is_string() || (f->get_ref<const std::string&>() != "float" && f->get_ref<const std::string&>() != "base64")) {
      return ApiError(400, "bad_request", "\"encoding_format\" must be \"float\" or \"base64\"", "encoding_format");
    }
    encoding = f->get<std::string>();
  }

  auto loaded = LoadEmbeddingModel(name);
  if (!loaded.ok()) {
    const Status& st = loaded.status();
    if (st.code() == StatusCode::kNotFound) return ApiError(404, "model_not_found", st.message(), "model");
    // A damaged model directory: the server's problem, not the request's. Its path is not
    // shown to the client.
    std::string message = st.message();
    const std::string folder = embed::ModelsDir();
    for (size_t at; !folder.empty() && (at = message.find(folder)) != std::string::npos;) {
      message.replace(at, folder.size(), "$SEXTANT_MODELS");
    }
    return ApiError(500, "model_unavailable", "model '" + name + "' cannot be loaded: " + message, "model");
  }
  const embed::EmbeddingModel& model = **loaded;
  const size_t dim = model.dimension();
  size_t dims = dim;
  if (const auto d = body.find("dimensions"); d != body.end() && !d->is_null()) {
    if (!d->is_number_integer() || d->get<int64_t>() < 1) {
      return ApiError(400, "bad_request", "\"dimensions\" must be a positive integer", "dimensions");
    }
    if (d->get<int64_t>() > static_cast<int64_t>(dim)) {
      return ApiError(400, "bad_request",
                      "\"dimensions\" " + std::to_string(d->get<int64_t>()) + " is larger than the " +
                          std::to_string(dim) + " dimensions of model " + name,
                      "dimensions");
    }
    dims = static_cast<size_t>(d->get<int64_t>());
  }

  // In chunks, so that a request past its deadline stops between them.
  std::vector<float> rows;
  rows.reserve(texts.size() * dims);
  size_t tokens = 0;
  for (size_t at = 0; at < texts.size(); at += kChunk) {
    if (ctx.deadline && std::chrono::steady_clock::now() > *ctx.deadline) {
      return ApiError(DeadlineError("embedded " + std::to_string(at) + " of " + std::to_string(texts.size()) + " inputs"));
    }
    const std::span<const std::string_view> chunk(texts.data() + at, std::min(kChunk, texts.size() - at));
    auto embedded = model.Embed(chunk, 1);
    if (!embedded.ok()) {
      std::string message = embedded.status().message();
      // "text I: ..." counts from the chunk's start: name the input.
      if (message.rfind("text ", 0) == 0) {
        size_t i = 0;
        const auto [p, ec] = std::from_chars(message.data() + 5, message.data() + message.size(), i);
        if (ec == std::errc()) {
          message = "input " + std::to_string(at + i) + message.substr(static_cast<size_t>(p - message.data()));
        }
      }
      return ApiError(embedded.status().code() == StatusCode::kInvalidArgument ? 400 : 500,
                      embedded.status().code() == StatusCode::kInvalidArgument ? "bad_request" : "internal", message,
                      "input");
    }
    if (dims != dim) {
      auto cut = embed::TruncateDimensions(*embedded, dim, dims);
      if (!cut.ok()) return ApiError(400, "bad_request", cut.status().message(), "dimensions");
      rows.insert(rows.end(), cut->begin(), cut->end());
    } else {
      rows.insert(rows.end(), embedded->begin(), embedded->end());
    }
    for (std::string_view t : chunk) tokens += CountTokens(model, t);
  }

  // Written by hand: floats in their shortest form (a json number would print 17 digits).
  std::string out;
  out.reserve(texts.size() * (encoding == "float" ? dims * 12 : dims * 4 / 3 + 8) + 128);
  out += R"({"object":"list","data":[)";
  for (size_t i = 0; i < texts.size(); ++i) {
    if (i) out += ',';
    out += R"({"object":"embedding","index":)";
    out += std::to_string(i);
    out += R"(,"embedding":)";
    const float* row = rows.data() + i * dims;
    if (encoding == "base64") {
      out += '"';
      AppendBase64(out, row, dims);
      out += '"';
    } else {
      out += '[';
      for (size_t j = 0; j < dims; ++j) {
        if (j) out += ',';
        AppendFloat(out, row[j]);
      }
      out += ']';
    }
    out += '}';
  }
  out += R"(],"model":)";
  out += json(name).dump(-1, ' ', false, json::error_handler_t::replace);
  out += R"(,"usage":{"prompt_tokens":)" + std::to_string(tokens) + R"(,"total_tokens":)" + std::to_string(tokens) +
         "}}\n";
  Reply r;
  r.raw = std::move(out);
  r.raw_type = "application/json";
  return r;
}

Reply ServerImpl::ListModels(RequestContext&) {
  auto models = embed::ListModels();
  if (!models.ok()) return ApiError(500, "internal", models.status().message());
  json data = json::array();
  for (const embed::ModelEntry& m : *models) {
    if (!m.error.empty()) continue;  // listed by `sextant model list`, not servable
    data.push_back({{"id", m.name}, {"object", "model"}, {"created", 0}, {"owned_by", "sextant"}});
  }
  return Reply{200, {{"object", "list"}, {"data", std::move(data)}}};
}

}  // namespace sextant::server
