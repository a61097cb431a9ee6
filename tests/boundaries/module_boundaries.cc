// Compiled once per module library, linked to that library alone (tests/boundaries/CMakeLists.txt):
// the headers of exactly the modules it may use are visible, and no other module's. The build
// fails here if a module's include root leaks (src/ exported to everyone again) or a library
// gains a dependency that docs/architecture.md does not draw. SEES_<MODULE> is defined for each
// module the library under test may include.
#if defined(SEES_COMMON) != __has_include("common/json.h")
#error "common/ visibility differs from the module graph"
#endif
#if defined(SEES_SIMD) != __has_include("simd/distance.h")
#error "simd/ visibility differs from the module graph"
#endif
#if defined(SEES_DATASET) != __has_include("dataset/vector_file.h")
#error "dataset/ visibility differs from the module graph"
#endif
#if defined(SEES_INDEX) != __has_include("index/vector_index.h")
#error "index/ visibility differs from the module graph"
#endif
#if defined(SEES_STORAGE) != __has_include("storage/env.h")
#error "storage/ visibility differs from the module graph"
#endif
#if defined(SEES_FILTER) != __has_include("filter/filter.h")
#error "filter/ visibility differs from the module graph"
#endif
#if defined(SEES_TEXT) != __has_include("text/analyzer.h")
#error "text/ visibility differs from the module graph"
#endif
#if defined(SEES_EMBED) != __has_include("embed/model.h")
#error "embed/ visibility differs from the module graph"
#endif
#if defined(SEES_CODEC) != __has_include("codec/fields.h")
#error "codec/ visibility differs from the module graph"
#endif
#if defined(SEES_ENGINE) != __has_include("engine/segment.h")
#error "engine/ visibility differs from the module graph"
#endif
#if defined(SEES_SERVER) != __has_include("server/router.h")
#error "server/ visibility differs from the module graph"
#endif
#if defined(SEES_CLUSTER) != __has_include("cluster/op_log.h")
#error "cluster/ visibility differs from the module graph"
#endif
// The public API is visible to every module.
#if !__has_include("sextant/database.h")
#error "include/sextant/ is not visible"
#endif

int sextant_module_boundaries_checked = 1;
