"""A commented starter `commonmode.toml` (what `commonmode init` writes).

The keys are generated from the declarations the config loader checks against: `config.SECTION_KEYS`,
`config.COMMON_OPTIONS` and each connector's `options`, so the starter names exactly the keys that exist,
with their meaning, type, range and default, and cannot drift from them. Only the words around them (what
each provider's connector reads and where its read-only policy is) are written here.

Conventions of the file: a value the user must fill in contains `CHANGE-ME`; an optional key is commented
out (`# key = value`) and shows its default, or an example; explanations are comment lines that never look
like a key. Secrets are never asked for: keys that hold credentials take the *name* of an environment
variable or profile.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterable, Mapping
from typing import Any

from commonmode import __version__
from commonmode.config import ARRAY_SECTIONS, COMMON_OPTIONS, DEFAULT_CONFIG, DEFAULT_DB, SECTION_KEYS
from commonmode.connector import Option, Registry

#: What marks a value the user must replace.
PLACEHOLDER = "CHANGE-ME"
#: Providers in the order their tables are written (others follow, sorted).
ORDER = ("aws", "azure", "gcp", "vault", "declared")

#: What each built-in connector reads and how it authenticates, in a few comment lines.
ABOUT: Mapping[str, tuple[str, ...]] = {
    "aws": (
        "AWS: one [[aws]] table per account, or one for an organization (assume_role, accounts).",
        "Reads IAM users and roles, Route 53 zones, records and health checks, Secrets Manager and SSM",
        "parameters (metadata only: never a value), ACM and ACM PCA. Grant it the read-only policy in the",
        "AWS connector's scanner-policy.json (connectors/commonmode_aws/ in the source).",
        "Credentials come from the standard AWS chain (environment, profile, instance or CI role): this",
        "file names a profile at most, never a key.",
    ),
    "azure": (
        "Azure: one [[azure]] table per Entra tenant (all its subscriptions, or the ones listed).",
        "Reads service principals, applications and managed identities (Microsoft Graph), role and deny",
        "assignments, DNS and private DNS, Traffic Manager, Front Door and Key Vault (metadata only: never",
        "a value). Give it the custom role in scanner-role.json and the Graph permissions listed in",
        "connectors/commonmode_azure/scanner-permissions.md. It logs in through azure-identity; a client",
        "secret is read from the environment variable client_secret_env names, never from this file.",
    ),
    "gcp": (
        "GCP: one [[gcp]] table per organization (or some folders, or some projects).",
        "Reads service accounts and their keys' metadata, allow and deny policies across the hierarchy,",
        "roles, workload identity pools, Cloud DNS (routing policies included), Secret Manager and",
        "Certificate Manager metadata (never a secret's value or key material). Grant it the custom role in",
        "scanner-role.json (connectors/commonmode_gcp/scanner-roles.md). It logs in with Application Default",
        "Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud, the metadata server), never from this file.",
    ),
    "vault": (
        "Vault / OpenBao: one [[vault]] table per cluster (or per namespace).",
        "Reads auth roles, ACL policies, identity entities and groups, KV metadata (never a secret's",
        "value) and PKI roles. Give the scanner a token holding only the connector's scanner-policy.hcl",
        "(connectors/commonmode_vault/ in the source), in the environment variable token_env names.",
    ),
    "declared": (
        "declared: what no connector scans (a second DNS provider, a TSIG key, a CI token), written",
        "down in a TOML file next to this one (its format: connectors/commonmode_declared/README.md).",
        "It makes no network call.",
    ),
}

#: Example values for keys whose generic placeholder would say too little.
EXAMPLES: Mapping[tuple[str, str], Any] = {
    ("aws", "profile"): f"{PLACEHOLDER}-profile-name",
    ("aws", "regions"): ["us-east-1", f"{PLACEHOLDER}-other-region"],
    ("aws", "endpoint_url"): f"https://{PLACEHOLDER}.example",
    ("aws", "assume_role"): f"{PLACEHOLDER}-audit-role-name",
    ("aws", "accounts"): [f"{PLACEHOLDER}-111122223333"],
    ("azure", "tenant_id"): "00000000-0000-0000-0000-000000000000",
    ("azure", "subscriptions"): ["00000000-0000-0000-0000-000000000000"],
    ("azure", "management_groups"): [f"{PLACEHOLDER}-management-group"],
    ("azure", "client_id"): "00000000-0000-0000-0000-000000000000",
    ("azure", "client_certificate_path"): f"{PLACEHOLDER}-scanner-cert.pem",
    ("azure", "ca_bundle"): f"{PLACEHOLDER}-ca-bundle.pem",
    ("gcp", "organization"): "organizations/123456789012",
    ("gcp", "folders"): ["folders/123456789012"],
    ("gcp", "projects"): [f"{PLACEHOLDER.lower()}-project-id"],
    ("gcp", "impersonate_service_account"): f"{PLACEHOLDER.lower()}-scanner@admin-project.iam.gserviceaccount.com",
    ("gcp", "api_endpoints"): {},
    ("gcp", "ca_bundle"): f"{PLACEHOLDER}-ca-bundle.pem",
    ("vault", "url"): f"https://{PLACEHOLDER}.vault.example:8200",
    ("vault", "namespace"): f"{PLACEHOLDER}-namespace",
    ("vault", "ca_cert"): f"{PLACEHOLDER}-ca-bundle.pem",
    ("vault", "fault_domains"): [f"aws:region:{PLACEHOLDER}"],  # where the cluster runs
    ("declared", "file"): f"{PLACEHOLDER}-declared.toml",
    ("declared", "provider"): f"{PLACEHOLDER}-ns1",
    ("service", "name"): f"{PLACEHOLDER}-api",
    ("service", "owner"): f"{PLACEHOLDER}-team",
    ("service", "primary"): [f"{PLACEHOLDER}-id-of-a-primary-path-resource"],
    ("service", "backup"): [f"{PLACEHOLDER}-id-of-a-backup-path-resource"],
    ("credential", "identity"): f"{PLACEHOLDER}-id-of-the-identity",
    ("credential", "stored_in"): f"{PLACEHOLDER}-id-of-the-store-or-secret",
    ("credential", "expires"): "2099-12-31",
    ("fault_domain", "subject"): f"{PLACEHOLDER}-id-of-an-identity-store-or-resource",
    ("fault_domain", "labels"): [f"aws:region:{PLACEHOLDER}"],
}

#: What each section is for (the loader's own help says what each key means).
SECTIONS: Mapping[str, tuple[str, ...]] = {
    "store": ("Where the runs are kept.",),
    "correlate": ("How findings are judged (docs/severity.md).",),
    "service": (
        "A failover pair: the resource ids of its primary and backup paths. Connectors discover some",
        "(Route 53 failover records, Traffic Manager and Front Door priority routing); declare the",
        "others, and a declared one replaces a discovered one of the same name. Ids are the providers'",
        "native ids (`commonmode inventory` lists them).",
    ),
    "credential": ("A link no API reveals: where an identity's credential is kept.",),
    "fault_domain": ("Labels for what no connector sees, such as where a Vault cluster runs.",),
}


def _toml(value: Any) -> str:
    """A TOML value: JSON's string escapes are TOML basic-string escapes, and lists of strings read the same."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }" if value else "{}"
    raise TypeError(f"no TOML form for {value!r}")


def _example(section: str, key: str, option: Option) -> Any:
    """The value shown for a key: its default, else an example, else an obvious placeholder of its type."""
    if (section, key) in EXAMPLES:
        return EXAMPLES[(section, key)]
    if key == "name" and option.required:
        return f"{PLACEHOLDER}-{section}"
    if key == "fault_domains":
        return [f"{PLACEHOLDER}-kind:value"]
    if option.default is not None:
        return option.default
    if option.type == "string":
        return f"https://{PLACEHOLDER}.example" if option.url else f"{PLACEHOLDER}-{key.replace('_', '-')}"
    if option.type == "strings":
        return [f"{PLACEHOLDER}-{key.replace('_', '-')}"]
    if option.type == "integer":
        return option.minimum if option.minimum is not None else 1
    if option.type == "boolean":
        return False
    return {}


#: Width of the file's comment lines.
WIDTH = 100


def _comment(text: str) -> list[str]:
    """`text` as comment lines of at most WIDTH characters."""
    return [f"# {line}" for line in textwrap.wrap(text, WIDTH - 2, break_on_hyphens=False)]


def _type(option: Option) -> str:
    if option.url:
        return "an http:// or https:// URL"
    return option.expected


def _meaning(option: Option) -> str:
    what = option.help[:1].upper() + option.help[1:]
    facts = [_type(option)]
    if option.required:
        facts.append("required")
    elif option.default is not None:
        facts.append(f"default {_toml(option.default)}")
    else:
        facts.append("optional")
    line = f"{what} ({'; '.join(facts)})."
    if option.names_a_secret:
        line += " A name only, never the secret itself."
    return line


def _keys(section: str, options: Mapping[str, Option], *, commented: bool = False,
          values: Mapping[str, Any] | None = None) -> list[str]:
    """Each key explained, then set: required keys (and `values`) to a placeholder or the value, optional
    ones commented out with their default or an example. `commented` comments out every key."""
    out: list[str] = []
    for key, option in options.items():
        out += _comment(_meaning(option))
        value = (values or {}).get(key, _example(section, key, option))
        setting = f"{key} = {_toml(value)}"
        active = (option.required or key in (values or {})) and not commented
        out.append(setting if active else f"# {setting}")
    return out


def _connector_options(options: Mapping[str, Option]) -> dict[str, Option]:
    """`name` first, the connector's own keys, then the keys every connector takes."""
    common = dict(COMMON_OPTIONS)
    return {"name": common.pop("name"), **{k: v for k, v in options.items() if k not in common}, **common}


def _rule(title: str) -> str:
    return f"# --- {title} " + "-" * max(3, 100 - len(title) - 7)


def providers_in_order(providers: Iterable[str]) -> list[str]:
    """The providers asked, in the order their tables are written."""
    asked = set(providers)
    return [p for p in ORDER if p in asked] + sorted(asked - set(ORDER))


def starter_config(providers: set[str], registry: Registry | None = None) -> str:
    """A commented starter commonmode.toml with one table per provider asked (any installed connector type:
    aws, vault, declared, and whatever else is registered). Valid for `config.load_config` as written;
    the user replaces every CHANGE-ME value and uncomments what they need."""
    registry = registry or Registry.discover()
    tables = [(p, registry.load(p).options) for p in providers_in_order(providers)]  # unknown: UsageError
    out = [
        f"# {DEFAULT_CONFIG}: a starter config written by `commonmode init` (commonmode {__version__}).",
        f"# Replace every value containing {PLACEHOLDER}, uncomment the optional keys you need, then run:",
        f"#   commonmode scan -c {DEFAULT_CONFIG}",
        *_comment("commonmode only reads (list and get-metadata calls) and never reads a secret's value. "
                  "Secrets never go in this file: keys that need a credential take the NAME of an environment "
                  "variable or profile."),
        "",
        _rule("store"), *_comment(" ".join(SECTIONS["store"])), "[store]",
        # the loader's fallback when the key is absent (it declares no default): written out, set
        *_keys("store", SECTION_KEYS["store"], values={"path": DEFAULT_DB}),
        "",
        _rule("correlate"), *_comment(" ".join(SECTIONS["correlate"])), "[correlate]",
        *_keys("correlate", SECTION_KEYS["correlate"]),
    ]
    for provider, options in tables:
        about = ABOUT.get(provider, (f"{provider}: see this connector's README for what it reads and the "
                                     "read-only permissions it needs.",))
        out += ["", _rule(provider), *(f"# {line}" for line in about), f"[[{provider}]]",
                *_keys(provider, _connector_options(options))]
    for section in sorted(ARRAY_SECTIONS, key=["service", "credential", "fault_domain"].index):
        out += ["", _rule(section), *(f"# {line}" for line in SECTIONS[section]),
                f"# Uncomment the table and its keys, one [[{section}]] table each.", f"# [[{section}]]",
                *_keys(section, SECTION_KEYS[section], commented=True)]
    return "\n".join(out) + "\n"


__all__ = ["PLACEHOLDER", "providers_in_order", "starter_config"]
