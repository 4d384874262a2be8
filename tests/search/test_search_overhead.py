"""What a search request costs the site besides the engine (issue 25: the API's throughput through Meilisearch)."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from marketplace.extensions import db
from marketplace.passports.models import Passport
from tests.helpers import statements_run


def test_a_lot_search_with_known_passports_does_not_touch_the_database(demo_app: Flask) -> None:
    client = demo_app.test_client()
    first = client.get("/api/v1/lots?colour=white").get_json()
    assert first["hits"]
    with demo_app.app_context():
        engine = db.engine
        urls = dict(db.session.execute(select(Passport.lot_id, Passport.public_id)).all())
    with statements_run(engine) as statements:
        again = client.get("/api/v1/lots?colour=white").get_json()
    assert statements == []  # the passport ids of these lots are known: no query, no transaction to commit
    assert again["hits"] == first["hits"]
    for hit in again["hits"]:  # and every hit still links its own passport
        assert hit["passport_url"].endswith(f"/passports/{urls[int(hit['id'])]}")
