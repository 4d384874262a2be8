"""Lot and product discovery through one search port.

``port`` defines the interface and the query/result types, ``embedded`` (tantivy, the
default, no server) and ``meili`` (a Meilisearch server) implement it, ``documents`` builds
the indexed documents from the database, ``models`` holds the outbox that records every
change to a searchable row in the same transaction, and ``services`` applies it.
"""
