"""The passport's status, read from the signed status list snapshots the bundle carries."""

from __future__ import annotations

import datetime as dt
import gzip
from typing import TYPE_CHECKING, Any

from passport_verify.encoding import b64url

if TYPE_CHECKING:
    from passport_verify.core import _Bundle


def parse_time(value: Any) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def entries_of(credential: Any) -> list[Any]:
    entries = credential.get("credentialStatus", []) if isinstance(credential, dict) else []
    return entries if isinstance(entries, list) else [entries]


def status_entries(bundle: _Bundle, credential: Any) -> list[Any]:
    """The passport's status entries: those of its signed credential, and of the signed other form of the
    same version when the bundle holds one (UNTP 0.6.1, which also names the suspension list)."""
    entries = entries_of(credential)
    other = "passport/credential-0.6.1.jwt"
    if other in bundle.names:
        issuer = credential.get("issuer")
        issuer = issuer.get("id") if isinstance(issuer, dict) else issuer
        signed = bundle.jws(other, issuer=issuer if isinstance(issuer, str) else None)
        if signed is not None and signed[0].get("id") != credential.get("id"):
            bundle.report.fail(other, "is not a form of the same passport version")
        elif signed is not None:
            seen = {(e.get("statusListCredential"), str(e.get("statusListIndex"))) for e in entries
                    if isinstance(e, dict)}
            entries += [e for e in entries_of(signed[0]) if isinstance(e, dict) and
                        (e.get("statusListCredential"), str(e.get("statusListIndex"))) not in seen]
    return entries


def check_status(bundle: _Bundle, manifest: dict[str, Any], entries: list[Any], now: dt.datetime,
                  max_age_hours: float) -> None:
    report = bundle.report
    snapshots = manifest.get("statusLists") or {}
    flags: set[str] = set()
    stale: list[dt.datetime] = []
    for entry in entries:
        url = entry.get("statusListCredential") if isinstance(entry, dict) else None
        snapshot = snapshots.get(url) if isinstance(url, str) else None
        if not isinstance(snapshot, dict):
            report.fail(str(url), "the status list the passport points at is missing from the bundle")
            continue
        member = str(snapshot.get("member"))
        signed = bundle.jws(member)
        fetched_at = parse_time(snapshot.get("fetchedAt"))
        if signed is None:
            continue
        status_list = signed[0]
        if status_list.get("id") != url:
            report.fail(member, f"is the status list {status_list.get('id')}, not {url}")
            continue
        try:
            encoded = str(status_list["credentialSubject"]["encodedList"])
            bits = gzip.decompress(b64url(encoded.removeprefix("u")))
            index = int(entry["statusListIndex"])
            is_set = bool(bits[index // 8] & (0x80 >> (index % 8)))
        except (KeyError, TypeError, ValueError, IndexError, OSError):
            report.fail(member, "its list cannot be read at the passport's index")
            continue
        valid_until = parse_time(status_list.get("validUntil")) if status_list.get("validUntil") else None
        if fetched_at is None or now - fetched_at > dt.timedelta(hours=max_age_hours) or (
                valid_until is not None and now > valid_until):
            stale.append(fetched_at or now)
        if is_set:
            flags.add(str(entry.get("statusPurpose", "flagged")))
    if "revocation" in flags:
        report.status = "revoked"
    elif stale:
        report.status = f"status unknown since {min(stale).isoformat()}"
    elif flags:
        report.status = " and ".join(sorted(flags)).replace("suspension", "suspended")
    else:
        report.status = "valid"
