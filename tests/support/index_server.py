"""A private package index for the tests: PEP 503 simple pages behind HTTP basic auth.

    python3 index_server.py DIR USER PASSWORD

Builds one pure wheel, fclayer_private 1.0 (module `fclayer_private`, VALUE = 42), into DIR,
listens on all interfaces at a free port (containers reach it through the engine's bridge) and
prints one line, `PORT SHA256` of the wheel, then serves until killed. Every request is
appended to DIR/requests.log as `PATH STATUS` (401 without the right login, 200 with it).
"""
import base64
import hashlib
import http.server
import io
import os
import sys
import zipfile

root, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
name = "fclayer_private-1.0-py3-none-any.whl"
files = {
    "fclayer_private/__init__.py": b"VALUE = 42\n",
    "fclayer_private-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: fclayer-private\nVersion: 1.0\n",
    "fclayer_private-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: fclayer-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
record = []
for path, data in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append(f"{path},sha256={digest},{len(data)}")
record.append("fclayer_private-1.0.dist-info/RECORD,,")
files["fclayer_private-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
buf = io.BytesIO()
with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
    for path, data in files.items():
        info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
        z.writestr(info, data)
wheel = buf.getvalue()
sha = hashlib.sha256(wheel).hexdigest()
with open(os.path.join(root, name), "wb") as f:
    f.write(wheel)
expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
log = open(os.path.join(root, "requests.log"), "a", buffering=1)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization") != expected:
            log.write(f"{self.path} 401\n")
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="private"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path = self.path.split("?")[0]
        if path.rstrip("/") in ("/simple/fclayer-private", "/simple/fclayer_private"):
            body = f'<html><body><a href="/files/{name}#sha256={sha}">{name}</a></body></html>'.encode()
            ctype = "text/html"
        elif path == f"/files/{name}":
            body, ctype = wheel, "application/octet-stream"
        else:
            log.write(f"{self.path} 404\n")
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        log.write(f"{self.path} 200\n")
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("0.0.0.0", 0), Handler)
print(server.server_address[1], sha, flush=True)
server.serve_forever()
