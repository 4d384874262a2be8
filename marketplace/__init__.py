"""The Union of Sustainable Cashmere Cooperatives: marketplace and product passports."""

from __future__ import annotations

from typing import Any

from flask import Flask

from marketplace import config as config_module
from marketplace.flask_app import MarketplaceFlask


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create the application. ``config`` overrides the profile chosen by ``MARKETPLACE_ENV``."""
    app = MarketplaceFlask(
        __name__,
        template_folder=str(config_module.ROOT / "templates"),
        static_folder=str(config_module.ROOT / "static"),
        instance_path=str(config_module.INSTANCE),
    )
    try:
        app.config.update(config_module.load(overrides=config))
    except config_module.ConfigError as error:
        raise SystemExit(str(error)) from None  # one line, no traceback

    from marketplace import access, errors, guards, i18n, models, observability, security, seo, uow  # noqa: F401 (models: complete metadata)
    from marketplace.extensions import babel, csrf, db, htmx, limiter, login_manager, mail, migrate
    from marketplace.static_files import init_app as fingerprint_static_urls

    db.init_app(app)
    migrate.init_app(app, db, directory=str(config_module.ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    limiter.init_app(app)
    # Only decorated limits are used (sign-in), and the decorator checks its own limit when the
    # view runs; the extension's app-wide before_request check would do nothing on every request.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    htmx.init_app(app)
    mail.init_app(app)

    observability.init_app(app)  # first: the request id and the timer start before any other hook
    uow.init_app(app)
    errors.init_app(app)
    i18n.init_app(app)
    seo.init_app(app)
    guards.init_app(app)
    security.init_app(app)
    fingerprint_static_urls(app)
    app.before_request(access.enforce)

    from marketplace.lots import search as lots_search
    from marketplace.products import search as products_search
    from marketplace.search import services as search_services

    search_services.init_app(app, (lots_search.SOURCE, products_search.SOURCE))  # each domain's index
    if not app.testing:
        search_services.report_engine(app)
        search_services.refuse_master_key(app)

    from marketplace.orders import locking
    from marketplace.payments import gateway

    locking.init_app(app)
    gateway.init_app(app)

    _connect_subscribers()
    _register_blueprints(app)
    _register_cli(app)
    return app


def _connect_subscribers() -> None:
    """Domains announce (marketplace/events.py); these packages listen. Connecting twice is harmless."""
    from marketplace.control import subscribers as control
    from marketplace.funds import subscribers as funds
    from marketplace.jobs import services as jobs
    from marketplace.notifications import subscribers as notifications
    from marketplace.orders import subscribers as orders
    from marketplace.passports import subscribers as passports
    from marketplace.payments import subscribers as payments
    from marketplace.products import subscribers as products

    for package in (control, funds, notifications, orders, passports, payments, products):
        package.connect()  # also registers each package's job handlers and schedules (marketplace/jobs)
    jobs.connect()


def _register_blueprints(app: Flask) -> None:
    from marketplace.accounts.routes import bp as accounts
    from marketplace.api.routes import bp as api
    from marketplace.certification.routes import bp as certification
    from marketplace.control.routes import bp as control
    from marketplace.dashboard.routes import bp as dashboard
    from marketplace.funds.routes import bp as funds
    from marketplace.jobs.routes import bp as jobs
    from marketplace.lots.import_routes import bp as lot_import
    from marketplace.lots.routes import bp as lots
    from marketplace.notifications.routes import bp as notifications
    from marketplace.orders.routes import bp as orders
    from marketplace.organisations.routes import bp as organisations
    from marketplace.pages.routes import bp as pages
    from marketplace.passports.routes import bp as passports
    from marketplace.payments.routes import bp as payments
    from marketplace.practice.routes import bp as practice
    from marketplace.pricing.routes import bp as pricing
    from marketplace.products.import_routes import bp as product_import
    from marketplace.products.review import bp as product_review
    from marketplace.products.routes import bp as products
    from marketplace.products.workspace import bp as workspace
    from marketplace.union.export_routes import bp as union_export
    from marketplace.union.routes import bp as union

    app.register_blueprint(pricing)
    app.register_blueprint(funds)
    app.register_blueprint(control)
    app.register_blueprint(practice)
    for blueprint in (
        pages, accounts, lot_import, lots, organisations, dashboard, passports, certification, api,
        products, product_import, workspace, product_review, orders, payments, union, union_export, notifications, jobs,
    ):
        app.register_blueprint(blueprint)


def _register_cli(app: Flask) -> None:
    from marketplace.demo.cli import content, demo
    from marketplace.funds.cli import funds
    from marketplace.jobs.cli import jobs, worker
    from marketplace.notifications.cli import mail
    from marketplace.ops_cli import storage
    from marketplace.orders.cli import orders
    from marketplace.passports.cli import passports
    from marketplace.payments.cli import shop
    from marketplace.search.cli import search

    for group in (demo, content, passports, search, orders, funds, mail, jobs, worker, storage, shop):
        app.cli.add_command(group)
