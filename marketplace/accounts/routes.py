from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user, user_loaded_from_cookie

from marketplace.access import public, roles, signed_in
from marketplace.accounts import services, sessions
from marketplace.accounts.forms import ChangePasswordForm, EmailForm, NewPasswordForm, SignInForm, SignUpForm
from marketplace.accounts.models import Role, User
from marketplace.extensions import db, limiter, login_manager
from marketplace.organisations import services as organisations
from marketplace.organisations.models import Organisation, OrgKind
from marketplace.organisations.services import RegistrationNumberError

bp = Blueprint("accounts", __name__)


@login_manager.user_loader
def load_user(token: str) -> User | None:
    return sessions.load(token)


user_loaded_from_cookie.connect(sessions.rotate)


def _safe_next(target: str | None) -> str:
    """Only redirect to a path on this site."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//"):
            return target
    return url_for("dashboard.index")


def _signin_limit() -> str:
    return current_app.config["SIGNIN_RATE_LIMIT"]


def _account_limit() -> str:
    return current_app.config["ACCOUNT_RATE_LIMIT"]


def _address_key() -> str:
    """Rate-limit key for the address a form names: one inbox cannot be flooded from many clients."""
    return "address:" + services.normalise_email(request.form.get("email", ""))[:254]


def _weak_password_message(error: services.WeakPasswordError) -> str:
    if str(error) == "short":
        return _("Use at least 12 characters.")
    return _("This password is too easy to guess: it is common, or close to your name or address. "
             "Try a longer phrase of unrelated words.")


def sign_in_user(user: User, *, remember: bool) -> None:
    """Start a server-side session and give the browser its cookie (the only way anyone signs in)."""
    sessions.start(user, remember=remember)
    login_user(user, remember=remember)
    if not user.locale:
        user.locale = str(get_locale())


@bp.route("/signin", methods=["GET", "POST"])
@limiter.limit(_signin_limit, methods=["POST"])
@public
def signin():  # type: ignore[no-untyped-def]
    form = SignInForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data or "", form.password.data or "")
        except services.UnconfirmedEmailError:
            form.email.errors = [_("Confirm your e-mail address first: follow the link we sent you. "
                                   "Lost it? Ask for a new one below.")]
            return render_template("accounts/signin.html", form=form, unconfirmed=True), 422
        if user is not None:
            sign_in_user(user, remember=bool(form.remember.data))
            flash(_("Welcome back, %(name)s.", name=user.name), "success")
            return redirect(_safe_next(form.next.data))
        form.password.errors = [_("That e-mail and password do not match an account.")]
    status = 422 if form.is_submitted() else 200
    return render_template("accounts/signin.html", form=form), status


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(_account_limit, methods=["POST"])
@public
def signup():  # type: ignore[no-untyped-def]
    form = SignUpForm()
    if form.validate_on_submit():
        try:
            services.sign_up(
                email=form.email.data or "",
                name=form.name.data or "",
                password=form.password.data or "",
                organisation_name=form.organisation.data or "",
                role=Role(form.account_type.data),
                country=form.country.data or "MN",
                registration_number=form.registration_number.data or "",
                locale=str(get_locale()),
            )
        except services.WeakPasswordError as error:
            form.password.errors = [_weak_password_message(error)]
        except RegistrationNumberError:
            form.registration_number.errors = [
                _("This number does not have the right format or check digit for the country chosen.")]
        else:
            # The same page whether or not the address already had an account (told by e-mail).
            return render_template("accounts/check_email.html", email=form.email.data)
    status = 422 if form.is_submitted() else 200
    return render_template("accounts/signup.html", form=form), status


@bp.route("/verify/<token>", methods=["GET"])
@public
def verify_email(token: str):  # type: ignore[no-untyped-def]
    try:
        services.confirm_email(token)
    except services.TokenError:
        return render_template("accounts/bad_link.html", resend=True), 400
    flash(_("Your e-mail address is confirmed. You can sign in."), "success")
    return redirect(url_for("accounts.signin"))


@bp.route("/verify", methods=["GET", "POST"])
@limiter.limit(_account_limit, methods=["POST"])
@limiter.limit(_account_limit, methods=["POST"], key_func=_address_key)
@public
def resend_confirmation():  # type: ignore[no-untyped-def]
    form = EmailForm()
    if form.validate_on_submit():
        services.resend_confirmation(form.email.data or "")
        return render_template("accounts/check_email.html", email=form.email.data)
    status = 422 if form.is_submitted() else 200
    return render_template("accounts/resend.html", form=form), status


@bp.route("/password/reset", methods=["GET", "POST"])
@limiter.limit(_account_limit, methods=["POST"])
@limiter.limit(_account_limit, methods=["POST"], key_func=_address_key)
@public
def password_reset():  # type: ignore[no-untyped-def]
    form = EmailForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data or "")
        # The same answer for every address, known or not.
        return render_template("accounts/check_email.html", email=form.email.data, reset=True)
    status = 422 if form.is_submitted() else 200
    return render_template("accounts/reset_request.html", form=form), status


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_signin_limit, methods=["POST"])
@public
def password_reset_confirm(token: str):  # type: ignore[no-untyped-def]
    try:
        user = services.user_for_reset(token)
    except services.TokenError:
        return render_template("accounts/bad_link.html"), 400
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            services.set_password(user, form.password.data or "")
        except services.WeakPasswordError as error:
            form.password.errors = [_weak_password_message(error)]
        else:
            if current_user.is_authenticated:
                logout_user()
            flash(_("Your password is changed and every session was signed out. Sign in with the new one."),
                  "success")
            return redirect(url_for("accounts.signin"))
    status = 422 if form.is_submitted() else 200
    return render_template("accounts/reset_confirm.html", form=form, token=token), status


@bp.route("/account", methods=["GET"])
@signed_in
def account():  # type: ignore[no-untyped-def]
    current = sessions.current_row(current_user)
    return render_template("accounts/account.html", sessions=sessions.active_sessions(current_user.id),
                           current_id=current.id if current else None)


@bp.route("/password/change", methods=["GET", "POST"])
@limiter.limit(_signin_limit, methods=["POST"])
@signed_in
def password_change():  # type: ignore[no-untyped-def]
    form = ChangePasswordForm()
    if form.validate_on_submit():
        if not services.verify_password(current_user.password_hash, form.current.data or ""):
            form.current.errors = [_("That is not your current password.")]
        else:
            try:
                services.set_password(current_user, form.password.data or "", keep_session_of=current_user)
            except services.WeakPasswordError as error:
                form.password.errors = [_weak_password_message(error)]
            else:
                flash(_("Your password is changed. Your other sessions were signed out."), "success")
                return redirect(url_for("accounts.account"))
    status = 422 if form.is_submitted() else 200
    return render_template("accounts/password_change.html", form=form), status


@bp.route("/signout", methods=["POST"])
@signed_in
def signout():  # type: ignore[no-untyped-def]
    sessions.revoke(current_user)
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("pages.home"))


@bp.route("/signout/everywhere", methods=["POST"])
@signed_in
def signout_everywhere():  # type: ignore[no-untyped-def]
    sessions.revoke_all(current_user.id)
    logout_user()
    flash(_("You have signed out on every device."), "info")
    return redirect(url_for("pages.home"))


@bp.route("/staff/verifications", methods=["GET"])
@roles(Role.union_staff, Role.admin)
def verification_queue():  # type: ignore[no-untyped-def]
    return render_template("accounts/verification_queue.html", organisations=organisations.unverified())


@bp.route("/staff/verifications/<int:organisation_id>", methods=["POST"])
@roles(Role.union_staff, Role.admin)
def verify_organisation(organisation_id: int):  # type: ignore[no-untyped-def]
    organisation = db.session.get(Organisation, organisation_id)
    if organisation is None or organisation.kind not in (OrgKind.brand, OrgKind.msme):
        abort(404)
    if organisation.verified_at is not None:
        flash(_("%(name)s was already verified.", name=organisation.name), "info")
    else:
        organisations.verify(organisation)
        flash(_("%(name)s is verified; its members were told.", name=organisation.name), "success")
    return redirect(url_for("accounts.verification_queue"))


@bp.app_context_processor
def inject_user() -> dict[str, object]:
    return {"current_user": current_user}
