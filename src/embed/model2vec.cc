#include "embed/model2vec.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <thread>

#include "common/json.h"
#include "common/mapped_file.h"
#include "embed/safetensors.h"

namespace sextant::embed {
namespace {

// The first `max_chars` code points of valid UTF-8 `text` (Python's text[:max_chars]).
std::string_view CutChars(std::string_view text, size_t max_chars) {
  if (text.size() <= max_chars) return text;  // fewer bytes than allowed characters
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<uint8_t>(text[i]) & 0xC0) != 0x80) {
      if (chars == max_chars) return text.substr(0, i);
      ++chars;
    }
  }
  return text;
}

// Scratch ids per thread, so that embedding allocates nothing in steady state.
std::vector<int32_t>& ThreadIds() {
  thread_local std::vector<int32_t> ids;
  return ids;
}

}  // namespace

Result<std::unique_ptr<Model2Vec>> Model2Vec::Load(const std::string& dir, std::string name) {
  const std::string config_path = dir + "/config.json";
  const std::string model_path = dir + "/model.safetensors";
  const std::string tokenizer_path = dir + "/tokenizer.json";
  SEXTANT_ASSIGN_OR_RETURN(std::string config, ReadFileToString(config_path));
  SEXTANT_ASSIGN_OR_RETURN(SafeTensors tensors, SafeTensors::Open(model_path));
  SEXTANT_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::FromJsonFile(tokenizer_path));
  return Build(config, config_path, tensors, std::move(tokenizer), name.empty() ? dir : std::move(name));
}

Result<std::unique_ptr<Model2Vec>> Model2Vec::FromMemory(const Files& files, std::string name) {
  SEXTANT_ASSIGN_OR_RETURN(SafeTensors tensors, SafeTensors::Parse(files.safetensors, name + "/model.safetensors"));
  SEXTANT_ASSIGN_OR_RETURN(Tokenizer tokenizer, Tokenizer::FromJson(files.tokenizer_json, name + "/tokenizer.json"));
  return Build(files.config_json, name + "/config.json", tensors, std::move(tokenizer), std::move(name));
}

Result<std::unique_ptr<Model2Vec>> Model2Vec::Build(std::string_view config_json, const std::string& config_name,
                                                    const SafeTensors& tensors, Tokenizer tokenizer,
                                                    std::string name) {
  auto config = ParseJson(config_json);
  if (!config.ok()) return Status::InvalidArgument(config_name + ": " + config.status().message());
  if (!config->is_object()) return Status::InvalidArgument(config_name + ": not a JSON object");
  std::unique_ptr<Model2Vec> m(new Model2Vec(std::move(tokenizer)));
  m->name_ = std::move(name);
  // model2vec's default when the config does not say.
  if (const auto it = config->find("normalize"); it != config->end() && !it->is_null()) {
    if (!it->is_boolean()) return Status::InvalidArgument(config_name + ": \"normalize\" must be true or false");
    m->normalize_ = it->get<bool>();
  }
  // "hidden_dim" is informational: model2vec takes the dimension from the tensor (its own test
  // models say 64 for a 2-dimensional tensor), and so does Sextant.

  const std::string& src = tensors.source();
  SEXTANT_ASSIGN_OR_RETURN(const TensorInfo* emb, tensors.Get("embeddings"));
  if (emb->shape.size() != 2 || emb->shape[0] == 0 || emb->shape[1] == 0) {
    std::string shape;
    for (uint64_t d : emb->shape) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
    return Status::InvalidArgument(src + ": tensor 'embeddings' has shape [" + shape +
                                   "], expected [vocabulary size, dimension]");
  }
  m->rows_ = emb->shape[0];
  m->dim_ = emb->shape[1];
  const size_t vocab = m->tokenizer_.vocab_size();

  if (const TensorInfo* map = tensors.Find("mapping")) {
    if (map->shape.size() != 1 || map->shape[0] != vocab) {
      return Status::InvalidArgument(src + ": tensor 'mapping' must have shape [" + std::to_string(vocab) +
                                     "] (one row per token of the tokenizer)");
    }
    SEXTANT_ASSIGN_OR_RETURN(std::vector<int64_t> rows, tensors.ToInt64("mapping"));
    m->mapping_.resize(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i] < 0 || static_cast<uint64_t>(rows[i]) >= m->rows_) {
        return Status::InvalidArgument(src + ": tensor 'mapping' maps token " + std::to_string(i) + " to row " +
                                       std::to_string(rows[i]) + ", outside the " + std::to_string(m->rows_) +
                                       " rows of 'embeddings'");
      }
      m->mapping_[i] = static_cast<int32_t>(rows[i]);
    }
  } else if (m->rows_ != vocab) {
    return Status::InvalidArgument(src + ": tensor 'embeddings' has " + std::to_string(m->rows_) +
                                   " rows, but the tokenizer has " + std::to_string(vocab) + " tokens");
  }
  if (const TensorInfo* w = tensors.Find("weights")) {
    if (w->shape.size() != 1 || w->shape[0] != vocab) {
      return Status::InvalidArgument(src + ": tensor 'weights' must have shape [" + std::to_string(vocab) + "]");
    }
    SEXTANT_ASSIGN_OR_RETURN(m->weights_, tensors.ToFloat("weights"));
  }

  switch (emb->dtype) {
    case DType::kI8: {
      const auto bytes = tensors.Bytes(*emb);
      m->i8_.assign(reinterpret_cast<const int8_t*>(bytes.data()),
                    reinterpret_cast<const int8_t*>(bytes.data()) + bytes.size());
      break;
    }
    case DType::kF32: case DType::kF16: case DType::kBF16: case DType::kF64:
      m->f32_.resize(emb->elements);
      SEXTANT_RETURN_IF_ERROR(tensors.ToFloat(*emb, m->f32_.data()));
      break;
    default:
      return Status::InvalidArgument(src + ": tensor 'embeddings' has dtype " + std::string(DTypeName(emb->dtype)) +
                                     "; Model2Vec models are F32, F16, BF16, F64 or I8");
  }
  for (float x : m->f32_) {
    if (!std::isfinite(x)) return Status::InvalidArgument(src + ": tensor 'embeddings' holds NaN or infinity");
  }
  for (float x : m->weights_) {
    if (!std::isfinite(x)) return Status::InvalidArgument(src + ": tensor 'weights' holds NaN or infinity");
  }

  // model2vec: int(np.median(lengths of the vocabulary's tokens)).
  std::vector<size_t> lens = m->tokenizer_.TokenCharLengths();
  size_t median = 1;
  if (!lens.empty()) {
    std::sort(lens.begin(), lens.end());
    const size_t h = lens.size() / 2;
    median = lens.size() % 2 ? lens[h] : (lens[h - 1] + lens[h]) / 2;
  }
  m->max_chars_ = kMaxTokens * std::max<size_t>(median, 1);
  return m;
}

Status Model2Vec::TokenIds(std::string_view text, std::vector<int32_t>* ids) const {
  // Checked whole first, so that bytes past the character cut are held to the same rule.
  if (const size_t bad = FirstInvalidUtf8(text); bad != std::string_view::npos) {
    return Status::InvalidArgument("text is not valid UTF-8 at byte " + std::to_string(bad));
  }
  EncodeOptions opt;
  opt.drop_unknown = true;
  opt.max_length = kMaxTokens;
  return tokenizer_.Encode(CutChars(text, max_chars_), opt, ids);
}

Status Model2Vec::EmbedOne(std::string_view text, float* out) const {
  std::vector<int32_t>& ids = ThreadIds();
  SEXTANT_RETURN_IF_ERROR(TokenIds(text, &ids));
  std::fill(out, out + dim_, 0.0f);
  if (ids.empty()) return Status::OK();
  const size_t d = dim_;
  if (!i8_.empty() && mapping_.empty() && weights_.empty()) {
    // Exact integer sums, one division: no rounding until the mean.
    thread_local std::vector<int32_t> acc;
    acc.assign(d, 0);
    for (size_t k = 0; k < ids.size(); ++k) {
      // The rows are scattered over the table: fetch a few tokens ahead.
      if (k + 4 < ids.size()) {
        const int8_t* ahead = &i8_[static_cast<size_t>(ids[k + 4]) * d];
        for (size_t j = 0; j < d; j += 64) __builtin_prefetch(ahead + j);
      }
      const int8_t* row = &i8_[static_cast<size_t>(ids[k]) * d];
      for (size_t j = 0; j < d; ++j) acc[j] += row[j];
    }
    const double n = static_cast<double>(ids.size());
    for (size_t j = 0; j < d; ++j) out[j] = static_cast<float>(acc[j] / n);
  } else {
    for (int32_t id : ids) {
      const size_t row = mapping_.empty() ? static_cast<size_t>(id) : static_cast<size_t>(mapping_[id]);
      const float w = weights_.empty() ? 1.0f : weights_[id];
      if (!i8_.empty()) {
        const int8_t* r = &i8_[row * d];
        for (size_t j = 0; j < d; ++j) out[j] += w * static_cast<float>(r[j]);
      } else {
        const float* r = &f32_[row * d];
        for (size_t j = 0; j < d; ++j) out[j] += w * r[j];
      }
    }
    const float n = static_cast<float>(ids.size());
    for (size_t j = 0; j < d; ++j) out[j] /= n;
  }
  if (normalize_) {
    double ss = 0;
    for (size_t j = 0; j < d; ++j) ss += static_cast<double>(out[j]) * out[j];
    const double norm = std::sqrt(ss) + 1e-32;
    for (size_t j = 0; j < d; ++j) out[j] = static_cast<float>(out[j] / norm);
  }
  return Status::OK();
}

Result<std::vector<float>> Model2Vec::Embed(std::span<const std::string_view> texts, int threads) const {
  std::vector<float> out(texts.size() * dim_);
  const size_t n = texts.size();
  size_t workers = threads > 0 ? static_cast<size_t>(threads) : std::max(1u, std::thread::hardware_concurrency());
  workers = std::min(workers, n);
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) {
      Status st = EmbedOne(texts[i], &out[i * dim_]);
      if (!st.ok()) return st.WithContext("text " + std::to_string(i));
    }
    return out;
  }
  // Texts are handed out in small chunks, so that a few long texts do not leave threads idle.
  constexpr size_t kChunk = 16;
  std::atomic<size_t> next{0};
  std::mutex mu;
  size_t first_bad = n;
  Status first_error;
  auto work = [&] {
    for (;;) {
      const size_t b = next.fetch_add(kChunk);
      if (b >= n) return;
      for (size_t i = b; i < std::min(n, b + kChunk); ++i) {
        Status st = EmbedOne(texts[i], &out[i * dim_]);
        if (!st.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (i < first_bad) {
            first_bad = i;
            first_error = std::move(st);
          }
        }
      }
    }
  };
  std::vector<std::thread> pool;
  pool.reserve(workers - 1);
  for (size_t t = 1; t < workers; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (first_bad < n) return first_error.WithContext("text " + std::to_string(first_bad));
  return out;
}

}  // namespace sextant::embed
