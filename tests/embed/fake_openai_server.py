#!/usr/bin/python3
"""An OpenAI-shaped embeddings service for provider_test.cc's fault injection (standard library only).

POST /v1/embeddings answers {"object":"list","data":[{"object":"embedding","index":i,"embedding":[...]}],
"model","usage"} with deterministic vectors: text -> FNV-1a 64 of its UTF-8 bytes -> splitmix64 stream,
each dimension (z >> 40) / 2^23 - 1 (exact in float32; provider_test.cc computes the same). The dimension
is the request's "dimensions", else 8.

Control (JSON bodies):
  POST /control {"script": [MODE, ...], "key": "K" | null}  modes are used one per embeddings request,
      in order; once the script is spent every request is "ok". "key": the Bearer key required (null: none).
  POST /reset    forget the script, the key and the request log
  GET  /requests the log: [{"body": <request JSON>, "authorization": "...", "time": <seconds>}, ...]
  GET  /health   200
MODES: ok, shuffle (data in reverse order), slow:S (sleep S seconds, then ok), status:CODE[:RETRY_AFTER]
  (an OpenAI-style error, optional Retry-After header), drop (close the connection without answering),
  wrong_dim, wrong_count, nan (a NaN literal, as Python writes it), huge (1e39: finite JSON, not a
  float32), no_data, not_json.

Prints "PORT <n>" on stdout once listening on 127.0.0.1 (port 0: a free one).
"""

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

M64 = (1 << 64) - 1
LOCK = threading.Lock()
STATE = {"script": [], "key": None, "log": []}


def vector(text, dim):
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & M64
    out = []
    x = h
    for _ in range(dim):
        x = (x + 0x9E3779B97F4A7C15) & M64
        z = x
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        z ^= z >> 31
        out.append((z >> 40) / 8388608.0 - 1.0)
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real services

    def log_message(self, *args):
        pass

    def send(self, code, body, headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if self.path == "/health":
            self.send(200, {"ok": True})
        elif self.path == "/requests":
            with LOCK:
                self.send(200, STATE["log"])
        else:
            self.send(404, {"error": {"message": "no route " + self.path}})

    def do_POST(self):
        raw = self.read_body()
        if self.path == "/control":
            c = json.loads(raw)
            with LOCK:
                if "script" in c:
                    STATE["script"] = list(c["script"])
                if "key" in c:
                    STATE["key"] = c["key"]
            self.send(200, {"ok": True})
            return
        if self.path == "/reset":
            with LOCK:
                STATE.update(script=[], key=None, log=[])
            self.send(200, {"ok": True})
            return
        if self.path != "/v1/embeddings":
            self.send(404, {"error": {"message": "no route " + self.path}})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self.send(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
            return
        auth = self.headers.get("Authorization", "")
        with LOCK:
            STATE["log"].append({"body": body, "authorization": auth, "time": time.monotonic()})
            mode = STATE["script"].pop(0) if STATE["script"] else "ok"
            key = STATE["key"]
        if key is not None and auth != "Bearer " + key:
            self.send(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                      "code": "invalid_api_key"}})
            return
        if mode.startswith("slow:"):
            time.sleep(float(mode.split(":")[1]))
            mode = "ok"
        if mode.startswith("status:"):
            parts = mode.split(":")
            headers = {"Retry-After": parts[2]} if len(parts) > 2 else {}
            self.send(int(parts[1]), {"error": {"message": "injected failure " + parts[1], "type": "server_error"}},
                      headers)
            return
        if mode == "drop":
            self.close_connection = True
            return
        if mode == "not_json":
            self.send(200, b"<html>502 Bad Gateway</html>")
            return
        if mode == "no_data":
            self.send(200, {"object": "list", "model": body.get("model")})
            return
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        dim = body.get("dimensions", 8)
        data = [{"object": "embedding", "index": i, "embedding": vector(t, dim)} for i, t in enumerate(inputs)]
        if mode == "shuffle":
            data.reverse()
        elif mode == "wrong_dim" and data:
            data[-1]["embedding"].append(0.5)
        elif mode == "wrong_count":
            data = data[:-1]
        elif mode == "nan" and data:
            data[0]["embedding"][0] = float("nan")
        elif mode == "huge" and data:
            data[0]["embedding"][0] = 1e39
        self.send(200, {"object": "list", "data": data, "model": body.get("model"),
                        "usage": {"prompt_tokens": 0, "total_tokens": 0}})


def main():
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
    server.daemon_threads = True
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
