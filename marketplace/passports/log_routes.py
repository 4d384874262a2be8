"""The provable log's public endpoints: the latest signed checkpoint, the entries, inclusion and
consistency proofs (registered on the passports blueprint)."""

from __future__ import annotations

from flask import Response, abort, jsonify, request
from flask_babel import gettext as _

from marketplace.access import public
from marketplace.extensions import db
from marketplace.passports import bundle as passport_bundle
from marketplace.passports import log as merkle_log
from marketplace.passports import services
from marketplace.passports.routes import bp


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


@bp.route("/passports/log/entries")
@public
def log_entries():  # type: ignore[no-untyped-def]
    """Every Merkle log entry: its index, the exact bytes hashed (``data``) and its leaf hash."""
    return jsonify(
        description="RFC 9162 Merkle log of published passport versions and status changes. "
                    "leafHash = SHA-256(0x00 || data), data as UTF-8.",
        entries=[{"index": leaf.index, "data": leaf.data, "leafHash": leaf.leaf_hash}
                 for leaf in merkle_log.leaves()],
    )


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
