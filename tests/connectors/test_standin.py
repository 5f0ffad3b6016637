"""The shared HTTP stand-in (sandbox/commonmode_sandbox/standin.py) does what connector tests rely on: it serves its
routes and nothing else, pages lists, logs every request, refuses writes, and speaks TLS under a test CA."""

from __future__ import annotations

from pathlib import Path

import requests

from commonmode_sandbox.standin import StandIn, paged

T = 30  # seconds: every request has a timeout, so a stuck stand-in fails the test instead of hanging it


def test_routes_log_and_write_refusal() -> None:
    routes = {"users/a": {"id": "a"}, "LIST keys": {"keys": ["x"]}, "POST lookup": {"ok": True}}
    with StandIn(routes=routes, lookups=("lookup",), list_param="list") as s:
        assert requests.get(f"{s.url}/users/a", timeout=T).json() == {"id": "a"}
        assert requests.get(f"{s.url}/keys?list=true", timeout=T).json() == {"keys": ["x"]}
        assert requests.post(f"{s.url}/lookup", json={}, timeout=T).json() == {"ok": True}
        assert requests.get(f"{s.url}/users/b", timeout=T).status_code == 404
        assert requests.post(f"{s.url}/users/a", json={"id": "b"}, timeout=T).status_code == 405
        assert requests.delete(f"{s.url}/users/a", timeout=T).status_code == 405
        assert s.requests == ["GET users/a", "LIST keys", "POST lookup", "GET users/b", "POST users/a",
                              "DELETE users/a"]
        assert s.refused == ["POST users/a", "DELETE users/a"]


def test_paging_by_link_and_by_token() -> None:
    items = [{"n": i} for i in range(5)]
    routes = {"azure": paged(items, size=2), "gcp": paged(items, size=2, items_key="accounts", next_key="nextPageToken",
                                                           cursor="pageToken", style="token")}
    with StandIn(routes=routes) as s:
        seen, url = [], f"{s.url}/azure"
        while url:
            body = requests.get(url, timeout=T).json()
            seen += body["value"]
            url = body.get("nextLink")
        assert seen == items
        seen, token = [], ""
        while True:
            body = requests.get(f"{s.url}/gcp", params={"pageToken": token} if token else {}, timeout=T).json()
            seen += body["accounts"]
            token = body.get("nextPageToken", "")
            if not token:
                break
        assert seen == items and len(s.requests) == 6


def test_tls_under_a_test_ca() -> None:
    with StandIn(routes={"x": {"ok": True}}, tls=True) as s:
        assert s.url.startswith("https://127.0.0.1:") and s.ca_file
        assert requests.get(f"{s.url}/x", verify=s.ca_file, timeout=T).json() == {"ok": True}
        try:
            requests.get(f"{s.url}/x", timeout=T)  # the system's trust store does not know the test CA
        except requests.exceptions.SSLError:
            pass
        else:
            raise AssertionError("a certificate from the test CA was trusted without its CA file")


def test_fallback_refusal_headers_forms_and_failures() -> None:
    from commonmode_sandbox.standin import Request

    seen: list[Request] = []

    def router(request: Request) -> tuple[int, object, dict[str, str]]:
        seen.append(request)
        if request.path == "boom":
            raise RuntimeError("a bug in a handler")
        return 200, {"form": request.body, "who": request.header("x-who")}, {"X-Answer": "42"}

    def refuse(request: Request) -> tuple[int, object]:
        return 405, {"error": {"code": "MethodNotAllowed", "message": request.method}}

    with StandIn(fallback=router, refuse=refuse, lookups=("token",)) as s:
        answer = requests.post(f"{s.url}/tenant/token", data={"grant_type": "client_credentials", "scope": "a b"},
                               headers={"X-Who": "me"}, timeout=T)
        assert answer.json() == {"form": {"grant_type": "client_credentials", "scope": "a b"}, "who": "me"}
        assert answer.headers["X-Answer"] == "42" and seen[0].raw.startswith(b"grant_type=")
        assert requests.put(f"{s.url}/x", json={}, timeout=T).json() == {
            "error": {"code": "MethodNotAllowed", "message": "PUT"}}  # the refusal in the provider's shape
        assert requests.get(f"{s.url}/boom", timeout=T).status_code == 500
        assert s.refused == ["PUT x"] and s.failures == ["GET boom: RuntimeError: a bug in a handler"]


def test_stand_ins_can_share_one_test_ca(tmp_path: Path) -> None:
    from commonmode_sandbox.standin import make_test_certificate

    certificate = make_test_certificate(tmp_path)
    with StandIn(routes={"a": {"n": 1}}, tls=True, certificate=certificate) as one, \
            StandIn(routes={"b": {"n": 2}}, tls=True, certificate=certificate) as two:
        assert one.url != two.url and one.ca_file == two.ca_file == certificate.ca_file
        assert requests.get(f"{one.url}/a", verify=certificate.ca_file, timeout=T).json() == {"n": 1}
        assert requests.get(f"{two.url}/b", verify=certificate.ca_file, timeout=T).json() == {"n": 2}
