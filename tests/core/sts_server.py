"""A tiny HTTP server on 127.0.0.1 for the STS import tests: a Zenodo-like record JSON and the parts,
with HTTP Range support and injectable faults (a connection dropped midway, Range ignored, 404)."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading


class StsServer:
    """Serves /record.json and /files/<name>; can cut a part midway once or serve it corrupted."""

    def __init__(self, parts: dict[str, bytes]):
        self.parts = dict(parts)
        self.served = dict(parts)  # what is actually sent (a test may corrupt it)
        self.cut_once: dict[str, int] = {}
        self.cut_always: dict[str, int] = {}  # name -> send at most this many bytes of it, every time
        self.ignore_range = False
        self.fail_once: dict[str, int] = {}  # name -> HTTP status answered to its next request
        self.requests: list[tuple[str, str | None]] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                owner.requests.append((self.path, self.headers.get("Range")))
                if self.path == "/record.json":
                    return self._send(200, json.dumps(owner.record()).encode(), {})
                name = self.path.rsplit("/", 1)[-1]
                if name not in owner.served:
                    return self._send(404, b"not found", {})
                if name in owner.fail_once:
                    return self._send(owner.fail_once.pop(name), b"busy", {})
                blob = owner.served[name]
                start = 0
                rng = None if owner.ignore_range else self.headers.get("Range")
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(blob):
                        return self._send(416, b"", {"Content-Range": f"bytes */{len(blob)}"})
                body = blob[start:]
                headers = {"Content-Range": f"bytes {start}-{len(blob) - 1}/{len(blob)}"} if rng else {}
                cut = owner.cut_once.pop(name, owner.cut_always.get(name))
                if cut is not None:  # promise the whole body, send part of it, drop the connection
                    self.send_response(206 if rng else 200)
                    self.send_header("Content-Length", str(len(body)))
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(blob[start:max(cut, start)])
                    self.wfile.flush()
                    self.close_connection = True
                    return None
                return self._send(206 if rng else 200, body, headers)

            def _send(self, code, body, headers):
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def record(self) -> dict:
        files = [{"key": name, "size": len(blob), "checksum": "md5:" + hashlib.md5(blob).hexdigest(),
                  "links": {"self": f"{self.url}/files/{name}"}} for name, blob in self.parts.items()]
        files.append({"key": "README.md", "size": 3, "checksum": "md5:0", "links": {"self": f"{self.url}/x"}})
        return {"id": 10597292, "files": files}

    def range_requests(self, name: str) -> list[str]:
        return [rng for path, rng in self.requests if path.endswith(name) and rng]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
