"""Sites, API keys and goals: stored in ClickHouse, served from an in-memory snapshot.

Writes go to ReplacingMergeTree tables (a change is a new row with a higher version) and then
refresh the snapshot; other processes sharing a ClickHouse server pick changes up on their
periodic refresh. Key lookups on the request path never touch the store.

Safe under concurrency (embedded and server mode):
- Ids of sites and goals are random 31-bit numbers checked against every row ever written
  (deleted ones too), allocated and inserted under one lock per process, so two creations can
  never share an id; processes sharing a server draw from 2^31 values (a collision is negligible).
- Two processes creating the same domain at once: both insert, then each re-reads the live rows
  for that domain; every creator but the first (lowest version) withdraws its row and answers 409.
- Deletions and revocations are tombstones with a version above every ordinary version, so a
  concurrent PATCH (an ordinary newer row) can never bring a deleted site or a revoked key back;
  deleting a site also revokes its keys and deletes its goals.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass, field

from engine.errors import FieldError
from engine.query.parse import check_timezone as check_query_timezone
from engine.sites import GOAL_TYPES, ApiKey, Goal, Site
from engine.store import Store

KEY_PREFIX = "ck_"
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


# A bad site/key/goal value (or 404 for a missing one): the engine's one field-error type.
RegistryError = FieldError


def hash_key(plaintext: str) -> str:
    # Keys carry 190+ bits of randomness, so one fast hash is enough (no password stretching).
    return hashlib.sha256(plaintext.encode()).hexdigest()


# Ordinary rows have version = time_ns (< 2^63 until the year 2262); tombstones sort above all.
TOMBSTONE = 2**63
MAX_ID = 2**31 - 1


def _version() -> int:
    return time.time_ns()


def _tombstone() -> int:
    return TOMBSTONE + time.time_ns()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def normalize_domain(domain: str) -> str:
    value = (domain or "").strip().lower()
    value = re.sub(r"^https?://", "", value).split("/")[0]
    value = value.removeprefix("www.")
    if not _DOMAIN.match(value):
        raise RegistryError("domain", "must be a host name such as example.com")
    if value.isdigit():
        # Admin routes and the CLI take a site id or a domain: "1" must mean one thing.
        raise RegistryError("domain", "an all-digit name is not a host name (it would read as a site id)")
    return value


def check_timezone(name: str) -> str:
    """The one time-zone check (engine.query.parse): a zone the admin API accepts is one every
    query accepts ("localtime" is neither)."""
    return check_query_timezone(name)


@dataclass
class Snapshot:
    sites: dict[int, Site] = field(default_factory=dict)
    sites_by_domain: dict[str, Site] = field(default_factory=dict)
    keys: dict[str, ApiKey] = field(default_factory=dict)
    goals: dict[int, list[Goal]] = field(default_factory=dict)
    # Key plaintext -> (key, site) for keys that authenticated against this snapshot: the
    # request path hashes a key once per snapshot, not once per request. Dies with the snapshot
    # (a revoked key stops working at the next refresh, as before).
    authenticated: dict[str, tuple[ApiKey, Site]] = field(default_factory=dict)


AUTH_CACHE_MAX = 10_000


class Registry:
    def __init__(self, store: Store):
        self.store = store
        self.snapshot = Snapshot()
        # Refreshes run one at a time: a periodic refresh that read the tables before a write
        # must not install its older snapshot after the writer's own refresh.
        self._refresh_lock = threading.Lock()
        self._write_lock = threading.RLock()

    # --- reading (in memory) ------------------------------------------------------------

    def refresh(self) -> None:
        with self._refresh_lock:
            self._refresh()

    def _refresh(self) -> None:
        snap = Snapshot()
        for site_id, domain, tz in self.store.rows(
            "SELECT site_id, domain, timezone FROM sites FINAL WHERE deleted = 0 ORDER BY site_id"
        ):
            site = Site(site_id, domain, tz)
            snap.sites[site_id] = site
            snap.sites_by_domain[domain] = site
        for row in self.store.rows(
            "SELECT key_hash, key_prefix, site_id, name, can_read, can_track "
            "FROM api_keys FINAL WHERE revoked = 0"
        ):
            key = ApiKey(row[0], row[1], row[2], row[3], bool(row[4]), bool(row[5]))
            if key.site_id in snap.sites:
                snap.keys[key.key_hash] = key
        for row in self.store.rows(
            "SELECT goal_id, site_id, name, type, match_value FROM goals FINAL "
            "WHERE deleted = 0 ORDER BY site_id, created_at, goal_id"
        ):
            goal = Goal(*row)
            if goal.site_id in snap.sites:
                snap.goals.setdefault(goal.site_id, []).append(goal)
        self.snapshot = snap

    def authenticate(self, plaintext: str) -> tuple[ApiKey, Site] | None:
        snap = self.snapshot
        found = snap.authenticated.get(plaintext)
        if found is not None:
            return found
        if not plaintext.startswith(KEY_PREFIX):
            return None
        key = snap.keys.get(hash_key(plaintext))
        if key is None:
            return None
        site = snap.sites.get(key.site_id)
        if site is None:
            return None
        if len(snap.authenticated) < AUTH_CACHE_MAX:
            snap.authenticated[plaintext] = (key, site)
        return key, site

    def site(self, site_id: int) -> Site | None:
        return self.snapshot.sites.get(site_id)

    def site_by_domain(self, domain: str) -> Site | None:
        return self.snapshot.sites_by_domain.get(domain.lower().removeprefix("www."))

    def sites(self) -> list[Site]:
        return list(self.snapshot.sites.values())

    def goals(self, site_id: int) -> list[Goal]:
        return list(self.snapshot.goals.get(site_id, []))

    def keys(self, site_id: int) -> list[ApiKey]:
        return [k for k in self.snapshot.keys.values() if k.site_id == site_id]

    def require_site(self, site_ref: str | int) -> Site:
        site = None
        if isinstance(site_ref, int) or re.fullmatch(r"[0-9]{1,10}", str(site_ref)):
            site = self.site(int(site_ref))
        if site is None:
            site = self.site_by_domain(str(site_ref))
        if site is None:
            raise RegistryError("site", f"no site {site_ref!r}", status=404)
        return site

    # --- writing --------------------------------------------------------------------------

    def create_site(self, domain: str, timezone: str = "UTC") -> Site:
        domain = normalize_domain(domain)
        timezone = check_timezone(timezone or "UTC")
        with self._write_lock:
            self.refresh()
            if domain in self.snapshot.sites_by_domain:
                raise RegistryError("domain", f"a site for {domain} already exists", status=409)
            site_id = self._new_id("SELECT site_id FROM sites WHERE site_id = {id:UInt32} LIMIT 1", {})
            version = _version()
            self._insert_site(Site(site_id, domain, timezone), deleted=0, version=version)
            # Another process may have created the same domain at the same moment.
            live = self.store.rows(
                "SELECT site_id, version FROM sites FINAL WHERE domain = {d:String} AND deleted = 0",
                {"d": domain},
            )
            first = min(live, key=lambda row: (row[1], row[0]), default=(site_id, version))
            if first[0] != site_id:
                self._insert_site(Site(site_id, domain, timezone), deleted=1, version=_tombstone())
                self.refresh()
                raise RegistryError("domain", f"a site for {domain} already exists", status=409)
            self.refresh()
            return self.snapshot.sites[site_id]

    def _new_id(self, exists_sql: str, parameters: dict) -> int:
        """A random id in [1, 2^31) that no row (deleted ones included) has ever used."""
        for _ in range(20):
            candidate = secrets.randbelow(MAX_ID) + 1
            if not self.store.rows(exists_sql, {**parameters, "id": candidate}):
                return candidate
        raise RegistryError("id", "could not allocate a free id", status=500)

    def update_site(self, site_ref: str | int, timezone: str) -> Site:
        with self._write_lock:
            site = self.require_site(site_ref)
            updated = Site(site.site_id, site.domain, check_timezone(timezone))
            self._insert_site(updated, deleted=0)
            if updated.timezone != site.timezone:
                from engine.rollups import invalidate_site

                invalidate_site(self.store, site.site_id)  # its rollup days were the old zone's days
            self.refresh()
            if self.site(site.site_id) is None:
                # Deleted meanwhile (by another process): the tombstone wins; say so.
                raise RegistryError("site", f"no site {site_ref!r}", status=404)
            return updated

    def delete_site(self, site_ref: str | int) -> Site:
        """Removes the site and its keys and goals from use (tombstones: nothing can bring them
        back). Its events stay in the store (a new site never reuses the id) and can be dropped
        with ClickHouse if wanted."""
        with self._write_lock:
            site = self.require_site(site_ref)
            self._insert_site(site, deleted=1, version=_tombstone())
            for key in self.keys(site.site_id):
                self._insert_key(key, revoked=1, version=_tombstone())
            for goal in self.goals(site.site_id):
                self._insert_goal(goal, deleted=1, version=_tombstone())
            self.refresh()
            return site

    def _insert_site(self, site: Site, deleted: int, version: int | None = None) -> None:
        self.store.insert_columns(
            "sites",
            [[site.site_id], [site.domain], [site.timezone], [_now()], [deleted], [version or _version()]],
            ["site_id", "domain", "timezone", "created_at", "deleted", "version"],
        )

    def create_key(
        self, site_ref: str | int, name: str = "", read: bool = True, track: bool = True
    ) -> tuple[str, ApiKey]:
        """Returns the plaintext key (shown once; only its hash is stored) and its record."""
        site = self.require_site(site_ref)
        if not (read or track):
            raise RegistryError("permissions", "a key needs read and/or tracker permission")
        plaintext = KEY_PREFIX + secrets.token_urlsafe(32).replace("-", "a").replace("_", "b")
        key = ApiKey(hash_key(plaintext), plaintext[:10], site.site_id, name[:200], read, track)
        with self._write_lock:
            self._insert_key(key, revoked=0)
            self.refresh()
            if self.site(site.site_id) is None:
                self._insert_key(key, revoked=1, version=_tombstone())
                raise RegistryError("site", f"no site {site_ref!r}", status=404)
        return plaintext, key

    def revoke_key(self, prefix_or_key: str) -> ApiKey:
        matches = [
            k for k in self.snapshot.keys.values()
            if k.key_prefix == prefix_or_key or k.key_hash == hash_key(prefix_or_key)
        ]
        if len(matches) != 1:
            raise RegistryError("key", "no single active key with that prefix", status=404)
        with self._write_lock:
            self._insert_key(matches[0], revoked=1, version=_tombstone())
            self.refresh()
        return matches[0]

    def _insert_key(self, key: ApiKey, revoked: int, version: int | None = None) -> None:
        self.store.insert_columns(
            "api_keys",
            [[key.key_hash], [key.key_prefix], [key.site_id], [key.name], [int(key.can_read)],
             [int(key.can_track)], [_now()], [revoked], [version or _version()]],
            ["key_hash", "key_prefix", "site_id", "name", "can_read", "can_track", "created_at",
             "revoked", "version"],
        )

    def create_goal(self, site_ref: str | int, name: str, goal_type: str, match: str = "") -> Goal:
        site = self.require_site(site_ref)
        if goal_type not in GOAL_TYPES:
            raise RegistryError("type", f"must be one of {', '.join(GOAL_TYPES)}")
        name = (name or "").strip()
        if not name or len(name) > 200:
            raise RegistryError("name", "is required (at most 200 characters)")
        match = (match or "").strip()
        if goal_type == "pageview" and not match.startswith("/"):
            raise RegistryError("match", "a pageview goal needs a path such as /pricing or /blog/*")
        if goal_type == "custom" and not match:
            match = name
        with self._write_lock:
            goal_id = self._new_id(
                "SELECT goal_id FROM goals WHERE site_id = {s:UInt32} AND goal_id = {id:UInt32} LIMIT 1",
                {"s": site.site_id},
            )
            goal = Goal(goal_id, site.site_id, name, goal_type, match)
            self._insert_goal(goal, deleted=0)
            self.refresh()
            if self.site(site.site_id) is None:
                self._insert_goal(goal, deleted=1, version=_tombstone())
                raise RegistryError("site", f"no site {site_ref!r}", status=404)
        return goal

    def delete_goal(self, site_ref: str | int, goal_id: int) -> Goal:
        site = self.require_site(site_ref)
        goal = next((g for g in self.goals(site.site_id) if g.goal_id == goal_id), None)
        if goal is None:
            raise RegistryError("goal_id", f"no goal {goal_id} on {site.domain}", status=404)
        with self._write_lock:
            self._insert_goal(goal, deleted=1, version=_tombstone())
            self.refresh()
        return goal

    def _insert_goal(self, goal: Goal, deleted: int, version: int | None = None) -> None:
        self.store.insert_columns(
            "goals",
            [[goal.goal_id], [goal.site_id], [goal.name], [goal.type], [goal.match_value],
             [_now()], [deleted], [version or _version()]],
            ["goal_id", "site_id", "name", "type", "match_value", "created_at", "deleted", "version"],
        )
