"""factory_boy factories of marketplace/passports/'s models (re-exported by tests/factories.py)."""

from __future__ import annotations

import datetime as dt

import factory

from marketplace import models as m
from marketplace.passports.models import Granularity
from tests.factory_base import Base
from tests.lots.factories import LotFactory
from tests.organisations.factories import OrganisationFactory


class PassportFactory(Base):
    class Meta:
        model = m.Passport

    public_id = factory.Sequence(lambda n: f"pp-{n:06d}")
    lot = factory.SubFactory(LotFactory)
    granularity = Granularity.batch
    status_index = factory.Sequence(lambda n: 1000 + n)


class PassportVersionFactory(Base):
    class Meta:
        model = m.PassportVersion

    passport = factory.SubFactory(PassportFactory)
    number = 1
    credential = factory.LazyFunction(lambda: {"type": ["VerifiableCredential"]})
    content_hash = "0" * 64


class OrganisationKeyFactory(Base):
    """A key row (the public half only matters to tests; the private part is not a real ciphertext)."""

    class Meta:
        model = m.OrganisationKey
        exclude = ("organisation",)

    organisation = factory.SubFactory(OrganisationFactory)
    organisation_id = factory.SelfAttribute("organisation.id")
    number = factory.Sequence(lambda n: n + 1)
    public_jwk = factory.LazyFunction(lambda: {"kty": "OKP", "crv": "Ed25519", "x": "A" * 43})
    private_encrypted = "not-a-ciphertext"


class IssuedDocumentFactory(Base):
    class Meta:
        model = m.IssuedDocument
        exclude = ("issuer",)

    kind = "dcc"
    subject = factory.Sequence(lambda n: f"CERT-{n:04d}")
    number = 1
    issuer = factory.SubFactory(OrganisationFactory)
    issuer_id = factory.SelfAttribute("issuer.id")
    key_id = "did:web:example.org:orgs:x#key-1"
    change_hash = "0" * 64
    body = "{}"
    digest = "z"
    jwt = ""
    body_061 = "{}"
    jwt_061 = ""


class StatusListVersionFactory(Base):
    class Meta:
        model = m.StatusListVersion

    purpose = "revocation"
    number = factory.Sequence(lambda n: n + 1)
    encoded_list = "u"
    valid_from = factory.LazyFunction(lambda: dt.datetime.now(dt.UTC))
    valid_until = factory.LazyFunction(lambda: dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10))
    body = "{}"
    jwt = ""


class PassportLogLeafFactory(Base):
    class Meta:
        model = m.PassportLogLeaf

    index = factory.Sequence(lambda n: 100_000 + n)
    kind = "status"
    passport_public_id = factory.Sequence(lambda n: f"p{n:015x}")
    data = "{}"
    leaf_hash = factory.Sequence(lambda n: f"{n:064x}")


class PassportLogTreeFactory(Base):
    class Meta:
        model = m.PassportLogTree

    id = factory.Sequence(lambda n: 1000 + n)


class PassportLogNodeFactory(Base):
    class Meta:
        model = m.PassportLogNode

    level = 30  # far above any demo or test log's levels
    index = factory.Sequence(lambda n: n)
    hash = factory.Sequence(lambda n: f"{n:064x}")


class PassportLogTileFactory(Base):
    class Meta:
        model = m.PassportLogTile

    level = 4  # tile level 4: level 32, far above any demo or test log's
    index = factory.Sequence(lambda n: n)
    hashes = b"\x00" * 8192
    interior = b"\x00" * 8128


class PassportCheckpointFactory(Base):
    class Meta:
        model = m.PassportCheckpoint

    tree_size = 0
    root_hash = factory.Sequence(lambda n: f"{n:064x}")
    timestamp = factory.LazyFunction(lambda: dt.datetime.now(dt.UTC))
    jws = "header.payload.signature"
