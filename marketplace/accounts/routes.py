from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from marketplace.access import public, signed_in
from marketplace.accounts import services
from marketplace.accounts.forms import SignInForm, SignUpForm
from marketplace.accounts.models import Role, User
from marketplace.extensions import db, limiter, login_manager
from marketplace.guards import as_id

bp = Blueprint("accounts", __name__)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    number = as_id(user_id)
    return db.session.get(User, number) if number is not None else None


def _safe_next(target: str | None) -> str:
    """Only redirect to a path on this site."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("dashboard.index")


def _signin_limit() -> str:
    return current_app.config["SIGNIN_RATE_LIMIT"]


@bp.route("/signin", methods=["GET", "POST"])
@limiter.limit(_signin_limit, methods=["POST"])
@public
def signin():  # type: ignore[no-untyped-def]
    form = SignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        user = services.authenticate(form.email.data or "", form.password.data or "")
        if user is not None:
            login_user(user, remember=bool(form.remember.data))
            flash(_("Welcome back, %(name)s.", name=user.name), "success")
            return redirect(_safe_next(form.next.data))
        form.password.errors = [_("That e-mail and password do not match an account.")]
    status = 422 if form.is_submitted() else 200
    return render_template("accounts/signin.html", form=form), status


@bp.route("/signup", methods=["GET", "POST"])
@public
def signup():  # type: ignore[no-untyped-def]
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            user = services.sign_up(
                email=form.email.data or "",
                name=form.name.data or "",
                password=form.password.data or "",
                organisation_name=form.organisation.data or "",
                role=Role(form.account_type.data),
                country=form.country.data or "MN",
            )
        except services.EmailTakenError:
            form.email.errors = [_("An account with this e-mail already exists. Sign in instead.")]
        else:
            login_user(user)
            flash(_("Your account is ready."), "success")
            return redirect(url_for("dashboard.index"))
    status = 422 if form.is_submitted() else 200
    return render_template("accounts/signup.html", form=form), status


@bp.route("/signout", methods=["POST"])
@signed_in
def signout():  # type: ignore[no-untyped-def]
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("pages.home"))


@bp.app_context_processor
def inject_user() -> dict[str, object]:
    return {"current_user": current_user}
