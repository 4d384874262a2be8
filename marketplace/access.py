"""The one central permission check.

Every view declares who may call it with ``@public``, ``@signed_in`` or
``@roles(...)``. A ``before_request`` hook enforces the declaration for every
request, and refuses (403) any endpoint that declares nothing, so a new route
cannot be left open by mistake. Object-level checks (an MSME touching only its
own organisation's data) go through ``require_member_of``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, abort, current_app, redirect, request, url_for
from flask_login import current_user

from marketplace.accounts.models import Role
from marketplace.extensions import db
from marketplace.organisations.models import Organisation, OrgKind

F = TypeVar("F", bound=Callable[..., Any])

ATTRIBUTE = "_access_rule"


@dataclass(frozen=True)
class Rule:
    public: bool = False
    roles: frozenset[Role] = frozenset()  # empty and not public: any signed-in user

    def allows(self, user: Any) -> bool:
        if self.public:
            return True
        if not user.is_authenticated:
            return False
        return not self.roles or user.has_role(*self.roles)


PUBLIC = Rule(public=True)
SIGNED_IN = Rule()


def _declare(rule: Rule) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        setattr(view, ATTRIBUTE, rule)
        return view

    return decorator


def public(view: F) -> F:
    """Anyone, signed in or not, may call this view."""
    return _declare(PUBLIC)(view)


def signed_in(view: F) -> F:
    """Any signed-in user may call this view."""
    return _declare(SIGNED_IN)(view)


def roles(*allowed: Role) -> Callable[[F], F]:
    """Only users holding one of ``allowed`` roles may call this view."""
    if not allowed:
        raise ValueError("roles() needs at least one role; use @signed_in for any user")
    return _declare(Rule(roles=frozenset(allowed)))


def rule_for(endpoint: str | None, app: Flask | None = None) -> Rule | None:
    app = app or current_app
    if endpoint is None:
        return None
    if endpoint == "static" or endpoint.endswith(".static"):
        return PUBLIC
    view = app.view_functions.get(endpoint)
    return getattr(view, ATTRIBUTE, None)


def enforce() -> Any:
    """``before_request`` hook: apply the endpoint's rule."""
    if request.endpoint is None:  # no route matched: let the 404/405 handler answer
        return None
    rule = rule_for(request.endpoint)
    if rule is None:
        current_app.logger.error("Endpoint %s declares no access rule; refusing.", request.endpoint)
        abort(403)
    if rule.allows(current_user):
        return None
    if not current_user.is_authenticated:
        if request.method == "GET" and not request.path.startswith("/api/"):
            return redirect(url_for("accounts.signin", next=request.full_path.rstrip("?")))
        abort(401)
    abort(403)
    return None  # unreachable: abort raises


def own_organisation(role: Role, kind: OrgKind | None = None) -> Organisation:
    """The signed-in user's organisation in ``role`` (the lowest id when several), of ``kind``
    if given; 404 when there is none."""
    ids = sorted(current_user.organisation_ids(role))
    org = db.session.get(Organisation, ids[0]) if ids else None
    if org is None or (kind is not None and org.kind is not kind):
        abort(404)
    return org


def require_member_of(organisation_id: int, *allowed: Role) -> None:
    """404 unless the current user belongs to ``organisation_id`` (with one of ``allowed`` roles)."""
    if organisation_id not in current_user.organisation_ids(*allowed):
        abort(404)


def undeclared_endpoints(app: Flask) -> Iterable[str]:
    """Endpoints with no access rule (a test asserts there are none)."""
    for rule in app.url_map.iter_rules():
        if rule_for(rule.endpoint, app) is None:
            yield rule.endpoint


def may_edit_registration(user: Any, organisation: Organisation) -> bool:
    """Who may change an organisation's registration number: Union staff and admins, and the organisation's
    own members (its manager: the cooperative manager, MSME editor or brand buyer of that organisation)."""
    if not getattr(user, "is_authenticated", False):
        return False
    return user.has_role(Role.union_staff, Role.admin) or organisation.id in user.organisation_ids()


# Who may read a passport's restricted tiers (ESPR; the tiers are built in ``passports/tiers.py``). The
# value-chain tier is for verified buyers (brand buyers), recyclers and repairers (the MSMEs that run the
# take-back and repair services) and the Union's staff; the authority tier for the Union's staff, who answer
# market surveillance and customs authorities. A brand or MSME must be verified by the Union as well.
VALUE_CHAIN_ROLES = (Role.brand_buyer, Role.msme_editor, Role.union_staff, Role.admin)
AUTHORITY_ROLES = (Role.union_staff, Role.admin)
TIER_ROLES: dict[str, tuple[Role, ...]] = {"value-chain": VALUE_CHAIN_ROLES, "authority": AUTHORITY_ROLES}
UNVERIFIED_ROLES = (Role.brand_buyer, Role.msme_editor)  # these must belong to an organisation the Union verified


def may_see_tier(user: Any, tier: str) -> bool:
    """Whether ``user`` may read a passport's ``tier`` ("value-chain" or "authority"): the one rule for every
    page, credential and export that shows restricted passport data."""
    allowed = TIER_ROLES.get(tier)
    if not allowed or not getattr(user, "is_authenticated", False) or not user.has_role(*allowed):
        return False
    if user.has_role(*(role for role in allowed if role not in UNVERIFIED_ROLES)):
        return True
    ids = user.organisation_ids(*UNVERIFIED_ROLES)
    return any(org is not None and org.is_verified for org in (db.session.get(Organisation, i) for i in ids))


def require_tier(tier: str) -> None:
    """403 unless the current user may read ``tier`` (the endpoint's roles are enforced before, by ``enforce``)."""
    if not may_see_tier(current_user, tier):
        abort(403)
