"""Differential tests: the ACL evaluator against a real OpenBao server on random policy sets.

1. Capabilities. Random policy sets (names in random case with surrounding spaces, leading slashes, `*`
   suffixes, `+` segments, a literal `*` or `+` inside a segment, templates, identical paths across
   policies, deny, empty and legacy stanzas, expirations, parameter constraints in map and HCL1 block form)
   are written to the server; a token gets exactly those policies (with and without `default`, sometimes
   `root`); `ACL.capabilities` must equal `sys/capabilities` on every request path, the server must attach
   the names `attached_policies` predicts, and `parse_policy` must accept exactly what the server accepts.
2. Parameter constraints, which `sys/capabilities` does not reflect: `ACL.allows(..., engine=)` against real
   requests on KV v1, KV v2 and PKI mounts (policygen.ground_truth).

Fixed seed and derandomized, so every run tests the same examples; one session server.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from commonmode_vault.policy import ACL, PolicyError, attached_policies, parse_policy

from .policygen import (
    KV1,
    KV2,
    NAMES,
    PKI,
    Bao,
    ground_truth,
    policy_path,
    probe_for,
    request_paths,
    setup_engines,
    spell,
    stanza,
)

pytest.importorskip("hvac")  # the session server fixture comes with the test extra

SEED = 20261201
_example = itertools.count()
TIMES: dict[str, float] = {}
STATS: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="module")
def server(bao_session: str) -> Iterator[Bao]:
    bao = Bao(bao_session)
    setup_engines(bao)
    yield bao


def _settings(examples: int):  # type: ignore[no-untyped-def]
    """Deterministic, no example database; no shrinking unless A1_SHRINK=1, because shrinking a failure
    against a live server takes minutes (the failure message carries the policies and statuses)."""
    phases = list(Phase) if os.environ.get("A1_SHRINK") else [Phase.explicit, Phase.generate]
    return settings(derandomize=True, deadline=None, max_examples=examples, database=None, phases=phases,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --- 1. capabilities --------------------------------------------------------------------------------------

@st.composite
def policy_sets(draw: st.DrawFn) -> list[list[tuple[str, str]]]:
    """Policies of one to four stanzas each, some paths recurring across policies."""
    shared = draw(st.lists(policy_path(), min_size=1, max_size=3))
    return [[draw(stanza(path=draw(st.one_of(st.sampled_from(shared), policy_path()))))
             for _ in range(draw(st.integers(1, 4)))] for _ in range(draw(st.integers(1, 4)))]


def _write(server: Bao, draw: st.DrawFn, n: int, policies: list[list[tuple[str, str]]]) -> tuple[dict, dict]:
    """Each policy under a randomly spelled name; parse_policy must accept exactly what the server does."""
    documents, texts = {}, {}
    for i, stanzas in enumerate(policies):
        name = spell(draw, f"dt{n}-p{i}")
        text = "\n".join(t for _, t in stanzas)
        accepted = server.policy(name, text) == 204
        try:
            parsed = parse_policy(text, name)
        except PolicyError:
            parsed = None
        assert (parsed is not None) == accepted, f"server accepted={accepted}, parse_policy disagrees:\n{text}"
        if parsed is not None:
            documents[name], texts[name] = parsed, text
    return documents, texts


@seed(SEED)
@_settings(300)
@given(policies=policy_sets(), data=st.data())
def test_capabilities_agree_with_sys_capabilities(server: Bao, policies: list[list[tuple[str, str]]],
                                                  data: st.DataObject) -> None:
    started = time.perf_counter()
    draw = data.draw
    documents, texts = _write(server, lambda s: draw(s), next(_example), policies)
    requested = [spell(draw, name.strip()) for name in documents]
    if requested and draw(st.booleans()):
        requested.append(spell(draw, requested[0].strip()))
    if draw(st.integers(0, 24)) == 0:
        requested.append(spell(draw, "root"))
    default = draw(st.booleans())
    token, attached = server.token(requested, default=default)
    held = [*requested, "default"] if default else requested
    assert sorted(attached) == sorted(attached_policies(held)), (requested, attached)
    documents["default"] = parse_policy(server.policy_text("default"), "default")
    acl = ACL.build(held, documents)
    paths = request_paths(draw, [p for stanzas in policies for p, _ in stanzas], 14)
    truth = server.capabilities(token, paths)
    wrong = {p: (sorted(acl.capabilities(p)), sorted(truth[p])) for p in paths if acl.capabilities(p) != truth[p]}
    assert not wrong, f"evaluator vs server on {json.dumps(wrong)}\npolicies:\n" + "\n---\n".join(texts.values())
    if not acl.root and any("{{" in t for t in texts.values()):
        # The same policies on a token whose entity is named "ab": templated paths now apply, and the
        # server's answer must be one of the cases the evaluator considers.
        entity_token = server.entity_token(requested, default=default)
        with_entity = server.capabilities(entity_token, paths)
        wrong = {p: (sorted(map(sorted, acl.capability_cases(p))), sorted(with_entity[p])) for p in paths
                 if with_entity[p] not in acl.capability_cases(p)}
        assert not wrong, f"entity ab: {json.dumps(wrong)}\npolicies:\n" + "\n---\n".join(texts.values())
        STATS["templated paths"] += sum(1 for p in paths if len(acl.capability_cases(p)) > 1)
    STATS["paths"] += len(paths)
    STATS["allowed paths"] += sum(1 for p in paths if truth[p] != frozenset({"deny"}))
    TIMES["capabilities"] = TIMES.get("capabilities", 0.0) + time.perf_counter() - started


# --- 2. parameter constraints -----------------------------------------------------------------------------

def _targets(engine: str, n: int, draw: st.DrawFn) -> tuple[str, str, list[str], list[str]]:
    """(target path, mount, capabilities to probe, policy paths that match the target)."""
    if engine == "kv1":
        target, mount, caps = f"{KV1}/e{n}/s", f"{KV1}/", ["read", "create", "update"]
        patterns = [target, f"{KV1}/e{n}/*", f"{KV1}/*", f"{KV1}/+/s", f"{KV1}/e{n}/s*"]
    elif engine == "kv2":
        api = draw(st.sampled_from(("data", "data", "data", "metadata")))
        target, mount = f"{KV2}/{api}/e{n}/s", f"{KV2}/"
        caps = ["read", "create", "update", "patch"] if api == "data" else ["read", "update"]
        patterns = [target, f"{KV2}/{api}/e{n}/*", f"{KV2}/*", f"{KV2}/+/e{n}/s", f"{KV2}/{api}/+/s*"]
    else:
        target = draw(st.sampled_from((f"{PKI}/issue/web", f"{PKI}/issue/nocn", f"{PKI}/issuer/default/issue/web")))
        mount, caps = f"{PKI}/", ["update"]
        patterns = [target, f"{PKI}/issue/*", f"{PKI}/*", f"{PKI}/+/web", f"{PKI}/issue/we*"]
    return target, mount, caps, patterns


@st.composite
def constrained_sets(draw: st.DrawFn) -> dict[str, object]:
    engine = draw(st.sampled_from(("kv1", "kv2", "kv2", "pki")))
    n = next(_example)
    target, mount, caps, patterns = _targets(engine, n, draw)
    cap = draw(st.sampled_from(caps))
    stanzas = []
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(patterns))
        stanzas.append(draw(stanza(path=path, names=NAMES[engine], must=cap if draw(st.integers(0, 5)) else "")))
    split = draw(st.integers(1, len(stanzas)))
    return {"engine": engine, "n": n, "target": target, "mount": mount, "cap": cap,
            "policies": [stanzas[:split], stanzas[split:]] if split < len(stanzas) else [stanzas]}


@seed(SEED)
@_settings(160)
@given(case=constrained_sets())
def test_parameter_constraints_agree_with_real_requests(server: Bao, case: dict[str, object]) -> None:
    started = time.perf_counter()
    documents, names = {}, []
    for i, stanzas in enumerate(case["policies"]):  # type: ignore[arg-type]
        name, text = f"dp{case['n']}-{i}", "\n".join(t for _, t in stanzas)
        assert server.policy(name, text) == 204, text
        documents[name] = parse_policy(text, name)
        names.append(name)
    token, _ = server.token(names)
    acl = ACL.build(names, documents)
    probe = probe_for(str(case["engine"]), str(case["target"]), str(case["cap"]),
                      [t for stanzas in case["policies"] for _, t in stanzas])  # type: ignore[attr-defined]
    answer = acl.allows(probe.path, probe.cap, engine=probe.engine, mount=str(case["mount"]))
    ok, conditional, sources = answer.granted, answer.conditional, answer.via
    said = "no" if not ok else ("some" if conditional else "any")
    truth, statuses = ground_truth(server, token, probe)
    texts = "\n---\n".join("\n".join(t for _, t in s) for s in case["policies"])  # type: ignore[attr-defined]
    detail = (f"{probe.cap} {probe.path} ({probe.engine}): evaluator {said} {sources}, server {truth}\n"
              f"{texts}\n{statuses}")
    if probe.essential() is None:  # an API the test does not model: only "can some request pass"
        assert ok == (truth != "no"), detail
    elif said == "some" and truth == "no" and probe.engine == "pki" and statuses.get("{}") == 400:
        # Documented caveat: the ACL let the empty request through and this role refused it
        # (require_cn); the evaluator cannot know the role, so it says "conditional".
        assert any("require_cn" in s for s in sources), detail
    else:
        assert said == truth, detail
    STATS[f"{probe.engine} {probe.cap} {truth}"] += 1
    if os.environ.get("A1_DEBUG"):
        print("\nCASE", said, truth, detail[:2000])
    TIMES["parameters"] = TIMES.get("parameters", 0.0) + time.perf_counter() - started


def test_the_examples_cover_every_kind_of_answer() -> None:
    """The generators must keep producing what the properties are about: matches and denials, every
    verdict on every engine, templated paths whose answer depends on the entity. (Run after the two
    properties; A1_DEBUG=1 prints the counts and the time each property took.)"""
    if not STATS:
        pytest.skip("the property tests did not run")
    if os.environ.get("A1_DEBUG"):
        print({k: round(v, 1) for k, v in TIMES.items()}, dict(sorted(STATS.items())))
    assert STATS["paths"] > 2000 and 0.2 < STATS["allowed paths"] / STATS["paths"] < 0.8
    assert STATS["templated paths"] > 50
    for engine in ("kv1", "kv2", "pki"):
        for verdict in ("any", "some", "no"):
            assert sum(n for k, n in STATS.items() if k.startswith(engine) and k.endswith(verdict)) >= 3, \
                (engine, verdict, dict(STATS))
