"""Search infrastructure: one port, two engines, the outbox and its worker.

``port`` defines the interface and the query/result types, ``embedded`` (tantivy, the default, no
server) and ``meili`` (a Meilisearch server) implement it, ``engine`` chooses one from the settings,
``sources`` is the registry where each domain's ``search.py`` declares its index (spec, documents,
which changes make them stale), ``models`` holds the outbox that records every change to a searchable
row in the same transaction, and ``services`` applies it. The search package imports no domain.
"""
