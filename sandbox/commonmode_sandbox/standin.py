"""A local HTTP(S) stand-in for a provider's API, for connector tests and the demo where no emulator exists
(Vault's cloud plugins that OpenBao lacks; Azure Resource Manager, Microsoft Graph and the Entra token endpoint;
Google Cloud's REST APIs).

It serves only what it is given: `routes` maps "METHOD path" (or a bare path for GET) to a JSON body, or to a
function of the request returning (status, body) or (status, body, headers); `fallback`, when set, answers every
request no route names (a provider's own router). It keeps a log of every request ("METHOD path"), refuses every
write (PUT, PATCH, DELETE, and a POST not listed in `lookups`) with 405 (or what `refuse` answers) and logs it in
`refused`, pages lists (`paged`), and with `tls=True` serves HTTPS under a test CA whose certificate is at
`ca_file` (trustme's when it is installed, else one made here with `cryptography`; `certificate` shares one CA
between several stand-ins). It listens on 127.0.0.1 only, on a port the OS picks, and stops when the `with` block
ends (or on `stop()`).
"""

from __future__ import annotations

import datetime
import json
import ssl
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Generic, Protocol, Self, TypeAlias, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

WRITES = frozenset({"PUT", "PATCH", "DELETE"})
HOST = "127.0.0.1"  # the stand-in listens on the loopback address only


@dataclass(frozen=True)
class Request:
    """What a handler gets: the method, the path (no leading slash, no query, as sent: still percent-encoded),
    the query (decoded), the body (JSON decoded, or a form's fields, else None), the headers and the raw body."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: bytes = b""

    def header(self, name: str) -> str:
        """A header's value ('' when absent), whatever the case of its name."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), "")


#: What a handler answers: a status and a JSON body, and optionally response headers.
Reply: TypeAlias = tuple[int, Any] | tuple[int, Any, Mapping[str, str]]
Handler: TypeAlias = Callable[[Request], Reply]


@dataclass(frozen=True)
class TestCertificate:
    """A server certificate for 127.0.0.1 and localhost, its key, and the CA that signed it (PEM files)."""

    __test__ = False  # not a pytest test class, whatever its name says

    cert_file: str
    key_file: str
    ca_file: str


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


def _refused(request: Request) -> Reply:
    return 405, {"errors": [f"{request.method} is a write: the stand-in refuses it"]}


@dataclass
class StandIn:
    """The stand-in server; use it as a context manager (or `start()` and `stop()`)."""

    routes: Mapping[str, Any] = field(default_factory=dict)
    lookups: Collection[str] = ()  # POST paths (or path suffixes) that only read, as Vault's lookups do
    tls: bool = False
    not_found: tuple[int, Any] = (404, {"errors": []})
    list_param: str | None = None  # a GET with this query parameter true is a LIST (Vault: "list")
    prefix: str = ""  # an API version prefix routes leave out (Vault: "v1/")
    fallback: Handler | None = None  # answers what no route names, instead of `not_found`
    refuse: Handler = _refused  # the answer to a refused write (it is logged in `refused` whatever it says)
    certificate: TestCertificate | None = None  # with tls: serve this certificate instead of making a CA
    requests: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # handlers that raised (each answered 500): a stand-in bug
    url: str = ""
    ca_file: str | None = None

    def __enter__(self) -> StandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> StandIn:
        """Listen on a free port of 127.0.0.1 and serve in a thread of this process; returns once listening."""
        stand_in = self

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                stand_in._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_LIST = _answer  # http.server's method names

        self._server = ThreadingHTTPServer((HOST, 0), _Handler)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        scheme = "http"
        if self.tls:
            if self.certificate is None:
                self._tmp = tempfile.TemporaryDirectory(prefix="standin-ca-")
                self.certificate = make_test_certificate(Path(self._tmp.name))
            self.ca_file = self.certificate.ca_file
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.certificate.cert_file, self.certificate.key_file)
            self._server.socket = ctx.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://{HOST}:{self._server.server_address[1]}"
        # a short poll: stop() waits for the serving loop to notice, and tests start many stand-ins
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket (and remove a CA this stand-in made)."""
        self._server.shutdown()
        self._server.server_close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = parse_qs(parts.query)
        method = h.command
        if method == "GET" and self.list_param and (query.get(self.list_param) or [""])[0] == "true":
            method = "LIST"
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        path = self._path(parts.path)
        request = Request(method=method, path=path, query=query, body=_body(raw, h.headers.get("Content-Type", "")),
                          headers=dict(h.headers.items()), raw=raw)
        self.requests.append(f"{method} {path}")
        # a lookup is a path or its last segment ("token"), or a custom-method suffix (":getIamPolicy": Google's
        # read-only POSTs, https://google.aip.dev/136), matched on the decoded path
        lookup = any(path == p or path.endswith("/" + p) or (p.startswith(":") and unquote(path).endswith(p))
                     for p in self.lookups)
        if method in WRITES or (method == "POST" and not lookup):
            self.refused.append(f"{method} {path}")
            return _send(h, *self._call(self.refuse, request))
        route = self.routes.get(f"{method} {path}", self.routes.get(path) if method in ("GET", "POST") else None)
        if route is None:
            if self.fallback is not None:
                return _send(h, *self._call(self.fallback, request))
            return _send(h, *self.not_found)
        if isinstance(route, paged):
            return _send(h, *route(request, self.url))
        if callable(route):
            return _send(h, *self._call(route, request))
        return _send(h, 200, route)

    def _call(self, handler: Handler, request: Request) -> Reply:
        try:
            return handler(request)
        except Exception as exc:  # noqa: BLE001  # a handler's bug answers 500 and is kept for the test to see
            traceback.print_exc(file=sys.stderr)
            self.failures.append(f"{request.method} {request.path}: {type(exc).__name__}: {exc}")
            return 500, {"error": {"code": "StandInFailure", "message": f"{type(exc).__name__}"}}

    def _path(self, path: str) -> str:
        """The request path as routes name it: no leading slash, no trailing one."""
        return path.lstrip("/").removeprefix(self.prefix).rstrip("/")


def _body(raw: bytes, content_type: str) -> Any:
    """A JSON body decoded, a form's fields (first value of each), else None."""
    if not raw:
        return None
    if "application/x-www-form-urlencoded" in content_type:
        return {k: v[0] for k, v in parse_qs(raw.decode(errors="replace"), keep_blank_values=True).items()}
    try:
        return json.loads(raw)
    except ValueError:
        return None


class ProviderStandIn:
    """What a provider's stand-in (Azure's, Google's REST APIs) shows of the one StandIn it serves through: where
    it listens, the CA to trust, its logs, and start/stop (also as a context manager). A subclass sets
    `_server` in its __init__."""

    _server: StandIn

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def ca_file(self) -> str:
        assert self._server.ca_file is not None
        return self._server.ca_file

    @property
    def requests(self) -> list[str]:
        return self._server.requests

    @property
    def refused(self) -> list[str]:
        return self._server.refused

    @property
    def failures(self) -> list[str]:
        return self._server.failures

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Forced(Protocol):
    """A fault a test forces on a stand-in's requests (each provider's seed model has its own fields)."""

    times: int | None
    hits: int

    def matches(self, method: str, path: str) -> bool: ...


F = TypeVar("F", bound=Forced)


class Faults(Generic[F]):
    """The faults forced on a stand-in: the first that applies to a request answers it, `times` times (None:
    always), counted in its `hits`; thread-safe (a server answers requests on several threads)."""

    def __init__(self) -> None:
        self.items: list[F] = []
        self._lock = threading.Lock()

    def add(self, fault: F) -> F:
        self.items.append(fault)
        return fault

    def take(self, method: str, path: str) -> F | None:
        with self._lock:
            for fault in self.items:
                if fault.matches(method, path) and (fault.times is None or fault.hits < fault.times):
                    fault.hits += 1
                    return fault
        return None


def _send(h: BaseHTTPRequestHandler, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
    payload = json.dumps(body).encode()
    h.send_response(status)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(len(payload)))
    for name, value in (headers or {}).items():
        h.send_header(name, value)
    h.end_headers()
    h.wfile.write(payload)


def make_test_certificate(folder: Path) -> TestCertificate:
    """A new test CA and a server certificate it signed for 127.0.0.1 and localhost, as PEM files in `folder`."""
    try:
        # optional (no extra installs it); where it is installed, it ships its own types
        import trustme  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return _ca_with_cryptography(folder)
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    cert, key, ca_file = folder / "server.pem", folder / "server.key", folder / "ca.pem"
    server.cert_chain_pems[0].write_to_path(str(cert))
    server.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    return TestCertificate(cert_file=str(cert), key_file=str(key), ca_file=str(ca_file))


def _ca_with_cryptography(folder: Path) -> TestCertificate:
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
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_file, key_file, ca_file = folder / "server.pem", folder / "server.key", folder / "ca.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return TestCertificate(cert_file=str(cert_file), key_file=str(key_file), ca_file=str(ca_file))
