"""The signed-in user's notification list and e-mail preferences; unsubscribe links from e-mails."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from marketplace.access import public, signed_in
from marketplace.accounts.models import User
from marketplace.extensions import csrf, db
from marketplace.notifications import services
from marketplace.notifications.messages import GROUPS

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.route("", methods=["GET"])
@signed_in
def index():  # type: ignore[no-untyped-def]
    return render_template("notifications/index.html", notifications=services.recent(current_user.id),
                           unread=services.unread_count(current_user.id))


@bp.route("/read", methods=["POST"])
@signed_in
def mark_read():  # type: ignore[no-untyped-def]
    services.mark_all_read(current_user.id)
    flash(_("All notifications are marked as read."), "info")
    return redirect(url_for("notifications.index"))


@bp.route("/preferences", methods=["GET", "POST"])
@signed_in
def preferences():  # type: ignore[no-untyped-def]
    if request.method == "POST":
        chosen = set(request.form.getlist("group"))
        unknown = chosen - set(GROUPS)
        if unknown:
            flash(_("That choice is not on the list."), "error")
            return render_template("notifications/preferences.html", groups=GROUPS,
                                   chosen=services.preferences(current_user.id)), 422
        for group in GROUPS:
            services.set_preference(current_user.id, group, group in chosen)
        flash(_("Your e-mail preferences are saved."), "success")
        return redirect(url_for("notifications.preferences"))
    return render_template("notifications/preferences.html", groups=GROUPS,
                           chosen=services.preferences(current_user.id))


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@public
@csrf.exempt  # RFC 8058 one-click unsubscribe: mail clients POST without a form; the signed token is the proof
def unsubscribe(token: str):  # type: ignore[no-untyped-def]
    try:
        found = services.read_unsubscribe_token(token)
    except services.UnsubscribeLinkExpired:
        # An old e-mail: no change through it; the person chooses after signing in (410: gone for good).
        return render_template("notifications/unsubscribe_expired.html"), 410
    if found is None:
        abort(404)
    user_id, group = found
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    if request.method == "POST":
        services.set_preference(user.id, group, False)
        return render_template("notifications/unsubscribed.html", label=GROUPS[group])
    return render_template("notifications/unsubscribe.html", label=GROUPS[group], token=token)


@bp.app_context_processor
def inject_unread() -> dict[str, object]:
    def unread() -> int:
        return services.unread_count(current_user.id) if current_user.is_authenticated else 0

    return {"unread_notifications": unread}
