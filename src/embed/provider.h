// Embedding providers: an EmbeddingModel whose vectors come from an OpenAI-compatible
// `POST {url}/embeddings` service (OpenAI, Ollama, vLLM, Hugging Face TEI, llama.cpp's server,
// another Sextant's `sextant serve`) instead of from a model run in-process.
//
// Each Embed call sends its texts in batches of `batch_size`, one request at a time and in order,
// with the body {"model": M, "input": [...], "encoding_format": "float"} (plus "dimensions" when
// set), and reads {"data": [{"index": I, "embedding": [...]}, ...]} (rows put back in `index`
// order). Every answer is checked: one row per text, each `dimension()` finite numbers. A
// connection error, a timeout, or HTTP 408, 429 or 5xx is retried up to `max_retries` times with
// exponential backoff and jitter (0.5 s doubling to 8 s, times 0.75-1), or after the server's
// Retry-After (seconds or an HTTP date, up to 60 s). Any failure left after the retries fails the
// whole call with one error naming the URL, the texts of the batch, the HTTP status or transport
// error and the provider's own message; no vectors are returned, so a caller applies nothing.
//
// Error codes: a provider that cannot be reached, times out, answers 408/429/5xx after the
// retries, or answers something that is not a valid embeddings list: IOError. HTTP 401/403 (the
// key is refused): FailedPrecondition. Any other 4xx (the provider refuses the request, e.g. an
// unknown model or a text too long for it): InvalidArgument.
//
// Texts are sent as given, empty ones too (what an empty text means is the provider's call; some
// refuse it). Kinds are ignored: EmbedAs embeds queries and documents alike (OpenAI's API has no
// such notion; put a provider's prefix in the text if it wants one). `threads` is ignored.
//
// The API key is read from the environment variable named in the options when the provider is
// opened, held in memory only, sent as "Authorization: Bearer KEY", and never written, logged or
// put in an error message; ProviderOptionsToJson writes the variable's name, never its value.
//
// Thread-safety: a provider is immutable after OpenProvider; Embed may be called from many
// threads at once (each call uses its own connection).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "embed/model.h"
#include "sextant/status.h"

namespace sextant::embed {

struct ProviderOptions {
  // Base URL of an OpenAI-compatible API, e.g. "https://api.openai.com/v1" or
  // "http://127.0.0.1:8080/v1"; requests go to url + "/embeddings". http or https; no user
  // name, query or fragment; a trailing '/' is ignored.
  std::string url;
  // The provider's model name, sent as "model".
  std::string model;
  // Name of the environment variable holding the key (sent as "Authorization: Bearer KEY");
  // empty: no key. The key itself is never stored or logged.
  std::string api_key_env;
  // 0: learn it from the first answer (OpenProvider probes once); else sent as "dimensions"
  // (Matryoshka models: OpenAI's text-embedding-3-*) and checked on every answer. Leave 0 for
  // providers that refuse the "dimensions" field.
  size_t dimensions = 0;
  // Texts per request, 1 to 2048 (OpenAI's limit).
  size_t batch_size = 64;
  // Seconds per request attempt, connecting and reading the whole answer; > 0, at most 3600.
  double timeout_s = 30;
  // Further attempts after a connection error, a timeout or HTTP 408/429/5xx, 0 to 10; with
  // exponential backoff and jitter, honouring Retry-After.
  int max_retries = 3;
};

// Checks the options (URL scheme http/https, non-empty model, the key's environment variable
// set and non-empty when named, limits as above) and returns a model whose dimension() is known:
// given, or probed with one request (the text "dimension probe") at open, so an unreachable
// provider or a refused key fails here. name() is "provider:" + model.
// Errors: InvalidArgument naming the bad option; the probe's errors as for Embed.
Result<std::shared_ptr<const EmbeddingModel>> OpenProvider(const ProviderOptions& options);

// The JSON form used in collection settings and config.json:
// {"url", "model", "api_key_env", "dimensions", "batch_size", "timeout_s", "max_retries"}; "url"
// and "model" are required, the others default as in ProviderOptions. Strict: unknown keys,
// wrong types and values out of range are InvalidArgument naming the field. Whether the key's
// variable is set is checked by OpenProvider, not here.
Result<ProviderOptions> ProviderOptionsFromJson(const nlohmann::json& j);
// Every field, so that FromJson(ToJson(o)) == o.
nlohmann::json ProviderOptionsToJson(const ProviderOptions& o);

}  // namespace sextant::embed
