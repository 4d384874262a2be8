"""The provable log's public endpoints: its index (``/passports/log``), the latest signed checkpoint, the
entries, inclusion and consistency proofs, and the log as pages for people, newest first (registered on the
passports blueprint)."""

from __future__ import annotations

from flask import Response, abort, jsonify, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from marketplace.access import public
from marketplace.extensions import db
from marketplace.passports import bundle as passport_bundle
from marketplace.passports import log as merkle_log
from marketplace.passports import log_history, services, tiles
from marketplace.passports.routes import bp
from marketplace.passports.signing import get_signer


@bp.route("/passports/log")
@public
def log():  # type: ignore[no-untyped-def]
    """What the log is and where its parts are; its size does not grow with the log."""
    base = services.base_url()
    response = jsonify(
        description="RFC 9162 Merkle log of every published passport version and every status change. "
                    "leafHash = SHA-256(0x00 || data); the latest signed checkpoint names its size and root.",
        treeSize=merkle_log.size(),
        merkle={"entries": f"{base}/passports/log/entries",
                "checkpoint": f"{base}/passports/log/checkpoint",
                "consistency": f"{base}/passports/log/consistency?first=M&second=N"},
    )
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/passports/log/checkpoint")
@public
def log_checkpoint():  # type: ignore[no-untyped-def]
    """The latest signed checkpoint: ``{checkpoint: {origin, treeSize, rootHash, timestamp}, jws}``."""
    latest = merkle_log.latest_checkpoint()
    if latest is None:
        abort(404)
    response = jsonify(merkle_log.checkpoint_document(latest))
    response.headers["Cache-Control"] = "no-cache"
    return response


IMMUTABLE = "public, max-age=31536000, immutable"


@bp.route("/passports/tlog/checkpoint")
@public
def tlog_checkpoint() -> Response:
    """The latest checkpoint as a C2SP signed note (tlog-tiles); the log's only changing file."""
    latest = merkle_log.latest_checkpoint()
    if latest is None:
        abort(404)
    note = tiles.checkpoint_note(latest, merkle_log.origin(), get_signer())
    return Response(note, mimetype="text/plain", headers={"Cache-Control": "no-cache"})


@bp.route("/passports/tlog/tile/<path:rest>")
@public
def tlog_tile(rest: str) -> Response:
    """A hash tile or an entry bundle (C2SP tlog-tiles, height 8), up to the latest checkpoint; immutable."""
    parsed = tiles.parse_tile_path(rest)
    latest = merkle_log.latest_checkpoint()
    if parsed is None or latest is None:
        abort(404)
    level, index, width = parsed
    if level == "entries":
        data = tiles.entry_bundle(index, width, latest.tree_size)
    else:
        data = tiles.tile(int(level), index, width, latest.tree_size)
    if data is None:
        abort(404)
    return Response(data, mimetype="application/octet-stream", headers={"Cache-Control": IMMUTABLE})


@bp.route("/passports/log/entries")
@public
def log_entries():  # type: ignore[no-untyped-def]
    """One page of Merkle log entries (``?start=I&limit=N``, at most 1,000): each entry's index, the exact
    bytes hashed (``data``) and its leaf hash, and the next page's URL while there is one."""
    start = _size_arg("start") if "start" in request.args else 0
    limit = _size_arg("limit") if "limit" in request.args else merkle_log.PAGE_MAX
    if not 1 <= limit <= merkle_log.PAGE_MAX:
        abort(400, description=_("limit must be between 1 and %(most)s.", most=merkle_log.PAGE_MAX))
    rows = merkle_log.page(start, limit)
    size = merkle_log.size()
    following = start + len(rows)
    response = jsonify(
        description="RFC 9162 Merkle log of published passport versions and status changes. "
                    "leafHash = SHA-256(0x00 || data), data as UTF-8.",
        treeSize=size, start=start,
        next=url_for("passports.log_entries", start=following, limit=limit, _external=True)
        if rows and following < size else None,
        entries=[{"index": leaf.index, "data": leaf.data, "leafHash": leaf.leaf_hash} for leaf in rows],
    )
    # A full page never changes (entries are immutable); the last one grows.
    response.headers["Cache-Control"] = ("public, max-age=31536000, immutable" if len(rows) == limit
                                         else "no-cache")
    return response


def _size_arg(name: str) -> int:
    value = request.args.get(name, "")
    if not value.isdigit() or len(value) > 12:
        abort(400, description=_("%(name)s must be a tree size (a whole number).", name=name))
    return int(value)


@bp.route("/passports/log/consistency")
@public
def log_consistency():  # type: ignore[no-untyped-def]
    """RFC 9162 consistency proof between two tree sizes (``?first=M&second=N``)."""
    first, second = _size_arg("first"), _size_arg("second")
    try:
        return jsonify(merkle_log.consistency(first, second))
    except merkle_log.ProofError as error:
        abort(400, description=_("The log has %(size)s entries: ask for sizes with 0 ≤ first ≤ second ≤ %(size)s.",
                                 size=error.size))
    return None


@bp.route("/passports/<public_id>/versions/<int:number>/inclusion")
@public
def version_inclusion(public_id: str, number: int) -> Response:
    """The version's log entry and its audit path to the latest checkpoint."""
    passport = services.get_passport(public_id)
    version = next((v for v in passport.versions if v.number == number), None) if passport else None
    if version is None:
        abort(404)
    try:
        return jsonify(merkle_log.inclusion(version))
    except merkle_log.ProofError:
        db.session.rollback()
        abort(404)
    raise AssertionError("unreachable")


@bp.route("/passports/<public_id>/bundle")
@public
def bundle(public_id: str) -> Response:
    """The passport's offline bundle (a zip; ``verifier/`` checks it without a network)."""
    passport = services.get_passport(public_id)
    if passport is None or passport.current is None:
        abort(404)
    try:
        name, data = passport_bundle.build(passport)
    except passport_bundle.BundleError:
        abort(503)
    return Response(data, mimetype="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-cache"})


@bp.route("/passports/log/history")
@public
def log_history_page() -> Response:
    """The log for people: one page of entries, newest first (``?page=N``, 1 is the newest)."""
    raw = request.args.get("page", "1")
    size = merkle_log.size()
    pages = log_history.page_count(size)
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 9 else 0  # "²" is a digit to isdigit
    if not 1 <= number <= pages:
        abort(404, description=_("The passport log has no such page. Its pages are numbered 1 to %(pages)s.",
                                 pages=pages))
    entries = log_history.entries(size, number, str(get_locale()))
    response = Response(render_template("passports/log_history.html", entries=entries, page=number, pages=pages,
                                        size=size, per_page=log_history.PER_PAGE))
    response.headers["Cache-Control"] = "no-cache"  # page 1 changes with every entry appended
    return response
