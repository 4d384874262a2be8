"""The static mirror (issue 19, point 6): ``flask passports export DIR`` writes every passport as files any
web server or CDN can serve unchanged.

Every file is the exact response of the site's own route, fetched as an anonymous visitor, so the mirror
says what the site says. Layout (paths relative to DIR):

- ``passports/<id>/index.html`` and ``passports/<id>/<lang>.html``: the page in each of the six languages;
- ``passports/<id>.json`` (UNTP 0.7.0 JSON-LD), ``passports/<id>.jwt`` (signed), ``passports/<id>/versions/<n>.json``
  and ``…/versions/<n>.inclusion.json`` (its log entry and inclusion proof), ``passports/<id>/qr.svg``,
  ``qr.png`` and ``bundle.zip`` (the offline bundle);
- every credential a passport links to, at its own path (``certificates/…``, ``events/steps/…``);
- ``passports/status/<purpose>`` (JSON) and ``<purpose>.jwt`` (signed): the status lists;
- ``passports/log.json``, ``passports/log/entries.json``, ``passports/log/checkpoint.json``: the log;
- ``passports/tlog/checkpoint`` and ``passports/tlog/tile/…``: the log as C2SP tlog-tiles;
- ``.well-known/did.json`` and every issuer's did:web document; ``contexts/…``; ``static/…`` (the pages' CSS);
- ``export.json``: what was exported, when, and the SHA-256 of every file.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path, PurePosixPath

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marketplace.db import utcnow
from marketplace.extensions import db
from marketplace.passports import bundle as passport_bundle
from marketplace.passports import log as merkle_log
from marketplace.passports import tiles
from marketplace.passports.models import Passport
from marketplace.urls import public_base_url

VCJWT = "application/vc+jwt"


class ExportError(RuntimeError):
    """A page or document could not be fetched, or would be written outside the target folder."""


@dataclass
class _Mirror:
    target: Path
    base: str
    files: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.client = current_app.test_client()
        self.root = self.target.resolve()

    def get(self, path: str, accept: str | None = None, language: str | None = None) -> bytes:
        headers = {k: v for k, v in (("Accept", accept), ("Accept-Language", language)) if v}
        # A fresh application context per request: a request pushed inside the current one would share
        # its ``g`` (the locale Flask-Babel chose for the first page, the signed-in user) and its session.
        with current_app.app_context():
            response = self.client.get(path, base_url=self.base, headers=headers)
        if response.status_code != 200:
            raise ExportError(f"{path} answered {response.status_code}")
        return response.get_data()

    def write(self, relative: str, data: bytes) -> None:
        parts = PurePosixPath(relative).parts
        if not parts or relative.startswith("/") or ".." in parts:
            raise ExportError(f"{relative!r} is not a path inside the mirror")
        destination = (self.root / relative).resolve()
        if not destination.is_relative_to(self.root):
            raise ExportError(f"{relative!r} is not a path inside the mirror")
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(data)
        self.files[relative] = hashlib.sha256(data).hexdigest()

    def mirror_url(self, url: str, accept: str | None = None, suffix: str = "") -> None:
        """Copy a document of this site to the file at its own path (once)."""
        if not url.startswith(self.base + "/"):
            return
        path = url.removeprefix(self.base).split("#", 1)[0].split("?", 1)[0]
        if path.lstrip("/") + suffix not in self.files:
            self.write(path.lstrip("/") + suffix, self.get(path, accept))


def export(target: Path, progress: Callable[[int, int], None] | None = None) -> dict[str, int]:
    """Write the mirror into ``target``; returns counts (passports, files)."""
    mirror = _Mirror(target, public_base_url())
    locales = list(current_app.config["LOCALES"])
    passports = [p for p in db.session.scalars(select(Passport).order_by(Passport.id)
                                                .options(selectinload(Passport.versions))) if p.current]
    for done, passport in enumerate(passports, start=1):
        _export_passport(mirror, passport, locales)
        if progress:
            progress(done, len(passports))
    for purpose in ("revocation", "suspension"):
        mirror.mirror_url(f"{mirror.base}/passports/status/{purpose}", "application/json")
        mirror.mirror_url(f"{mirror.base}/passports/status/{purpose}", VCJWT, ".jwt")
    mirror.write("passports/log.json", mirror.get("/passports/log"))
    mirror.write("passports/log/entries.json", mirror.get("/passports/log/entries"))
    mirror.write("passports/log/checkpoint.json", mirror.get("/passports/log/checkpoint"))
    latest = merkle_log.latest_checkpoint()
    if latest is not None:  # the tlog-tiles copy, byte for byte (tiles never change; the checkpoint does)
        mirror.write("passports/tlog/checkpoint", mirror.get("/passports/tlog/checkpoint"))
        for path in tiles.paths(latest.tree_size):
            mirror.write(f"passports/tlog/{path}", mirror.get(f"/passports/tlog/{path}"))
    mirror.mirror_url(f"{mirror.base}/.well-known/did.json")
    for version in (1, 2):
        mirror.mirror_url(f"{mirror.base}/contexts/cashmere/v{version}.jsonld")
    static = Path(current_app.static_folder or "")
    for path in sorted(static.rglob("*")) if static.is_dir() else []:
        if path.is_file():
            mirror.write("static/" + path.relative_to(static).as_posix(), path.read_bytes())
    index = {"exportedAt": utcnow().replace(microsecond=0).isoformat(), "origin": mirror.base,
             "passports": [p.public_id for p in passports], "files": dict(sorted(mirror.files.items()))}
    mirror.write("export.json", json.dumps(index, indent=2).encode())
    return {"passports": len(passports), "files": len(mirror.files)}


def _export_passport(mirror: _Mirror, passport: Passport, locales: list[str]) -> None:
    public_id = passport.public_id
    page = f"/passports/{public_id}"
    for locale in locales:
        html = mirror.get(page, "text/html", locale)
        mirror.write(f"passports/{public_id}/{locale}.html", html)
        if locale == current_app.config["BABEL_DEFAULT_LOCALE"]:
            mirror.write(f"passports/{public_id}/index.html", html)
    mirror.write(f"passports/{public_id}.json", mirror.get(f"{page}.json"))
    mirror.write(f"passports/{public_id}.jwt", mirror.get(f"{page}.jwt"))
    for version in passport.versions:
        mirror.write(f"passports/{public_id}/versions/{version.number}.json",
                     mirror.get(f"{page}/versions/{version.number}"))
        try:
            inclusion = mirror.get(f"{page}/versions/{version.number}/inclusion")
        except ExportError:  # not yet under a signed checkpoint
            continue
        mirror.write(f"passports/{public_id}/versions/{version.number}.inclusion.json", inclusion)
    mirror.write(f"passports/{public_id}/qr.svg", mirror.get(f"{page}/qr.svg"))
    mirror.write(f"passports/{public_id}/qr.png", mirror.get(f"{page}/qr.png"))
    _name, data = passport_bundle.build(passport)
    mirror.write(f"passports/{public_id}/bundle.zip", data)
    with zipfile.ZipFile(BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
    for link in manifest["links"]:
        mirror.mirror_url(link["url"])
    for did in manifest["dids"]:
        path = passport_bundle.did_web_path(did)
        if path:
            mirror.mirror_url(mirror.base + path)


def clear(target: Path) -> None:
    """Empty a previous export (only a folder holding an export.json, never any other folder)."""
    if (target / "export.json").is_file():
        shutil.rmtree(target)
