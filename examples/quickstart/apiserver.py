"""Stand-in for kube-apiserver: /readyz on 127.0.0.1:16443 answers 503 until
APISERVER_DELAY seconds have passed, then 200."""

import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STARTED = time.monotonic()
DELAY = float(os.environ.get("APISERVER_DELAY", "1"))


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/readyz":
            code, body = 404, b"not found\n"
        elif time.monotonic() - STARTED < DELAY:
            code, body = 503, b"starting\n"
        else:
            code, body = 200, b"ok\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


if __name__ == "__main__":
    print("apiserver: listening on 127.0.0.1:16443", flush=True)
    ThreadingHTTPServer(("127.0.0.1", 16443), Handler).serve_forever()
