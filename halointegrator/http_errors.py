"""What went wrong with an HTTP answer or connection, in words for the user.

Server text is redacted whole before it is shortened (``redaction.shorten``): a message cut first would
keep the first characters of a secret or token the server echoed.
"""

from __future__ import annotations

import json
import ssl
from typing import Any, Callable

import requests

from halointegrator.redaction import redact, shorten

DETAIL_LIMIT = 300

# OpenSSL's X509_V_ERR_* codes for the certificate problems a user can tell apart.
CERT_EXPIRED, CERT_NOT_YET_VALID, HOSTNAME_MISMATCH, IP_MISMATCH = 10, 9, 62, 64
SELF_SIGNED_LEAF, SELF_SIGNED_IN_CHAIN, NO_LOCAL_ISSUER, NO_ISSUER = 18, 19, 20, 2


def describe_response_error(response: requests.Response, host: str, *, service: str = "Halo",
                            clean: Callable[[str], str] = redact) -> str:
    """A user-facing sentence for an answer that is an error or not the JSON that was expected.

    ``clean`` (besides the shared redaction) masks what only the caller knows, before anything is cut."""
    status = response.status_code
    body = response.text or ""
    stripped = body.lstrip()
    content_type = response.headers.get("Content-Type", "").lower()
    if "html" in content_type or stripped[:1] == "<":
        return (
            f"{service} at {host} answered with an HTML page instead of JSON (HTTP {status}); a proxy or "
            f"firewall may be intercepting the request. Check the proxy setting in the Configuration tab "
            f"and that the address is {service}'s."
        )
    detail = ""
    if stripped:
        try:
            detail = error_detail(json.loads(stripped))
        except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
            if "json" in content_type or stripped[:1] in "{[":
                return (
                    f"{service} at {host} answered with incomplete JSON (HTTP {status}, {len(body)} characters); "
                    "the connection may have been cut by a proxy or the server. Try again; if it persists, "
                    "check the proxy setting in the Configuration tab."
                )
            detail = " ".join(stripped.split())
    detail = shorten(clean(detail).strip(), DETAIL_LIMIT).rstrip(".")
    return _status_sentence(service, host, status, response.reason or "", detail)


def _status_sentence(service: str, host: str, status: int, reason: str, detail: str) -> str:
    head = f"{service} at {host} answered HTTP {status}{(' ' + reason) if reason else ''}"
    if 200 <= status < 300:
        return f"{service} at {host} answered HTTP {status} with something that is not JSON: {detail or '(empty)'}"
    hint = {
        403: " The agent the Integrator logs in as lacks a permission for this; check its role in Halo.",
        404: " The address may be wrong: check the Web App URL and API URL settings.",
    }.get(status, "")
    return f"{head}: {detail}.{hint}" if detail else f"{head}.{hint}"


def error_detail(data: Any) -> str:
    """The message inside one of the error bodies Halo, its OAuth server or Graph send."""
    if isinstance(data, str):
        return data
    if isinstance(data, list):
        return "; ".join(filter(None, (error_detail(item) for item in data[:5])))
    if not isinstance(data, dict):
        return ""
    fields = {str(key).lower(): value for key, value in data.items()}
    error = fields.get("error")
    if isinstance(error, dict):  # Microsoft Graph: {"error": {"code": ..., "message": ...}}
        return ": ".join(str(error[key]) for key in ("code", "message") if error.get(key))
    for message_key in ("errormessage", "error_description", "message", "detail", "title"):
        message = fields.get(message_key)
        if message:
            prefix = error or fields.get("classname")
            return f"{prefix}: {message}" if prefix and str(prefix) not in str(message) else str(message)
    if error:
        return str(error)
    return _model_state(fields.get("errors", data))


def _model_state(errors: Any) -> str:
    """ASP.NET validation answers: {"[0].site_id": ["The field is required."], ...}."""
    if not isinstance(errors, dict):
        return ""
    parts = []
    for field_name, messages in list(errors.items())[:5]:
        if isinstance(messages, list):
            messages = " ".join(str(message) for message in messages)
        parts.append(f"{field_name}: {messages}")
    return "; ".join(parts)


# ---- certificates -------------------------------------------------------------------------------------

def certificate_failure(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification error inside ``error``, if that is what it is."""
    seen, pending = set(), [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        for nested in (getattr(current, "reason", None), current.__cause__, current.__context__, *current.args):
            if isinstance(nested, BaseException):
                pending.append(nested)
    return None


def explain_certificate(error: BaseException, host: str, *, service: str, ca_bundle: str = "",
                        setting: str = "the CA bundle setting in the Configuration tab") -> str:
    """What a failed TLS verification means for ``host``, and what to change."""
    failure = certificate_failure(error)
    code = getattr(failure, "verify_code", None)
    name = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 or host.startswith("[") else host
    reason = getattr(failure, "verify_message", "") or "verification failed"
    if code in (HOSTNAME_MISMATCH, IP_MISMATCH):
        return (f"{service} at {host} presented a TLS certificate that does not name {name} ({reason}): the address "
                f"may be wrong, or something in between (a proxy, a DNS entry) answers in its place. Use the address "
                f"the certificate was issued for, or have the certificate reissued with {name} in it.")
    if code in (CERT_EXPIRED, CERT_NOT_YET_VALID):
        when = "has expired" if code == CERT_EXPIRED else "is not valid yet"
        return (f"{service} at {host} presented a TLS certificate that {when} ({reason}). Have it renewed on the "
                f"server; if it looks valid there, check this computer's date and time.")
    which = f"the CA bundle file {ca_bundle} does not" if ca_bundle else "no CA bundle is set, and the default trust does not"
    return (f"{service} at {host} presented a TLS certificate that cannot be verified ({reason}): {which} include "
            f"the authority that issued it. Set {setting} to your CA's certificate file (PEM or DER); a "
            f"TLS-inspecting proxy needs its own CA there.")
