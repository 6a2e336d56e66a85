"""A stand-in for Function Compute 3.0's two layer endpoints and for OSS PutObject, for fclayer's
publish tests. FC is not reachable from CI, so this server answers as FC documents it and, above
all, re-checks every request's signature with Alibaba's own signers from PyPI:

- FC: alibabacloud_openapi_util.client.Client.get_authorization (ACS3-HMAC-SHA256), over exactly
  the headers the request names in SignedHeaders;
- OSS: alibabacloud_oss_v2.signer.v4.SignerV4 (OSS4-HMAC-SHA256).

A signature that differs gets 403 SignatureDoesNotMatch, as FC and OSS answer. Faults are switched
on through POST /__control (unsigned, loopback only); GET /__state shows what happened.

Usage: python fc_server.py --state DIR --account AK:SECRET[:TOKEN] ... ; prints `PORT n`.
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import re
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote, urlsplit

from alibabacloud_openapi_util.client import Client as OpenApiUtil
from alibabacloud_oss_v2.credentials import StaticCredentialsProvider
from alibabacloud_oss_v2.signer.v4 import SignerV4
from alibabacloud_oss_v2.types import HttpRequest, SigningContext
from Tea.request import TeaRequest

ACCOUNT_ID = "1234567890123456"
VERSIONS_PATH = re.compile(r"^/2023-03-30/layers/([^/]+)/versions$")
ACS3 = re.compile(r"^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$")
OSS4 = re.compile(r"^OSS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/oss/aliyun_v4_request,(?:AdditionalHeaders=[^,]*,)?Signature=([0-9a-f]{64})$")
REQUIRED = {"host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"}


def crc64(data):
    """CRC-64/XZ (ECMA-182 reflected, init and xorout all ones): FC's codeChecksum."""
    table = crc64.table
    if table is None:
        table = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0xC96C5795D7870F42 if c & 1 else c >> 1
            table.append(c)
        crc64.table = table
    c = 0xFFFFFFFFFFFFFFFF
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFFFFFFFFFF


crc64.table = None


class State:
    def __init__(self, args):
        self.lock = threading.RLock()
        self.dir = args.state
        self.region = args.region
        self.accounts = {}
        for a in args.account:
            parts = a.split(":")
            self.accounts[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else None)
        self.layers = {}  # name -> [version dicts]
        self.oss = {}  # (bucket, key) -> bytes
        self.nonces = set()
        self.faults = {"throttle": 0, "error_after_create": 0, "drop_after_create": 0, "deny": False,
                       "oss_expects_other_secret": False}
        self.log = []  # one entry per request


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    # ---- plumbing
    def body(self):
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def answer(self, status, obj=None, raw=None, ctype="application/json", extra=None):
        data = raw if raw is not None else (json.dumps(obj).encode() if obj is not None else b"")
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.send_header("x-acs-request-id", "req-" + uuid.uuid4().hex[:12])
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def fc_error(self, status, code, message):
        self.answer(status, {"Code": code, "Message": message, "RequestId": "req-" + uuid.uuid4().hex[:12]})

    def record(self, **kw):
        with S.lock:
            S.log.append(kw)

    # ---- FC signature, checked with Alibaba's signer
    def check_acs3(self, body):
        auth = self.headers.get("authorization", "")
        m = ACS3.match(auth)
        if not m:
            self.fc_error(400, "IncompleteSignature", "bad Authorization header")
            return None
        ak, signed = m.group(1), m.group(2).split(";")
        missing = REQUIRED - set(signed)
        if missing:
            self.fc_error(400, "IncompleteSignature", "unsigned headers: " + ",".join(sorted(missing)))
            return None
        if ak not in S.accounts:
            self.fc_error(403, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
            return None
        secret, token = S.accounts[ak]
        headers = {}
        for h in signed:
            if self.headers.get(h) is None:
                self.fc_error(400, "IncompleteSignature", "signed header %s not sent" % h)
                return None
            headers[h] = self.headers.get(h)
        if hashlib.sha256(body).hexdigest() != headers["x-acs-content-sha256"]:
            self.fc_error(400, "InvalidArgument", "x-acs-content-sha256 is not the body's SHA-256")
            return None
        parts = urlsplit(self.path)
        req = TeaRequest()
        req.method = self.command
        req.pathname = parts.path
        req.query = dict(parse_qsl(parts.query, keep_blank_values=True))
        req.headers = headers
        expected = OpenApiUtil.get_authorization(req, "ACS3-HMAC-SHA256", headers["x-acs-content-sha256"], ak, secret)
        if expected != auth:
            self.fc_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
            return None
        if token is not None:
            if "x-acs-security-token" not in signed or headers.get("x-acs-security-token") != token:
                self.fc_error(403, "InvalidSecurityToken.Mismatch", "The security token is missing or wrong.")
                return None
            if headers.get("x-acs-accesskey-id") != ak:
                self.fc_error(403, "InvalidSecurityToken.Mismatch", "x-acs-accesskey-id is missing or wrong.")
                return None
        date = datetime.datetime.strptime(headers["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        if abs((datetime.datetime.now(datetime.timezone.utc) - date).total_seconds()) > 900:
            self.fc_error(403, "RequestTimeTooSkewed", "x-acs-date is more than 15 minutes off")
            return None
        with S.lock:
            nonce = headers["x-acs-signature-nonce"]
            if nonce in S.nonces:
                self.fc_error(403, "SignatureNonceUsed", "nonce used before")
                return None
            S.nonces.add(nonce)
        return {"ak": ak, "signed": signed, "sts": token is not None}

    # ---- verbs
    def do_GET(self):
        if self.path == "/__state":
            with S.lock:
                state = {"log": S.log, "layers": S.layers, "oss": {"%s/%s" % k: len(v) for k, v in S.oss.items()}}
            return self.answer(200, state)
        parts = urlsplit(self.path)
        m = VERSIONS_PATH.match(parts.path)
        auth = self.check_acs3(b"")
        if auth is None:
            return self.record(action="ListLayerVersions", status="refused")
        if not m or self.headers.get("x-acs-action") != "ListLayerVersions":
            return self.fc_error(404, "NotFound", "no such API")
        if self.fault_throttle():
            return self.record(action="ListLayerVersions", status="throttled")
        name = unquote(m.group(1))
        q = dict(parse_qsl(parts.query))
        limit = int(q.get("limit", "20"))
        start = int(q.get("startVersion", "0") or 0)
        with S.lock:
            versions = S.layers.get(name)
            if versions is None:
                self.record(action="ListLayerVersions", status="not-found", layer=name)
                return self.fc_error(404, "LayerNotFound", "layer '%s' does not exist" % name)
            page = [v for v in versions if v["version"] >= start][: limit + 1]
        out = {"layers": [public(v) for v in page[:limit]]}
        if len(page) > limit:
            out["nextVersion"] = page[limit]["version"]
        self.record(action="ListLayerVersions", status="ok", layer=name, start=start, count=len(out["layers"]), signed=auth["signed"])
        self.answer(200, out)

    def do_POST(self):
        body = self.body()
        if self.path == "/__control":
            with S.lock:
                ctl = json.loads(body)
                seed = ctl.pop("seed", None)
                S.faults.update(ctl)
                if seed:
                    vs = S.layers.setdefault(seed["layer"], [])
                    for i in range(seed["count"]):
                        vs.append(version_dict(seed["layer"], len(vs) + 1, str(1000 + i), 10, ["python3.10"], ""))
                    if seed.get("last_checksum"):
                        vs[-1]["codeChecksum"] = seed["last_checksum"]
            return self.answer(200, {})
        m = VERSIONS_PATH.match(urlsplit(self.path).path)
        auth = self.check_acs3(body)
        if auth is None:
            return self.record(action="CreateLayerVersion", status="refused")
        if not m or self.headers.get("x-acs-action") != "CreateLayerVersion":
            return self.fc_error(404, "NotFound", "no such API")
        if self.fault_throttle():
            return self.record(action="CreateLayerVersion", status="throttled")
        if S.faults["deny"]:
            self.record(action="CreateLayerVersion", status="denied")
            return self.fc_error(403, "AccessDenied", "You are not authorized to do this action. Resource: acs:fc:%s:%s:layers/x Action: fc:CreateLayerVersion" % (S.region, ACCOUNT_ID))
        name = unquote(m.group(1))
        if not self.headers.get("content-type", "").startswith("application/json"):
            return self.fc_error(400, "InvalidArgument", "content-type must be JSON")
        req = json.loads(body)
        code = req.get("code") or {}
        if "zipFile" in code:
            zipdata = base64.b64decode(code["zipFile"], validate=True)
            upload = "inline"
        elif "ossBucketName" in code:
            with S.lock:
                zipdata = S.oss.get((code["ossBucketName"], code.get("ossObjectName", "")))
            if zipdata is None:
                return self.fc_error(400, "InvalidArgument", "OSS object not found")
            upload = "oss"
        else:
            return self.fc_error(400, "InvalidArgument", "code needs zipFile or ossBucketName")
        crc = str(crc64(zipdata))
        if "checksum" in code and code["checksum"] != crc:
            return self.fc_error(400, "InvalidArgument", "checksum %s does not match the code's %s" % (code["checksum"], crc))
        with S.lock:
            vs = S.layers.setdefault(name, [])
            v = version_dict(name, len(vs) + 1, crc, len(zipdata), req.get("compatibleRuntime", []), req.get("description", ""))
            vs.append(v)
            with open(os.path.join(S.dir, "%s-%d.zip" % (name, v["version"])), "wb") as f:
                f.write(zipdata)
            fault = None
            for k in ("error_after_create", "drop_after_create"):
                if S.faults[k] > 0:
                    S.faults[k] -= 1
                    fault = k
                    break
        self.record(action="CreateLayerVersion", status="created", layer=name, version=v["version"], upload=upload,
                    checksum_sent="checksum" in code, sts=auth["sts"], signed=auth["signed"], fault=fault)
        if fault == "error_after_create":
            return self.fc_error(503, "ServiceUnavailable", "The service is temporarily unavailable.")
        if fault == "drop_after_create":
            # The version exists, the answer is lost.
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.answer(200, public(v))

    def do_PUT(self):
        body = self.body()
        parts = urlsplit(self.path)
        segs = parts.path.lstrip("/").split("/", 1)
        if len(segs) != 2:
            return self.oss_error(400, "InvalidArgument", "path-style /bucket/key expected")
        bucket, key = segs[0], unquote(segs[1])
        auth = self.headers.get("authorization", "")
        m = OSS4.match(auth)
        if not m:
            self.record(action="PutObject", status="refused")
            return self.oss_error(403, "AccessDenied", "bad Authorization")
        ak, region = m.group(1), m.group(3)
        if ak not in S.accounts:
            return self.oss_error(403, "InvalidAccessKeyId", "The OSS Access Key Id you provided does not exist in our records.")
        secret, token = S.accounts[ak]
        if S.faults["oss_expects_other_secret"]:
            # As if the key's secret had been rotated: the oracle must then refuse the request.
            secret = secret + "-rotated"
        stamp = self.headers.get("x-oss-date", "")
        try:
            when = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            return self.oss_error(403, "AccessDenied", "bad x-oss-date")
        headers = {k.lower(): v for k, v in self.headers.items()
                   if k.lower().startswith("x-oss-") or k.lower() in ("content-type", "content-md5")}
        # The oracle sets x-oss-date, the payload marker and the token itself.
        for k in ("x-oss-date", "x-oss-security-token"):
            headers.pop(k, None)
        hreq = HttpRequest(self.command, "http://%s%s" % (self.headers.get("host"), self.path), headers=headers)
        cred = StaticCredentialsProvider(ak, secret, token).get_credentials()
        ctx = SigningContext(product="oss", region=region, bucket=bucket, key=key, request=hreq,
                             credentials=cred, signing_time=when)
        SignerV4().sign(ctx)
        if hreq.headers["Authorization"] != auth or region != S.region:
            self.record(action="PutObject", status="bad-signature")
            return self.oss_error(403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.")
        if self.fault_throttle():
            return self.record(action="PutObject", status="throttled")
        with S.lock:
            S.oss[(bucket, key)] = body
        self.record(action="PutObject", status="stored", bucket=bucket, key=key, size=len(body), sts=token is not None)
        self.answer(200, raw=b"", extra={"x-oss-hash-crc64ecma": str(crc64(body)), "etag": '"%s"' % hashlib.md5(body).hexdigest().upper()})

    def oss_error(self, status, code, message):
        xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code><Message>%s</Message><RequestId>oss-%s</RequestId></Error>" % (code, message, uuid.uuid4().hex[:12])
        self.answer(status, raw=xml.encode(), ctype="application/xml")

    def fault_throttle(self):
        with S.lock:
            if S.faults["throttle"] > 0:
                S.faults["throttle"] -= 1
            else:
                return False
        self.fc_error(429, "Throttling", "Request was denied due to request throttling.")
        return True


def version_dict(name, n, crc, size, runtimes, description):
    return {
        "layerName": name, "version": n, "codeChecksum": crc, "codeSize": size,
        "layerVersionArn": "acs:fc:%s:%s:layers/%s/versions/%d" % (S.region, ACCOUNT_ID, name, n),
        "compatibleRuntime": runtimes, "description": description,
        "createTime": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "acl": "0", "code": {"repositoryType": "OSS", "location": "https://example.invalid/%s/%d" % (name, n)},
    }


def public(v):
    return dict(v)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--state", required=True)
    p.add_argument("--region", default="cn-hangzhou")
    p.add_argument("--account", action="append", default=[])
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"), help="serve HTTPS with this certificate")
    args = p.parse_args()
    S = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if args.tls:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls[0], args.tls[1])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()
