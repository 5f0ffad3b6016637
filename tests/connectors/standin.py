"""A local HTTP(S) stand-in for a provider's API, for connector tests where no emulator exists (Vault's cloud
plugins that OpenBao lacks; Azure Resource Manager and Microsoft Graph; Google Cloud's REST APIs).

It serves only what a test gives it: `routes` maps "METHOD path" (or a bare path for GET) to a JSON body, or
to a function of the request returning (status, body). It keeps a log of every request ("METHOD path"),
refuses every write (PUT, PATCH, DELETE, and a POST not listed in `lookups`) with 405 and logs it in
`refused`, pages lists (`paged`), and with `tls=True` serves HTTPS under a test CA whose certificate is at
`ca_file` (trustme's when it is installed, else one made here with `cryptography`). It listens on 127.0.0.1
only, on a free port, and stops when the `with` block ends.
"""

from __future__ import annotations

import datetime
import json
import ssl
import tempfile
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: What a handler gets: the method, the path (no leading slash, no query), the query and the JSON body.
Handler = Callable[["Request"], "tuple[int, Any]"]
WRITES = frozenset({"PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    body: Any


@dataclass
class paged:  # lower-case on purpose: used like a function in route tables
    """A list served `size` items a page: `?{cursor}=N` asks for page N (0 first); each page holds the items under
    `items_key` and, unless it is the last, the next page under `next_key` — a full URL (`style="link"`, as
    Azure's nextLink and Graph's @odata.nextLink) or the bare cursor (`style="token"`, as GCP's nextPageToken)."""

    items: list[Any]
    size: int = 2
    items_key: str = "value"
    next_key: str = "nextLink"
    cursor: str = "page"
    style: str = "link"

    def __call__(self, request: Request, base: str) -> tuple[int, Any]:
        page = int((request.query.get(self.cursor) or ["0"])[0] or 0)
        chunk = self.items[page * self.size:(page + 1) * self.size]
        body: dict[str, Any] = {self.items_key: chunk}
        if (page + 1) * self.size < len(self.items):
            nxt = str(page + 1)
            body[self.next_key] = f"{base}/{request.path}?{self.cursor}={nxt}" if self.style == "link" else nxt
        return 200, body


@dataclass
class StandIn:
    """The stand-in server; use it as a context manager."""

    routes: Mapping[str, Any] = field(default_factory=dict)
    lookups: Collection[str] = ()  # POST paths (or path suffixes) that only read, as Vault's lookups do
    tls: bool = False
    not_found: tuple[int, Any] = (404, {"errors": []})
    list_param: str | None = None  # a GET with this query parameter true is a LIST (Vault: "list")
    prefix: str = ""  # an API version prefix routes leave out (Vault: "v1/")
    requests: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    url: str = ""
    ca_file: str | None = None

    def __enter__(self) -> StandIn:
        stand_in = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                stand_in._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_LIST = _answer  # http.server's method names

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        scheme = "http"
        if self.tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="standin-ca-")
            cert, key, self.ca_file = _test_ca(Path(self._tmp.name))
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self.tls:
            self._tmp.cleanup()

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = parse_qs(parts.query)
        method = h.command
        if method == "GET" and self.list_param and (query.get(self.list_param) or [""])[0] == "true":
            method = "LIST"
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        path = self._path(parts.path)
        self.requests.append(f"{method} {path}")
        lookup = any(path == p or path.endswith("/" + p) for p in self.lookups)
        if method in WRITES or (method == "POST" and not lookup):
            self.refused.append(f"{method} {path}")
            return _send(h, 405, {"errors": [f"{method} is a write: the stand-in refuses it"]})
        route = self.routes.get(f"{method} {path}", self.routes.get(path) if method in ("GET", "POST") else None)
        if route is None:
            return _send(h, *self.not_found)
        if callable(route):
            body = json.loads(raw) if raw else None
            request = Request(method=method, path=path, query=query, body=body)
            status, payload = route(request, self.url) if isinstance(route, paged) else route(request)
            return _send(h, status, payload)
        return _send(h, 200, route)

    def _path(self, path: str) -> str:
        """The request path as routes name it: no leading slash, no trailing one."""
        return path.lstrip("/").removeprefix(self.prefix).rstrip("/")


def _send(h: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    payload = json.dumps(body).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(payload)))
    h.end_headers()
    h.wfile.write(payload)


def _test_ca(folder: Path) -> tuple[str, str, str]:
    """(server certificate, its key, the CA certificate) for 127.0.0.1, as files in `folder`."""
    try:
        import trustme
    except ImportError:
        return _ca_with_cryptography(folder)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, ca_file = folder / "server.pem", folder / "server.key", folder / "ca.pem"
    server.cert_chain_pems[0].write_to_path(str(cert))
    server.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    return str(cert), str(key), str(ca_file)


def _ca_with_cryptography(folder: Path) -> tuple[str, str, str]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "commonmode test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "server.pem", folder / "server.key", folder / "ca.pem"
    paths[0].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    paths[2].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return tuple(str(p) for p in paths)  # type: ignore[return-value]
