# The read-only policy commonmode's Vault connector needs. It reads metadata only: no KV data, no
# PKI issue/sign, no secret-engine creds, no tokens.
#
# Mount names are matched with `+` (one path segment); LIST requests end in "/", hence the trailing slashes. On a cluster with KV v1 mounts, a KV v1 key named
# like roles/<x>, metadata/<x> or issuer/<x> would become readable through these rules: there, replace
# `+` with your PKI, KV v2 and secret-engine mount names.

# The first authenticated call: which capabilities the scanner's own token has (it says whether the token
# is accepted at all; the default policy grants it too). Without it the connector falls back to sys/auth.
path "sys/capabilities-self" { capabilities = ["update"] }
path "sys/auth" { capabilities = ["read"] }
path "sys/mounts" { capabilities = ["read"] }
path "sys/policies/acl" { capabilities = ["list"] }
path "sys/policies/acl/*" { capabilities = ["read"] }

# Auth methods' roles (approle, kubernetes, jwt/oidc, aws, azure, gcp), users (userpass), certs (cert)
path "auth/+/role/" { capabilities = ["list"] }
path "auth/+/role/+" { capabilities = ["read"] }
path "auth/+/users/" { capabilities = ["list"] }
path "auth/+/users/+" { capabilities = ["read"] }
path "auth/+/certs/" { capabilities = ["list"] }
path "auth/+/certs/+" { capabilities = ["read"] }
# jwt/oidc mounts' config: which issuer (GitHub Actions, a cluster) their roles' bound claims refer to. The
# connector reads it on jwt and oidc mounts only (the guard refuses `config` on every other auth method).
path "auth/+/config" { capabilities = ["read"] }
# AppRole secret-id metadata (accessor lookups; never the secret-id itself)
path "auth/+/role/+/secret-id/" { capabilities = ["list"] }
path "auth/+/role/+/secret-id-accessor/lookup" { capabilities = ["update"] }
# AppRole role_id: an identifier, not the secret half of a login (that is the secret-id). An AppRole
# login's entity alias is named by it, so the connector reads it to find the entity (owner, entity and
# group policies) behind the role; it is kept in memory only, never stored or logged. Drop this rule and
# set `read_role_ids = false` to do without (owners then come from secret-id metadata only).
path "auth/+/role/+/role-id" { capabilities = ["read"] }

# Identity
path "identity/entity/id" { capabilities = ["list"] }
path "identity/entity/id/*" { capabilities = ["read"] }
path "identity/group/id" { capabilities = ["list"] }
path "identity/group/id/*" { capabilities = ["read"] }

# Token accessors (root-protected: needs sudo); lookups by accessor return metadata, never the token
path "auth/token/accessors" { capabilities = ["list", "sudo"] }
path "auth/token/lookup-accessor" { capabilities = ["update"] }

# Key names in every mount (KV v1 included): LIST returns names only
path "+/*" { capabilities = ["list"] }

# KV v2 metadata and custom_metadata (never data/)
path "+/metadata/*" { capabilities = ["list", "read"] }

# PKI roles and issuers; aws/azure/database roles; gcp rolesets and accounts
path "+/roles/" { capabilities = ["list"] }
path "+/roles/+" { capabilities = ["read"] }
path "+/issuers/" { capabilities = ["list"] }
path "+/issuer/+" { capabilities = ["read"] }
# which issuer a PKI role's issuer_ref "default" means (the issuer's id, no key material)
path "+/config/issuers" { capabilities = ["read"] }
path "+/static-roles/" { capabilities = ["list"] }
path "+/static-roles/+" { capabilities = ["read"] }
path "+/rolesets/" { capabilities = ["list"] }
path "+/roleset/+" { capabilities = ["read"] }
path "+/static-accounts/" { capabilities = ["list"] }
path "+/static-account/+" { capabilities = ["read"] }
path "+/impersonated-accounts/" { capabilities = ["list"] }
path "+/impersonated-account/+" { capabilities = ["read"] }
