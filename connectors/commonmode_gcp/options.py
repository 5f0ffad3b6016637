"""The `[[gcp]]` config keys this connector takes (issue 16's list, exactly): each default written here once,
read by the Connector class, the client and the build alike. `name`, `fault_domains`, `timeout` and
`deadline` are every connector's keys (commonmode.config)."""

from __future__ import annotations

from typing import Final

from commonmode.connector import Option

#: The APIs `api_endpoints` may point elsewhere, and Google's own endpoint of each: `iam` is the gRPC target
#: (host:port) of the IAM admin and IAM v2 services; the others are REST root URLs, to which the API's own
#: paths (`/v3/…`, `/dns/v1/…`) are appended. IAM's workload identity pools are REST too, on the `iam` host.
DEFAULT_ENDPOINTS: Final[dict[str, str]] = {
    "iam": "iam.googleapis.com:443",
    "iamcredentials": "https://iamcredentials.googleapis.com",
    "cloudresourcemanager": "https://cloudresourcemanager.googleapis.com",
    "dns": "https://dns.googleapis.com",
    "secretmanager": "https://secretmanager.googleapis.com",
    "certificatemanager": "https://certificatemanager.googleapis.com",
    "cloudidentity": "https://cloudidentity.googleapis.com",  # who is in a group that holds a role
}
#: The REST root of IAM's workload identity pools when `iam` is Google's own gRPC target.
IAM_REST_DEFAULT: Final = "https://iam.googleapis.com"

#: `[[gcp]]` keys; each default is written here once (the build reads them from here too).
OPTIONS: dict[str, Option] = {
    "organization": Option(type="string", help="the organization to scan (organizations/NUMBER): every folder "
                                               "and project under it"),
    "folders": Option(type="strings", help="folders to scan (folders/NUMBER): every folder and project under each"),
    "projects": Option(type="strings", help="project ids to scan [default, with no organization or folders: "
                                            "every project the credentials can find]"),
    "impersonate_service_account": Option(type="string", help="service account email the scanner acts as "
                                                              "(iamcredentials generateAccessToken from the ADC "
                                                              "credentials)"),
    "api_endpoints": Option(type="table", help="private or test endpoints, each optional: "
                                               + ", ".join(DEFAULT_ENDPOINTS) + " (iam: host:port for gRPC; the "
                                               "others root URLs)", default={}),
    "ca_bundle": Option(type="string", help="PEM file trusted for every endpoint, REST and gRPC, relative to the "
                                            "config; wins over REQUESTS_CA_BUNDLE"),
    "owner_labels": Option(type="strings", help="label keys that name an owner, first match wins; for service "
                                                "accounts (which have no labels) `KEY: value` or `KEY=value` in "
                                                "the description", default=["owner", "team"]),
}
