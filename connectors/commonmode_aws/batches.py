"""Route 53 change batches: a record set's dns.write when a policy conditions on the record-level keys.

Route 53 authorises a ChangeResourceRecordSets request once for its whole change batch, so whether one
record set can be changed depends on what else the batch may hold; BatchSearch looks for such a batch."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import commonmode_aws.policy as P
from commonmode.kit import Decision, Tri
from commonmode.model import Capability
from commonmode_aws.decide import CRRS, Asker, decide, grant
from commonmode_aws.estate import Estate, Target

# --- Route 53 change batches ------------------------------------------------------------------------------
#
# Route 53 authorises a ChangeResourceRecordSets request once for its whole change batch, and the record-level
# keys carry the names, the types and the actions of ALL its changes, as three independent sets (Route 53
# Developer Guide, "Using IAM policy conditions for fine-grained access control"). ForAnyValue needs one
# matching value, ForAllValues needs all of them to match (IAM User Guide, "Multivalued context keys"). So an
# identity can change record R iff SOME valid batch holding a change to R is allowed and not denied: a
# ForAnyValue Allow is met by adding one change it admits, and a ForAllValues Deny is escaped by adding one
# change it does not cover. BatchSearch looks for such a batch among a bounded set of witness changes: the
# zone's existing records (UPSERT is always valid; DELETE, or DELETE and CREATE together, except for the apex
# SOA and NS, which always exist) and new records at names the policies' own patterns admit (CREATE).

_NAMES, _TYPES, _ACTIONS = (f"route53:changeresourcerecordsets{k}" for k in ("normalizedrecordnames", "recordtypes",
                                                                          "actions"))
assert {_NAMES, _TYPES, _ACTIONS} == P.ROUTE53_RECORD_KEYS
#: A fresh label for a record the zone does not have yet: the probe that asks "can it create records?".
_NEW_LABEL = "new-record"
#: Record types probed for "any new record" (with every type a record-type condition names).
_PROBE_TYPES = ("A", "AAAA", "CNAME", "MX", "NS", "TXT")
#: Record types a witness may create at a new name (with every type a record-type condition names).
_WITNESS_TYPES = ("A", "TXT")
#: Bounds of the search: witness classes tried two at a time on top of the harmless ones, and new names
#: derived from each name pattern.
_MAX_RISKY, _NAMES_PER_PATTERN = 12, 2


@dataclass(frozen=True, kw_only=True)
class _Change:
    """One change of a batch as the record-level keys see it: a record set (normalized name, type) and the
    actions it takes (DELETE and CREATE together replace a record set). `record` is the resource id of an
    existing record set (None for the apex SOA and NS when the listing did not show them); `new` marks a
    record set the zone does not have yet."""

    name: str
    rtype: str
    actions: tuple[str, ...]
    record: str | None = None
    new: bool = False

    def values(self, key: str) -> tuple[str, ...]:
        return (self.name,) if key == _NAMES else (self.rtype,) if key == _TYPES else self.actions

    def conflicts(self, other: _Change) -> bool:
        """Two changes one batch cannot hold: two to one record set, or two new record sets at one name when
        either is a CNAME (a CNAME shares its name with no other record; _creatable keeps new records off
        the names and types that exist)."""
        if self.new != other.new:
            return False
        if not self.new:
            return (self.record or (self.name, self.rtype)) == (other.record or (other.name, other.rtype))
        return self.name == other.name and (self.rtype == other.rtype or "CNAME" in (self.rtype, other.rtype))

    def __str__(self) -> str:
        return f"{self.name} {self.rtype}" + (" (a new record)" if self.new else "")


@dataclass(frozen=True, kw_only=True)
class _Answer:
    """The strongest answer for changing one record set, the change that does it and the changes added to
    its batch for that (empty: allowed on its own)."""

    access: Decision
    own: _Change
    added: tuple[_Change, ...] = ()


@dataclass(frozen=True, kw_only=True)
class _KeyedCondition:
    """A record-key condition of a statement that may decide the request, and how a batch's values meet it."""

    statement: P.Statement
    condition: P.Condition
    every: bool  # ForAllValues: every value must match; otherwise one matching value is enough

    @property
    def allow(self) -> bool:
        return self.statement.effect == "Allow"


def _record_keyed(who: Asker, t: Target) -> list[P.Statement]:
    """The statements that may decide ChangeResourceRecordSets on this zone for this asker and condition on
    the record-level keys (identity policies, boundary, SCP levels, RCPs, resource policy). Only when there is
    one can the answer differ between the records of one zone. A statement whose action, resource or other
    conditions surely do not apply is left out: it can make no record differ."""
    p = who.principal
    sts = [*(p.policies if who.policies is None else who.policies), *(p.boundary or ()),
           *(s for lvl in p.scp_levels or () for s in lvl), *(s for lvl in t.rcp_levels or () for s in lvl), *t.policy]
    req = P.request(p, CRRS, t.arn, resource_account=t.account, context=t.context, absent_prefixes=t.absent_prefixes)
    out = []
    for st in sts:
        keyed = [c for c in st.conditions if c.key.lower() in P.ROUTE53_RECORD_KEYS]
        rest = tuple(c for c in st.conditions if c not in keyed)
        if keyed and P.statement_applies(dataclasses.replace(st, conditions=rest), req) is not Tri.NO:
            out.append(st)
    return out


def dns_write(estate: Estate, who: Asker, t: Target) -> None:
    """ChangeResourceRecordSets on a zone. Unless a policy deciding it conditions on the record-level keys,
    the zone-level answer holds for every record: one grant on the zone. Otherwise every record set is decided
    with batch semantics (BatchSearch); the zone itself is granted only when every existing record set and
    every probed new one is, with one strength, and otherwise each record set it can change is."""
    zone_level = decide(who, t, CRRS)
    if not zone_level.granted:
        return  # NO with the record keys unbound is NO for every batch
    keyed = _record_keyed(who, t)
    if not keyed:
        grant(estate, who, Capability.DNS_WRITE, t.resource.id, zone_level, f"{CRRS} allowed on the zone")
        return
    search = BatchSearch(who, t, keyed)
    records = [(res, search.best(search.existing(name, rtype, res.id))) for res, name, rtype in t.records]
    unlisted = [search.best(search.existing(n, r, None)) for n, r, rec in search.records if rec is None]
    every = [a for _, a in records] + unlisted + [search.best(options) for options in search.probes]
    if all(a is not None for a in every) and len({a.access.result for a in every if a is not None}) == 1:
        example = next((a for a in every if a is not None and a.added), None)
        shown = example or every[0]
        assert shown is not None
        grant(estate, who, Capability.DNS_WRITE, t.resource.id, shown.access,
              f"{CRRS} allowed on the zone: on every record of it, existing and new (decided record by record: a "
              "policy conditions on the record-level keys)", *((search.explain(example),) if example else ()))
        return
    for res, a in records:
        if a is not None:
            grant(estate, who, Capability.DNS_WRITE, res.id, a.access, search.explain(a))
    if t.resource.public:
        dns_validation(estate, who, t, search)


def dns_validation(estate: Estate, who: Asker, t: Target, search: BatchSearch) -> None:
    """Without the whole zone, writing `_acme-challenge.<apex>` TXT (or the CNAME that delegates it) still
    passes ACME DNS-01 validation for the apex and its wildcard (RFC 8555, section 8.4): cert.issue on the
    zone, as the correlator derives it from a grant on the whole zone."""
    name = f"_acme-challenge.{search.apex}"
    listed = [(n, r, rec) for n, r, rec in search.records if n == name and r in ("TXT", "CNAME")]
    options = search.existing(*listed[0]) if listed else search.new(name, "TXT")
    answer = search.best(options)
    if answer is not None:
        grant(estate, who, Capability.CERT_ISSUE, t.resource.id, answer.access,
              f"writing {name} {answer.own.rtype} passes ACME DNS-01 validation for {search.apex} and "
              f"*.{search.apex}", search.explain(answer))


class BatchSearch:
    """For one asker and one zone: the strongest answer for changing a record set over the batches that hold
    a change to it plus witness changes, and the fewest witnesses that give it.

    Witnesses are grouped by their signature (what each record-key condition says of their values), which is
    all a batch's answer depends on. A witness is harmless when adding it can only help: it fails no
    ForAllValues condition of an Allow and meets no ForAnyValue condition of a Deny (adding values can only
    make ForAnyValue truer and ForAllValues falser). All helpful harmless witnesses are added at once; the
    risky helpful ones are tried one and two at a time on top, so the search stays bounded."""

    def __init__(self, who: Asker, t: Target, keyed: Sequence[P.Statement]) -> None:
        self.who, self.t = who, t
        self.apex = P.normalize_record_name(t.resource.names[0] if t.resource.names else t.resource.name)
        self.conditions = [
            _KeyedCondition(statement=st, condition=c, every=c.operator.lower().startswith("forallvalues:"))
            for st in keyed for c in st.conditions
            if c.key.lower() in P.ROUTE53_RECORD_KEYS and c.operator.split(":")[-1].removesuffix("IfExists") != "Null"]
        # (name, type, resource id): None for a record set the listing did not show
        self.records: list[tuple[str, str, str | None]] = [(name, rtype, res.id) for res, name, rtype in t.records]
        present = {(n, r) for n, r, _ in self.records}
        # The apex SOA and NS always exist, whether or not the listing showed them.
        self.records += [(self.apex, r, None) for r in ("SOA", "NS") if (self.apex, r) not in present]
        # What the record-key conditions say of each change is the same for every asker with these
        # conditions (unless a policy variable makes it depend on the asker): shared on the zone's target.
        conditions = tuple((k.statement.effect, k.condition, k.every) for k in self.conditions)
        variable = any("${" in v for k in self.conditions for v in k.condition.values)
        shared = t.batches.setdefault((conditions, who.principal.arn if variable else None), {})
        self._options: dict[tuple[str, str, str | None], tuple[_Change, ...]] = t.batches.setdefault("options", {})
        self._tri: dict[tuple[int, tuple[str, ...]], Tri] = shared.setdefault("tri", {})
        self._signatures: dict[int, tuple[Tri, ...]] = shared.setdefault("signatures", {})
        self._held: list[_Change] = shared.setdefault("held", [])  # keeps the changes _signatures is keyed by
        self._eval: dict[tuple[tuple[str, ...], ...], Decision] = {}
        self._memo: dict[tuple[Any, ...], tuple[int, tuple[_Change, ...], Decision] | None] = {}
        if "classes" not in shared:
            shared["classes"], shared["probes"] = self._classes(), self._probes()
        self.classes: list[tuple[bool, list[_Change]]] = shared["classes"]
        self.probes: list[tuple[_Change, ...]] = shared["probes"]

    # the changes ----------------------------------------------------------------------------------------

    def existing(self, name: str, rtype: str, record: str | None) -> tuple[_Change, ...]:
        """The ways a batch can change an existing record set: update it, delete it, or delete and create it
        again; the apex SOA and NS can only be updated (Route 53 API Reference, "Change": CREATE, DELETE,
        UPSERT; Developer Guide, "NS and SOA records that Amazon Route 53 creates for a public hosted zone")."""
        if (name, rtype, record) not in self._options:
            ways = [("UPSERT",)] if name == self.apex and rtype in ("SOA", "NS") else [
                ("UPSERT",), ("DELETE",), ("CREATE", "DELETE")]
            self._options[(name, rtype, record)] = tuple(
                _Change(name=name, rtype=rtype, actions=a, record=record) for a in ways)
        return self._options[(name, rtype, record)]

    def new(self, name: str, rtype: str) -> tuple[_Change, ...]:
        """Creating a record set the zone does not have: CREATE, or UPSERT (which creates it)."""
        return tuple(_Change(name=name, rtype=rtype, actions=(a,), new=True) for a in ("CREATE", "UPSERT"))

    def _creatable(self, name: str, rtype: str) -> bool:
        # No SOA but the apex one; DS needs a delegation at its name; a CNAME shares its name with nothing
        # (and never sits at the apex).
        here = {r for n, r, _ in self.records if n == name}
        if rtype in ("SOA", "DS") or rtype in here or "CNAME" in here:
            return False
        return not (rtype == "CNAME" and (here or name == self.apex))

    def _condition_values(self, key: str) -> list[str]:
        return [v for k in self.conditions if k.condition.key.lower() == key for v in k.condition.values]

    def _new_names(self, fresh: str) -> list[str]:
        """New names inside the zone: a fresh one, and those the name patterns of the policies admit."""
        names = [f"{fresh}.{self.apex}"]
        for pattern in self._condition_values(_NAMES):
            names += _names_matching(pattern.lower(), self.apex)[:_NAMES_PER_PATTERN]
        return list(dict.fromkeys(names))

    def _types(self, base: Sequence[str]) -> list[str]:
        named = [v.upper() for v in self._condition_values(_TYPES) if v.replace("*", "").replace("?", "") == v]
        return list(dict.fromkeys([*base, *named]))

    def _probes(self) -> list[tuple[_Change, ...]]:
        """New record sets whose creation stands for "it can create any record" (one tuple of ways each)."""
        return [self.new(n, r) for n in self._new_names(_NEW_LABEL) for r in self._types(_PROBE_TYPES)
                if self._creatable(n, r)]

    def _witnesses(self) -> list[_Change]:
        changes = [c for n, r, rec in self.records for c in self.existing(n, r, rec)]
        # A fresh name of their own, so that a witness never shares its name with a probed CNAME.
        changes += [c for n in self._new_names(f"other-{_NEW_LABEL}") for r in self._types(_WITNESS_TYPES)
                    if self._creatable(n, r)
                    for c in self.new(n, r)]
        return changes

    # what the conditions say ----------------------------------------------------------------------------

    def _meets(self, i: int, change: _Change) -> Tri:
        """Condition `i` evaluated on one change's values alone (cached: most records look alike)."""
        k = self.conditions[i]
        key = k.condition.key.lower()
        values = change.values(key)
        memo = (i, values)
        if memo not in self._tri:
            st = P.Statement(source="record-key condition", effect="Allow", actions=("*",), not_action=False,
                             resources=("*",), not_resource=False, conditions=(k.condition,))
            req = P.request(self.who.principal, CRRS, self.t.arn, resource_account=self.t.account,
                            context={**self.t.context, key: values}, absent_prefixes=self.t.absent_prefixes)
            self._tri[memo] = P.statement_applies(st, req)
        return self._tri[memo]

    def _signature(self, change: _Change) -> tuple[Tri, ...]:
        found = self._signatures.get(id(change))
        if found is None:
            found = self._signatures[id(change)] = tuple(self._meets(i, change) for i in range(len(self.conditions)))
            self._held.append(change)
        return found

    def _effects(self, change: _Change) -> tuple[list[_KeyedCondition], bool]:
        """(the conditions adding this change may help, whether it may hurt any)."""
        helps, hurts = [], False
        for k, tri in zip(self.conditions, self._signature(change), strict=True):
            if k.every:  # ForAllValues: one value outside it fails it
                if tri is not Tri.YES:
                    if k.allow:
                        hurts = True
                    else:
                        helps.append(k)
            elif tri is not Tri.NO:  # ForAnyValue (or a plain operator, which also matches on one value)
                if k.allow:
                    helps.append(k)
                else:
                    hurts = True
        return helps, hurts

    def _classes(self) -> list[tuple[bool, list[_Change]]]:
        """Helpful witnesses grouped by signature, each group as (risky, its changes in order)."""
        groups: dict[tuple[Tri, ...], tuple[bool, list[_Change]]] = {}
        for change in self._witnesses():
            helps, hurts = self._effects(change)
            if helps:
                groups.setdefault(self._signature(change), (hurts, []))[1].append(change)
        return list(groups.values())

    # the search ------------------------------------------------------------------------------------------

    def _access(self, batch: Sequence[_Change]) -> Decision:
        ctx = {key: tuple(sorted({v for c in batch for v in c.values(key)})) for key in (_NAMES, _TYPES, _ACTIONS)}
        memo = tuple(ctx.values())
        if memo not in self._eval:
            self._eval[memo] = decide(self.who, self.t, CRRS, ctx)
        return self._eval[memo]

    def _pick(self, members: Sequence[_Change], taken: Sequence[_Change]) -> _Change | None:
        return next((m for m in members if not any(m.conflicts(o) for o in taken)), None)

    def _batches(self, own: _Change) -> Iterable[tuple[_Change, ...]]:
        harmless: list[_Change] = []
        for risky, members in self.classes:
            if not risky and (m := self._pick(members, [own, *harmless])) is not None:
                harmless.append(m)
        risky_classes = [members for risky, members in self.classes if risky][:_MAX_RISKY]
        if harmless:
            yield tuple(harmless)
        for i, first in enumerate(risky_classes):
            for second in [None, *risky_classes[i + 1:]]:
                batch = [*harmless]
                for group in (first, second):
                    if group is not None:
                        if (m := self._pick(group, [own, *batch])) is None:
                            break
                        batch.append(m)
                else:
                    yield tuple(batch)

    def best(self, options: Sequence[_Change]) -> _Answer | None:
        """The strongest answer over the ways `options` of changing one record set, with the fewest added
        changes that give it; None when no batch is allowed."""
        memo = tuple(self._signature(o) for o in options)
        if memo in self._memo:
            found = self._memo[memo]
            if found is None:
                return None
            i, added, access = found
            if not any(a.conflicts(options[i]) for a in added):  # another record's witness may be this one
                return _Answer(access=access, own=options[i], added=added)
        answer = self._search(options)
        self._memo[memo] = None if answer is None else (options.index(answer.own), answer.added, answer.access)
        return answer

    def _search(self, options: Sequence[_Change]) -> _Answer | None:
        best: _Answer | None = None
        for own in options:
            acc = self._access((own,))
            if best is None or acc.result > best.access.result:
                best = _Answer(access=acc, own=own)
        assert best is not None
        for own in options:
            if best.access.result is Tri.YES:
                break
            for added in self._batches(own):
                acc = self._access((own, *added))
                if acc.result > best.access.result:
                    best = _Answer(access=acc, own=own, added=added)
                    if acc.result is Tri.YES:
                        break
        if not best.access.granted:
            return None
        return self._fewest(best)

    def _fewest(self, answer: _Answer) -> _Answer:
        """Drop every added change the answer does not need."""
        added = list(answer.added)
        for change in reversed(answer.added):
            rest = [c for c in added if c is not change]
            if self._access((answer.own, *rest)).result >= answer.access.result:
                added = rest
        return dataclasses.replace(answer, added=tuple(added), access=self._access((answer.own, *added)))

    def explain(self, a: _Answer) -> str:
        """What `via` says for one record set: the change, and, when it needs other changes in its batch,
        which ones and which scoping they defeat, in words a policy author can act on."""
        what = f"{CRRS} ({' and '.join(a.own.actions)}) allowed for {a.own.name} {a.own.rtype}"
        if not a.added:
            return what
        helped = [k for change in a.added for k in self._effects(change)[0]]
        reasons = []
        allows = sorted({k.statement.source for k in helped if k.allow})
        denies = sorted({k.statement.source for k in helped if not k.allow})
        if allows:
            scoping = ("ForAnyValue scoping" if all(k.condition.operator.lower().startswith("foranyvalue:")
                                                   for k in helped if k.allow)
                       else "scoping on a multivalued key without ForAllValues")
            reasons.append(f"{scoping} does not hold; scope with ForAllValues ({', '.join(allows)})")
        if denies:
            reasons.append("a Deny written with ForAllValues covers only batches made of the changes it names; "
                           f"write the Deny with ForAnyValue ({', '.join(denies)})")
        changes = ", ".join(str(c) for c in a.added)
        return (f"{what} by adding {'a change' if len(a.added) == 1 else 'changes'} to {changes} in the same batch: "
                + "; ".join(reasons))


def _names_matching(pattern: str, apex: str) -> list[str]:
    """Names inside the zone `apex` that a name pattern admits (StringLike wildcards: `*` any run, `?` one
    character, case-sensitive): the pattern itself when it has no wildcard, else its first `*` filled so that
    the name falls in the zone (later ones empty) and each `?` as `x`."""
    def inside(name: str) -> bool:
        return (name == apex or name.endswith("." + apex)) and all(name.split("."))

    if "*" not in pattern and "?" not in pattern:
        return [pattern] if inside(pattern) else []
    rx = re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.S)
    head, star, tail = pattern.partition("*")
    names = [(head + fill + tail.replace("*", "") if star else pattern).replace("?", "x")
             for fill in ("x", apex, "x." + apex, "")]
    return list(dict.fromkeys(n for n in names if inside(n) and rx.fullmatch(n)))
