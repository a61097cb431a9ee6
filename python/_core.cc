// sextant._core: the pybind11 binding of the embedded database (include/sextant/database.h).
//
// Thin by design: every call converts its arguments, releases the GIL, calls the public C++ API
// and converts the result; settings, queries and stats go through the codec's one JSON form
// (the same parsers and checks as the server and the command line), so the embedded and the HTTP
// client judge input identically. The Chroma-style shaping lives in python/sextant/.
//
// Errors: a non-OK Status becomes the exception class that sextant.errors.error_class() names
// for its code (looked up when the first error is raised), with the Status's message unchanged.
// Vectors come in as numpy float32 arrays (used in place when C-contiguous float32; other dtypes
// are converted once) and go out as numpy float32 arrays.
//
// Thread-safety: as the C++ API — a Database and its Collections may be used from many Python
// threads; the GIL is released while the engine works.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "codec/collection_json.h"
#include "codec/point_json.h"
#include "codec/query_json.h"
#include "common/json.h"
#include "embed/model.h"
#include "sextant/database.h"
#include "sextant/status.h"

namespace py = pybind11;
using nlohmann::json;

namespace sextant {
namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// Raises the Python exception for a non-OK status (sextant.errors maps code names to classes).
[[noreturn]] void Raise(const Status& st) {
  py::object cls;
  {
    py::module_ errors = py::module_::import("sextant.errors");
    cls = errors.attr("error_class")(StatusCodeName(st.code()));
  }
  PyErr_SetString(cls.ptr(), st.message().c_str());
  throw py::error_already_set();
}

void Check(const Status& st) {
  if (!st.ok()) Raise(st);
}

template <typename T>
T Take(Result<T> r) {
  if (!r.ok()) Raise(r.status());
  return std::move(r).value();
}

json ParseArg(const std::string& text, const char* what) {
  auto j = ParseJson(text);
  if (!j.ok()) Raise(j.status().WithContext(what));
  return std::move(j).value();
}

std::optional<json> ParseOptional(const std::optional<std::string>& text, const char* what) {
  if (!text) return std::nullopt;
  return ParseArg(*text, what);
}

py::object VectorToNumpy(const std::vector<float>& v) {
  FloatArray a(static_cast<py::ssize_t>(v.size()));
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), v.size() * sizeof(float));
  return a;
}

// The UTF-8 bytes of `s` (a str), owned by the str object. `what`[i] names it in errors.
std::string_view Utf8(const py::handle& s, const char* what, size_t i) {
  if (!PyUnicode_Check(s.ptr())) {
    Raise(Status::InvalidArgument(std::string(what) + "[" + std::to_string(i) + "] must be a string, got " +
                                  std::string(Py_TYPE(s.ptr())->tp_name)));
  }
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(s.ptr(), &size);
  if (data == nullptr) {
    PyErr_Clear();
    Raise(Status::InvalidArgument(std::string(what) + "[" + std::to_string(i) +
                                  "] is not valid text (it holds a lone surrogate)"));
  }
  return std::string_view(data, static_cast<size_t>(size));
}

// Python values as JSON without a text round trip (dict with str keys, list/tuple, str, bool,
// int, finite float, None), with ParseJson's depth limit; anything else is InvalidArgument
// naming `what`.
json ToJson(const py::handle& o, const char* what, int depth = 0) {
  if (depth > 64) Raise(Status::InvalidArgument(std::string(what) + ": nested deeper than 64 levels"));
  if (o.is_none()) return nullptr;
  if (PyBool_Check(o.ptr())) return o.ptr() == Py_True;
  if (PyLong_Check(o.ptr())) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o.ptr(), &overflow);
    if (overflow == 0) return static_cast<int64_t>(v);
    const unsigned long long u = PyLong_AsUnsignedLongLong(o.ptr());
    if (PyErr_Occurred()) {
      PyErr_Clear();
      Raise(Status::InvalidArgument(std::string(what) + ": integer out of the 64-bit range"));
    }
    return static_cast<uint64_t>(u);
  }
  if (PyFloat_Check(o.ptr())) {
    const double v = PyFloat_AS_DOUBLE(o.ptr());
    if (!std::isfinite(v)) {
      Raise(Status::InvalidArgument(std::string(what) + ": " + (std::isnan(v) ? "NaN" : "an infinity") +
                                    " is not a JSON number"));
    }
    return v;
  }
  if (PyUnicode_Check(o.ptr())) return std::string(Utf8(o, what, 0));
  if (PyDict_Check(o.ptr())) {
    json out = json::object();
    for (auto [k, v] : py::reinterpret_borrow<py::dict>(o)) {
      if (!PyUnicode_Check(k.ptr())) Raise(Status::InvalidArgument(std::string(what) + ": a key is not a string"));
      out[std::string(Utf8(k, what, 0))] = ToJson(v, what, depth + 1);
    }
    return out;
  }
  if (PyList_Check(o.ptr()) || PyTuple_Check(o.ptr())) {
    json out = json::array();
    for (const py::handle& v : py::reinterpret_borrow<py::sequence>(o)) out.push_back(ToJson(v, what, depth + 1));
    return out;
  }
  Raise(Status::InvalidArgument(std::string(what) + ": a " + Py_TYPE(o.ptr())->tp_name + " is not a JSON value"));
}

// JSON as Python values (dict, list, str, int, float, bool, None).
py::object FromJson(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return py::none();
    case json::value_t::boolean: return py::bool_(j.get<bool>());
    case json::value_t::number_integer: return py::int_(j.get<int64_t>());
    case json::value_t::number_unsigned: return py::int_(j.get<uint64_t>());
    case json::value_t::number_float: return py::float_(j.get<double>());
    case json::value_t::string: return py::str(j.get_ref<const std::string&>());
    case json::value_t::array: {
      py::list out(j.size());
      for (size_t i = 0; i < j.size(); ++i) out[i] = FromJson(j[i]);
      return out;
    }
    case json::value_t::object: {
      py::dict out;
      for (const auto& [k, v] : j.items()) out[py::str(k)] = FromJson(v);
      return out;
    }
    default: return py::none();  // binary and discarded values never come from the engine
  }
}

py::object OptionalString(const std::optional<std::string>& s) {
  if (!s) return py::none();
  return py::str(*s);
}

// A point as (id, vector | None, document | None, metadata dict).
py::tuple PointTuple(const Point& p, bool include_vector) {
  py::object vec = include_vector ? VectorToNumpy(p.vector) : py::none();
  return py::make_tuple(p.id, vec, OptionalString(p.document), FromJson(p.metadata));
}

// A hit as (id, score, document | None, metadata dict | None, vector | None, explain dict | None).
py::tuple HitTuple(const QueryHit& h) {
  py::object meta = h.metadata ? FromJson(*h.metadata) : py::object(py::none());
  py::object vec = h.vector ? VectorToNumpy(*h.vector) : py::none();
  py::object explain = h.explain ? FromJson(*h.explain) : py::object(py::none());
  return py::make_tuple(h.id, h.score, OptionalString(h.document), meta, vec, explain);
}

class PyCollection {
 public:
  explicit PyCollection(std::shared_ptr<Collection> c) : c_(std::move(c)) {}

  std::string name() const { return c_->config().name; }
  size_t dimension() const { return c_->config().dimension; }
  std::string config_json() const { return codec::CollectionConfigToJson(c_->config(), codec::ConfigForm::kReply).dump(); }

  // Replaces the collection's metadata (Collection::SetMetadata): a JSON object as text.
  void SetMetadata(const std::string& metadata) {
    json m = ParseArg(metadata, "metadata");
    Status st = [&] {
      py::gil_scoped_release unlocked;
      return c_->SetMetadata(m);
    }();
    Check(st);
  }

  // Upserts ids[i] with vectors' row i (vectors: None, or an N x dimension array; a text-only
  // or embedding collection may leave it None), documents[i] and metadatas[i] (JSON objects as
  // text), all read in place (Collection::UpsertColumns). All or nothing, as Collection::Upsert.
  size_t Upsert(const py::sequence& ids_in, std::optional<FloatArray> vectors,
                const std::optional<py::sequence>& documents_in, const std::optional<py::sequence>& metadatas_in) {
    // Tuples hold a reference to every string while the GIL is released (the caller's lists
    // could change meanwhile); the UTF-8 views point into those strings.
    const py::tuple ids(ids_in);
    const size_t n = ids.size();
    std::optional<py::tuple> documents, metadatas;
    if (documents_in) documents.emplace(*documents_in);
    if (metadatas_in) metadatas.emplace(*metadatas_in);
    if (documents && documents->size() != n) {
      Raise(Status::InvalidArgument("documents has " + std::to_string(documents->size()) + " entries, ids has " +
                                    std::to_string(n)));
    }
    if (metadatas && metadatas->size() != n) {
      Raise(Status::InvalidArgument("metadatas has " + std::to_string(metadatas->size()) + " entries, ids has " +
                                    std::to_string(n)));
    }
    PointColumns columns;
    if (vectors) {
      if (vectors->ndim() != 2) Raise(Status::InvalidArgument("embeddings must be a 2-d array (one row per id)"));
      if (static_cast<size_t>(vectors->shape(0)) != n) {
        Raise(Status::InvalidArgument("embeddings has " + std::to_string(vectors->shape(0)) + " rows, ids has " +
                                      std::to_string(n)));
      }
      columns.vectors = vectors->data();
      columns.dimension = static_cast<size_t>(vectors->shape(1));
    }
    std::vector<std::string_view> id_views(n);
    for (size_t i = 0; i < n; ++i) id_views[i] = Utf8(ids[i], "ids", i);
    columns.ids = id_views;
    std::vector<std::optional<std::string_view>> doc_views;
    if (documents) {
      doc_views.resize(n);
      for (size_t i = 0; i < n; ++i) {
        if (!(*documents)[i].is_none()) doc_views[i] = Utf8((*documents)[i], "documents", i);
      }
      columns.documents = doc_views;
    }
    std::vector<std::optional<std::string_view>> meta_texts;
    if (metadatas) {
      meta_texts.resize(n);
      for (size_t i = 0; i < n; ++i) {
        if (!(*metadatas)[i].is_none()) meta_texts[i] = Utf8((*metadatas)[i], "metadatas", i);
      }
    }
    Result<size_t> r = [&]() -> Result<size_t> {
      py::gil_scoped_release unlocked;
      std::vector<json> meta;
      if (metadatas) {
        meta.resize(n, json::object());
        for (size_t i = 0; i < n; ++i) {
          if (!meta_texts[i]) continue;
          auto m = ParseJson(*meta_texts[i]);
          if (!m.ok()) {
            return m.status().WithContext("point " + std::to_string(i) + " (id '" + std::string(id_views[i]) +
                                          "'): metadata");
          }
          meta[i] = std::move(m).value();
        }
        columns.metadata = meta;
      }
      return c_->UpsertColumns(columns);
    }();
    return Take(std::move(r));
  }

  py::list Get(const std::vector<std::string>& ids, bool include_vector) const {
    Result<std::vector<Point>> r = [&] {
      py::gil_scoped_release unlocked;
      return c_->Get(ids, include_vector);
    }();
    std::vector<Point> points = Take(std::move(r));
    py::list out;
    for (const Point& p : points) out.append(PointTuple(p, include_vector));
    return out;
  }

  py::tuple Scroll(const std::string& after, size_t limit, const std::optional<std::string>& filter,
                   bool include_vector) const {
    std::optional<json> f = ParseOptional(filter, "filter");
    Result<ScrollPage> r = [&] {
      py::gil_scoped_release unlocked;
      return c_->Scroll(after, limit, f, include_vector);
    }();
    ScrollPage page = Take(std::move(r));
    py::list points;
    for (const Point& p : page.points) points.append(PointTuple(p, include_vector));
    return py::make_tuple(points, OptionalString(page.next));
  }

  size_t Delete(const std::vector<std::string>& ids) {
    Result<size_t> r = [&] {
      py::gil_scoped_release unlocked;
      return c_->Delete(ids);
    }();
    return Take(std::move(r));
  }

  size_t DeleteByFilter(const std::string& filter) {
    json f = ParseArg(filter, "filter");
    Result<size_t> r = [&] {
      py::gil_scoped_release unlocked;
      return c_->DeleteByFilter(f);
    }();
    return Take(std::move(r));
  }

  void UpdateMetadata(const std::string& id, const std::string& metadata, bool merge) {
    json m = ParseArg(metadata, "metadata");
    Status st = [&] {
      py::gil_scoped_release unlocked;
      return c_->UpdateMetadata(id, m, merge);
    }();
    Check(st);
  }

  size_t Count(const std::optional<std::string>& filter) const {
    std::optional<json> f = ParseOptional(filter, "filter");
    Result<size_t> r = [&] {
      py::gil_scoped_release unlocked;
      return c_->Count(f);
    }();
    return Take(std::move(r));
  }

  // Queries in the codec's JSON form (the server's query body without "vector", as a dict or as
  // JSON text), once per row of `vectors` (N x dimension; all in one call with the GIL released),
  // or once with the request's text when `vectors` is None. Returns one list of hit tuples per
  // query.
  py::list Query(const py::object& request, std::optional<FloatArray> vectors) const {
    json j = py::isinstance<py::str>(request) ? ParseArg(request.cast<std::string>(), "query")
                                               : ToJson(request, "query");
    if (j.is_object() && j.contains("vector")) Raise(Status::InvalidArgument("pass the query vector as an array"));
    const bool has_vectors = vectors.has_value();
    if (has_vectors && j.is_object()) j["vector"] = json::array({0.0});  // placeholder; replaced below
    QueryRequest base = Take(codec::QueryFromJson(j));
    std::vector<QueryRequest> requests;
    if (has_vectors) {
      if (vectors->ndim() != 2) Raise(Status::InvalidArgument("query embeddings must be a 2-d array"));
      const size_t n = static_cast<size_t>(vectors->shape(0));
      const size_t dim = static_cast<size_t>(vectors->shape(1));
      const float* data = vectors->data();
      requests.assign(n, base);
      for (size_t i = 0; i < n; ++i) {
        requests[i].vector.assign(data + i * dim, data + (i + 1) * dim);
        for (size_t d = 0; d < dim; ++d) {
          if (!codec::IsVectorValue(requests[i].vector[d])) {
            Raise(Status::InvalidArgument("query " + std::to_string(i) + ": field 'vector': element " +
                                          std::to_string(d) + " is not a finite float32 number"));
          }
        }
        Check(codec::CheckQueryVector(requests[i].vector, {}).WithContext("query " + std::to_string(i)));
      }
    } else {
      requests.push_back(std::move(base));
    }
    std::vector<Result<std::vector<QueryHit>>> results;
    {
      py::gil_scoped_release unlocked;
      results.reserve(requests.size());
      for (const QueryRequest& q : requests) {
        results.push_back(c_->Query(q));
        if (!results.back().ok()) break;
      }
    }
    py::list out;
    for (auto& r : results) {
      std::vector<QueryHit> hits = Take(std::move(r));
      py::list row;
      for (const QueryHit& h : hits) row.append(HitTuple(h));
      out.append(row);
    }
    return out;
  }

  void Snapshot(const std::string& dir) {
    Status st = [&] {
      py::gil_scoped_release unlocked;
      return c_->CreateSnapshot(dir);
    }();
    Check(st);
  }

  void Optimize(bool merge_all) {
    Status st = [&] {
      py::gil_scoped_release unlocked;
      return c_->Optimize(merge_all);
    }();
    Check(st);
  }

  // Benchmark helpers (bench/python_bench.py): the C++ API's own time, measured in-process on
  // this collection, without Python in the loop. Seconds per query over `iters` queries.
  double TimeQueryCxx(FloatArray vector, size_t k, size_t iters) const {
    QueryRequest q;
    q.vector.assign(vector.data(), vector.data() + vector.size());
    q.k = k;
    py::gil_scoped_release unlocked;
    const auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < iters; ++i) {
      auto r = c_->Query(q);
      if (!r.ok()) return -1;
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / static_cast<double>(iters);
  }
  // Seconds of one Upsert of ids with vectors' rows (the points are built before the clock starts).
  double TimeUpsertCxx(const std::vector<std::string>& ids, FloatArray vectors) {
    const size_t dim = static_cast<size_t>(vectors.shape(1));
    std::vector<Point> points(ids.size());
    for (size_t i = 0; i < ids.size(); ++i) {
      points[i].id = ids[i];
      points[i].vector.assign(vectors.data() + i * dim, vectors.data() + (i + 1) * dim);
    }
    py::gil_scoped_release unlocked;
    const auto start = std::chrono::steady_clock::now();
    auto r = c_->Upsert(points);
    if (!r.ok()) return -1;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  std::string Stats() const {
    CollectionStats st;
    {
      py::gil_scoped_release unlocked;
      st = c_->Stats();
    }
    return codec::StatsToJson(st).dump();
  }

 private:
  std::shared_ptr<Collection> c_;
};

class PyDatabase {
 public:
  PyDatabase(const std::string& path, bool relaxed) {
    DatabaseOptions opt;
    opt.durability = relaxed ? Durability::kRelaxed : Durability::kSync;
    Result<std::unique_ptr<Database>> r = [&] {
      py::gil_scoped_release unlocked;
      return Database::Open(path, opt);
    }();
    db_ = Take(std::move(r));
  }

  Database& db() {
    if (!db_) Raise(Status::FailedPrecondition("the database is closed"));
    return *db_;
  }

  void Close() {
    py::gil_scoped_release unlocked;
    db_.reset();
  }

  // `settings`: the server's PUT body (codec::CollectionSettingsFromJson).
  PyCollection Create(const std::string& name, const std::string& settings) {
    json body = ParseArg(settings, "configuration");
    CollectionConfig config = Take(codec::CollectionSettingsFromJson(body));
    config.name = name;
    Database& d = db();
    Result<std::shared_ptr<Collection>> r = [&] {
      py::gil_scoped_release unlocked;
      return d.CreateCollection(config);
    }();
    return PyCollection(Take(std::move(r)));
  }

  PyCollection Get(const std::string& name) {
    Database& d = db();
    Result<std::shared_ptr<Collection>> r = [&] {
      py::gil_scoped_release unlocked;
      return d.GetCollection(name);
    }();
    return PyCollection(Take(std::move(r)));
  }

  std::vector<std::string> List() {
    std::vector<std::string> names;
    for (const CollectionConfig& c : db().ListCollections()) names.push_back(c.name);
    return names;
  }

  void Drop(const std::string& name) {
    Database& d = db();
    Status st = [&] {
      py::gil_scoped_release unlocked;
      return d.DropCollection(name);
    }();
    Check(st);
  }

  PyCollection Restore(const std::string& dir, const std::string& name) {
    Database& d = db();
    Result<std::shared_ptr<Collection>> r = [&] {
      py::gil_scoped_release unlocked;
      return d.RestoreSnapshot(dir, name);
    }();
    return PyCollection(Take(std::move(r)));
  }

 private:
  std::unique_ptr<Database> db_;
};

// Embeds texts with a built-in or pulled model (by name): an N x dimension float32 array.
py::array_t<float> Embed(const std::vector<std::string>& texts, const std::string& model, bool query) {
  std::shared_ptr<const embed::EmbeddingModel> m;
  Result<std::vector<float>> rows = Status::Internal("unset");
  {
    py::gil_scoped_release unlocked;
    auto loaded = embed::LoadNamedModel(model);
    if (!loaded.ok()) {
      rows = loaded.status();
    } else {
      m = std::move(loaded).value();
      std::vector<std::string_view> views(texts.begin(), texts.end());
      rows = m->EmbedAs(query ? embed::TextKind::kQuery : embed::TextKind::kDocument, views);
    }
  }
  std::vector<float> data = Take(std::move(rows));
  const size_t dim = m->dimension();
  py::array_t<float> out({static_cast<py::ssize_t>(texts.size()), static_cast<py::ssize_t>(dim)});
  if (!data.empty()) std::memcpy(out.mutable_data(), data.data(), data.size() * sizeof(float));
  return out;
}

}  // namespace
}  // namespace sextant

PYBIND11_MODULE(_core, m) {
  using namespace sextant;
  m.doc() = "Sextant's embedded database (the C++ library in-process); use the sextant package";

  py::class_<PyCollection>(m, "Collection")
      .def_property_readonly("name", &PyCollection::name)
      .def_property_readonly("dimension", &PyCollection::dimension)
      .def("config_json", &PyCollection::config_json)
      .def("set_metadata", &PyCollection::SetMetadata, py::arg("metadata"))
      .def("upsert", &PyCollection::Upsert, py::arg("ids"), py::arg("vectors"), py::arg("documents"),
           py::arg("metadatas"))
      .def("get", &PyCollection::Get, py::arg("ids"), py::arg("include_vector"))
      .def("scroll", &PyCollection::Scroll, py::arg("after"), py::arg("limit"), py::arg("filter"),
           py::arg("include_vector"))
      .def("delete", &PyCollection::Delete, py::arg("ids"))
      .def("delete_by_filter", &PyCollection::DeleteByFilter, py::arg("filter"))
      .def("update_metadata", &PyCollection::UpdateMetadata, py::arg("id"), py::arg("metadata"), py::arg("merge"))
      .def("count", &PyCollection::Count, py::arg("filter") = py::none())
      .def("query", &PyCollection::Query, py::arg("request"), py::arg("vectors") = py::none())
      .def("snapshot", &PyCollection::Snapshot, py::arg("dir"))
      .def("optimize", &PyCollection::Optimize, py::arg("merge_all") = false)
      .def("stats_json", &PyCollection::Stats)
      .def("_time_query_cxx", &PyCollection::TimeQueryCxx)
      .def("_time_upsert_cxx", &PyCollection::TimeUpsertCxx);

  py::class_<PyDatabase>(m, "Database")
      .def(py::init<const std::string&, bool>(), py::arg("path"), py::arg("relaxed") = false)
      .def("close", &PyDatabase::Close)
      .def("create_collection", &PyDatabase::Create, py::arg("name"), py::arg("settings"))
      .def("get_collection", &PyDatabase::Get, py::arg("name"))
      .def("list_collections", &PyDatabase::List)
      .def("drop_collection", &PyDatabase::Drop, py::arg("name"))
      .def("restore_snapshot", &PyDatabase::Restore, py::arg("dir"), py::arg("name"));

  m.def("embed", &Embed, py::arg("texts"), py::arg("model") = "potion-base-4M", py::arg("query") = false);
}
