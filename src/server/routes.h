// The route table of the HTTP server: each route's method and pattern, its handler, and what
// the server does before calling it (authentication, admission, the body, the database).
#pragma once

#include <string>
#include <vector>

#include "server/key_store.h"

namespace sextant::server {

class ServerImpl;
struct RequestContext;
struct Reply;

// Who may call a route, beyond its role.
enum class Scope {
  kPublic,    // no key needed
  kGlobal,    // a key without a tenant scope
  kAnyKey,    // any valid key; the handler filters by scope
  kTenant,    // {tenant} must be covered by the key
  kDatabase,  // {tenant}/{database} (or the defaults) must be covered by the key
};

// The request body a route takes.
enum class Body {
  kNone,  // none (400 if one is sent; on DELETE it is ignored, as clients may send one)
  kJson,  // a JSON document (an empty body is {}), parsed into RequestContext::body
  kRaw,   // parsed by the handler from RequestContext::raw_body (its fast paths for vectors)
};

struct RouteSpec {
  using Handler = Reply (ServerImpl::*)(RequestContext&);

  std::string method;   // upper case
  std::string pattern;  // see router.h
  Handler handler = nullptr;
  Role role = Role::kReader;  // the least role of a key that may call it
  Scope scope = Scope::kPublic;
  // Waits for an admission slot (admission.h). Probes and metrics do not, so that they
  // answer under overload.
  bool admitted = true;
  Body body = Body::kNone;
  // Works in an open database ({tenant}/{database}, or the defaults under /v1): found before
  // the handler runs (404 if none) and held in RequestContext::entry, which keeps it open.
  // Routes outside a database do not (PUT database opens it itself).
  bool in_database = false;
};

// Every route, in registration order (the order of HttpMetrics' slots and of
// Server::RouteTable).
std::vector<RouteSpec> Routes();

}  // namespace sextant::server
