"""Ledgers beyond the SQLite file: the PostgreSQL ledger (``postgres``: schema, migrations, inserts), its
writer off the call path (``writer``: queue, background thread, spill), the spill file (``spill``) and the
one reader of both kinds (``reader``: ``open_reader(url)``). The SQLite ledger's schema and row are in
``otel_llmcost.ledger``; nothing here is imported unless a ledger is written or read.
"""
