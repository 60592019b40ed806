"""Fleet collection: an organisation's service that stores the segments its contributors upload.

The service (``service.py``, run by ``workscribe serve``) stores ciphertext and wrapped keys only and
can read no content; the key chain and the HTTP protocol are in docs/fleet.md. ``catalog.py`` is the
catalog (SQLAlchemy Core: SQLite in the data folder, PostgreSQL by URL), ``store.py`` the content-
addressed object store, ``verify.py`` the check that uploaded bytes are a segment, ``org.py`` the
organisation's set-up (``workscribe org init|invite``).
"""
