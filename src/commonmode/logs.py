"""Logging: `-v` is commonmode's own debug log; the SDKs' wire logs stay off unless `--debug-sdk`, and even
then every credential is redacted before a line reaches stderr (README, "Security model")."""

from __future__ import annotations

import logging
import re
import sys

#: Loggers that are commonmode's own: the core and the built-in connectors.
OWN = ("commonmode", "commonmode_aws", "commonmode_vault", "commonmode_declared")
#: The SDKs' loggers, which log requests, headers and bodies at DEBUG.
SDK = ("botocore", "boto3", "urllib3", "requests", "hvac", "azure", "google", "msal", "werkzeug")

REDACTED = "[redacted]"
_PATTERNS = [
    # HTTP headers that carry a credential, as the SDKs print them ('Authorization': b'AWS4-…', or key: value)
    re.compile(r"""(?i)(['"]?(?:authorization|x-amz-security-token|x-vault-token|x-amz-credential|cookie|"""
               r"""x-vault-wrap-token|proxy-authorization)['"]?\s*[:=]\s*b?['"]?)([^'",}\s][^'",}]*)"""),
    # fields of STS and token responses (XML <SessionToken>…, JSON "client_token": "…") and signed URLs
    re.compile(r"""(?i)((?:<|['"])?(?<![\w-])(?:secretaccesskey|sessiontoken|securitytoken|client_token|token|secret_id|"""
               r"""secret|password|x-amz-signature|signature)(?:>|['"]?\s*[:=]\s*['"]?))([^'"<&,}\s]+)"""),
]


_KNOWN: set[str] = set()


def register_secret(value: str | None) -> None:
    """A value that must never reach a log line as it is (a token a connector read, a config value in a key
    that names a secret, which may hold one pasted by mistake)."""
    if value and len(value) >= 4:
        _KNOWN.add(value)


def redact(text: str) -> str:
    """`text` with every registered secret and every credential-looking value replaced by [redacted]."""
    for value in sorted(_KNOWN, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Formats each record once, redacted, so that no argument carries a credential past the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        return True


def configure(verbose: bool = False, debug_sdk: bool = False) -> None:
    """stderr logging: warnings; with `verbose`, commonmode's debug log; with `debug_sdk`, the SDKs' too."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    for name in OWN:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose or debug_sdk else logging.NOTSET)
    for name in SDK:
        logging.getLogger(name).setLevel(logging.DEBUG if debug_sdk else logging.ERROR)


def debugging() -> bool:
    """Whether commonmode's own debug log is on (then errors show their traceback)."""
    return logging.getLogger("commonmode").isEnabledFor(logging.DEBUG)
