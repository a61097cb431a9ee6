// Handlers of the web console: its page and files (console/, compiled in), served without a
// key — the page asks for one and sends it with each API call — and `GET /v1/whoami`, which
// tells the page what the key it was given may do.

#include "server/console_assets.h"
#include "server/server_impl.h"

namespace sextant::server {
namespace {

// Scripts, styles and images only from the server itself, no inline code, no frames; API
// calls to the same origin only.
constexpr char kConsolePolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

Reply ServeAsset(const RequestContext& ctx, std::string_view name) {
  for (const ConsoleAsset& a : ConsoleAssets()) {
    if (a.name != name) continue;
    Reply r;
    // Revalidated on each load (cheap: 304 while unchanged), so a new server version's
    // console is never mixed with cached files of the old one.
    r.headers = {{"Cache-Control", "no-cache"},
                 {"ETag", std::string(a.etag)},
                 {"Content-Security-Policy", kConsolePolicy},
                 {"X-Content-Type-Options", "nosniff"},
                 {"Referrer-Policy", "no-referrer"},
                 {"X-Frame-Options", "DENY"}};
    r.raw_type = std::string(a.content_type);
    if (ctx.if_none_match == a.etag) {
      r.status = 304;
      return r;
    }
    r.raw = std::string(a.content);
    return r;
  }
  return Error(404, "not_found", "no console file '" + std::string(name.substr(0, 100)) + "'");
}

}  // namespace

Reply ServerImpl::ConsolePage(RequestContext& ctx) { return ServeAsset(ctx, "index.html"); }

Reply ServerImpl::ConsoleFile(RequestContext& ctx) { return ServeAsset(ctx, ctx.params["asset"]); }

Reply ServerImpl::WhoAmI(RequestContext& ctx) {
  const Principal& p = ctx.principal;
  return Reply{200,
               {{"key_id", p.key_id},
                {"role", RoleName(p.role)},
                {"tenant", p.tenant ? nlohmann::json(*p.tenant) : nlohmann::json()},
                {"database", p.database ? nlohmann::json(*p.database) : nlohmann::json()},
                {"auth", auth_enabled_}}};
}

}  // namespace sextant::server
