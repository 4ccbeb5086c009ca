"""Schema-driven fuzzing of every operation in /api/openapi.json (a fast run in the suite; the
long run with 10k+ cases per operation is `python -m loadtest.fuzz`, see loadtest/results/).

Every response must be a non-5xx, and every 4xx must carry the JSON error shape."""

from __future__ import annotations

import pytest
from schemathesis import GenerationMode

from loadtest.fuzz import fuzz_operation, operations
from server.openapi import build_spec

FAST_CASES = 30
OPERATIONS = operations()


@pytest.fixture(scope="module")
def fuzz_site(client, admin_headers):
    r = client.post("/api/admin/sites", json={"domain": "fuzz-suite.example"}, headers=admin_headers)
    site_id = r.json()["id"]
    key = client.post(f"/api/admin/sites/{site_id}/keys", json={}, headers=admin_headers).json()["key"]
    return site_id, key


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize("operation", OPERATIONS, ids=[f"{o.method.upper()} {o.path}" for o in OPERATIONS])
def test_fuzzed_requests_never_5xx(client, app, fuzz_site, operation, mode):
    site_id, key = fuzz_site
    ran = fuzz_operation(operation, client, key, app.state.config.admin_token, site_id, FAST_CASES, mode)
    if ran == 0:
        pytest.skip("the operation takes no input, so no schema-violating request exists")


def test_every_route_is_described(app):
    """A route missing from the OpenAPI description would go unfuzzed."""
    described = set(build_spec()["paths"])
    for route in app.router.routes:
        path = getattr(route, "path", "").replace(":int}", "}")
        if path.startswith("/api/") and path != "/api/openapi.json":
            assert path in described, path
