"""Reading the service's store as spools, with the organisation's private key (docs/fleet.md).

``central_view(data_dir, private_key_file)`` opens the catalog, and for each segment that is not
deleted, of each contributor not forgotten, opens the data key (organisation private key -> sealed
``K_c`` -> wrapped ``K_s``). It lays the objects out under their segment names in a temporary, read-only
folder of symbolic links per contributor, so that the ordinary reader and every exporter read them as
they read local spools (``Spool(folder, keys=...)``, ``export(folders, ..., keys=...)``): a central
export is the local export of the same segments, byte for byte. Nothing is copied or decrypted to disk.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from workscribe.fleet import keys
from workscribe.fleet.catalog import contributors, segments
from workscribe.fleet.config import open_store
from workscribe.fleet.org import open_catalog


class CentralError(ValueError):
    """The store cannot be read as asked: the wrong private key, or nothing readable in it."""


@dataclass
class CentralView:
    """The readable segments of a service's store, as spool folders and the keys that open them."""

    folders: list[Path]  # one folder of links per contributor, named by the contributor id
    keys: list[bytes]  # the data key of every linked segment
    segments: int = 0  # segments linked
    problems: list[str] = field(default_factory=list)  # one line per segment or contributor left out


@contextmanager
def central_view(data_dir: Path, private_key_file: Path) -> Iterator[CentralView]:
    """The store of the service in ``data_dir`` as spool folders, for the duration of the block.

    Deleted recordings and forgotten contributors are left out; a contributor key or data key that does
    not open, or an object missing from the store, is left out with a line in ``problems``.

    Raises:
        OrgError: no organisation in ``data_dir``.
        CentralError: the key file cannot be read, is not the organisation's, or no segment is readable.
    """
    data_dir = Path(data_dir)
    try:
        private = keys.load_private_key(private_key_file)
    except OSError as exc:
        raise CentralError(f"cannot read the private key {private_key_file}: {exc.strerror}") from None
    except keys.FleetKeyError as exc:
        raise CentralError(str(exc)) from None
    catalog = open_catalog(data_dir)
    try:
        org = catalog.org()
        assert org is not None
        if keys.public_bytes(private) != bytes(org["public_key"]):
            raise CentralError(f"{private_key_file} is not the private key of the organisation in {data_dir}")
        with catalog.engine.connect() as conn:
            people = conn.execute(
                sa.select(contributors.c.id, contributors.c.sealed_key)
                .where(contributors.c.forgotten_at.is_(None), contributors.c.sealed_key.is_not(None))
                .order_by(contributors.c.id)).all()
            rows = conn.execute(
                sa.select(segments.c.sha256, segments.c.contributor_id, segments.c.name,
                          segments.c.wrapped_data_key)
                .where(segments.c.deleted_at.is_(None), segments.c.wrapped_data_key.is_not(None))
                .order_by(segments.c.contributor_id, segments.c.name)).all()
    finally:
        catalog.close()
    store = open_store(data_dir)
    view = CentralView(folders=[], keys=[])
    with tempfile.TemporaryDirectory(prefix="workscribe-central-") as tmp:
        for contributor_id, sealed in people:
            try:
                k_c = keys.open_sealed(private, bytes(sealed), keys.contributor_key_aad(contributor_id))
            except keys.FleetKeyError:
                view.problems.append(f"contributor {contributor_id}: the sealed key does not open; left out")
                continue
            folder = Path(tmp) / contributor_id
            for sha, _, name, wrapped in (r for r in rows if r.contributor_id == contributor_id):
                link = folder / name
                try:
                    k_s = keys.unwrap(k_c, bytes(wrapped), keys.data_key_aad(sha))
                except keys.FleetKeyError:
                    view.problems.append(f"{name} ({sha[:12]}): the data key does not open; left out")
                    continue
                if not store.exists(sha) or link.exists() or "/" in name:
                    view.problems.append(f"{name} ({sha[:12]}): object missing or name taken; left out")
                    continue
                folder.mkdir(exist_ok=True, mode=0o700)
                local = store.local_path(sha)
                if local is not None:
                    link.symlink_to(local)
                else:  # a remote store (S3): the object is fetched into the private temporary view
                    with store.open(sha) as src, open(link, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                view.keys.append(k_s)
                view.segments += 1
            if folder.is_dir():
                folder.chmod(0o500)  # read-only: nothing reading the view writes into it
                view.folders.append(folder)
        if not view.folders:
            raise CentralError(f"{data_dir}: no readable segments (nothing uploaded, or all deleted)")
        try:
            yield view
        finally:
            for folder in view.folders:
                folder.chmod(0o700)  # so that the temporary folder can be removed
