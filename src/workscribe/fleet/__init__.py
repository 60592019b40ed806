"""Fleet collection: contributors' devices upload closed segments, end-to-end encrypted, to an
organisation's service that stores them (docs/fleet.md has the key chain and the protocol).

Device side: ``keys.py`` (organisation key pair, sealing and wrapping of keys), ``reseal.py`` (a closed
segment re-sealed under its own data key), ``client.py`` (enrolment, resumable upload). Service side:
``service.py`` (run by ``workscribe serve``; stores ciphertext and wrapped keys only and can read no
content), ``catalog.py`` (SQLAlchemy Core: SQLite in the data folder, PostgreSQL by URL), ``store.py``
(the content-addressed object store), ``verify.py`` (the check that uploaded bytes are a segment),
``org.py`` (``workscribe org init|invite``).
"""
