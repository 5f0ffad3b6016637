"""The example connector of docs/connectors.md, written with the kit, against the shared HTTP stand-in: what
the walk-through promises holds (inventory, conditional grants with their `via`, gaps that make the run
partial, a broken scope that is one gap, the read-only guard, TLS under a test CA, call counts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from commonmode.cli import app
from commonmode.connector import ConnectorSettings, Registry, no_progress
from commonmode.kit import ReadOnlyViolation
from commonmode.model import RunStatus
from commonmode_sandbox.standin import StandIn, paged

runner = CliRunner()
ACCOUNT = "acme"
TOKENS = [
    {"id": "t1", "name": "dns-bot", "labels": {"team": "team-dns"}, "created": "2026-01-02T03:04:05Z",
     "scopes": ["zone:*.example.com:write"]},
    {"id": "t2", "name": "office", "scopes": ["zone:api.example.com:write?ip=192.0.2.0/24", "zone:x"]},
    {"id": "t3", "name": "reader", "scopes": ["zone:*:read"]},
]
ROUTES = {"v1/account": {"id": ACCOUNT},
          "v1/zones": {"zones": [{"name": "api.example.com"}, {"name": "status.example.net"}]},
          "v1/tokens": paged(TOKENS, size=2, items_key="tokens", next_key="next", style="token")}


def zone(name: str) -> str:
    return f"example:{ACCOUNT}:zone/{name}"


def token(tid: str) -> str:
    return f"example:{ACCOUNT}:token/{tid}"


def connector(url: str, tmp_path: Path, **options: object):  # type: ignore[no-untyped-def]
    cls = Registry.discover().load("example")  # found through its entry point, like any plugin
    return cls(ConnectorSettings(name="ex", connector_type="example", options={"url": url, **options},
                                 config_dir=tmp_path))


def test_the_example_reads_tokens_and_zones_and_decides_grants(tmp_path: Path) -> None:
    with StandIn(routes=ROUTES) as s:
        result = connector(s.url, tmp_path).collect(no_progress)
        assert s.refused == []
    inv = result.inventory
    assert {i.id: i.owner for i in inv.identities} == {token("t1"): "team-dns", token("t2"): None, token("t3"): None}
    grants = {(g.identity_id, g.resource_id): g for g in inv.grants}
    assert set(grants) == {(token("t1"), zone("api.example.com")), (token("t2"), zone("api.example.com"))}
    assert not grants[(token("t1"), zone("api.example.com"))].conditional
    office = grants[(token("t2"), zone("api.example.com"))]
    assert office.conditional and "scope zone:api.example.com:write?ip=192.0.2.0/24" in office.via
    # the malformed scope is one gap: the run is partial, the rest is there
    assert result.status is RunStatus.PARTIAL
    assert result.gaps == ("scope 'zone:x' is not zone:<pattern>:read|write: ignored, so what it allows is missing",)
    assert next(c for c in inv.credentials if c.identity_id == token("t1")).created.year == 2026
    assert result.stats == {"api_calls": 4, "calls.GET v1/account": 1, "calls.GET v1/tokens": 2,
                            "calls.GET v1/zones": 1}


def test_a_refused_call_is_a_gap_and_a_missing_list_is_absent(tmp_path: Path) -> None:
    def forbidden(request):  # type: ignore[no-untyped-def]
        return 403, {"error": "forbidden"}

    def missing(request):  # type: ignore[no-untyped-def]
        return 404, {"error": "not found"}

    with StandIn(routes={**ROUTES, "v1/zones": forbidden, "v1/tokens": missing}) as s:
        result = connector(s.url, tmp_path).collect(no_progress)
    assert result.status is RunStatus.PARTIAL and result.gaps == ("zones: GET v1/zones: HTTP 403",)
    assert result.inventory.identities == ()  # absent: no tokens, and no gap for them


def test_the_guard_refuses_before_anything_is_sent(tmp_path: Path) -> None:
    from commonmode_example.client import Client

    from commonmode.kit import CallCounter, CallPolicy

    with StandIn(routes=ROUTES) as s:
        api = Client(s.url, True, CallPolicy(), CallCounter())
        with pytest.raises(ReadOnlyViolation):
            api.get("v1/tokens/t1/rotate")
        assert s.requests == [] and not api.calls


def test_tls_with_the_configured_ca_bundle_and_a_scan_through_the_cli(tmp_path: Path) -> None:
    with StandIn(routes=ROUTES, tls=True) as s:
        assert s.ca_file
        (tmp_path / "ca.pem").write_text(Path(s.ca_file).read_text())
        cfg = tmp_path / "commonmode.toml"
        cfg.write_text(f'[store]\npath = "cm.db"\n\n[[example]]\nname = "ex"\nurl = "{s.url}"\nca_cert = "ca.pem"\n')
        result = runner.invoke(app, ["scan", "-c", str(cfg), "--no-progress", "--format", "json"])
        without = connector(s.url, tmp_path).collect(no_progress)  # no CA bundle: the first call fails
    summary = json.loads(result.stdout)
    assert summary["connectors"][0]["status"] == "partial", result.output  # the malformed scope
    assert without.status is RunStatus.FAILED and without.gaps[0].startswith("example ex: cannot read the account")
