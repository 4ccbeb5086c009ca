"""One source for every word list (issue 10): the OpenAPI document lists exactly what the server
accepts, checked against live requests, and the time-zone check is the same everywhere."""

from __future__ import annotations

import pytest

from engine.query import fields

DOC_CACHE: dict = {}


def _doc(client) -> dict:
    if not DOC_CACHE:
        DOC_CACHE.update(client.get("/api/openapi.json").json())
    return DOC_CACHE


def _query_schema(doc: dict) -> dict:
    return doc["paths"]["/api/query"]["post"]["requestBody"]["content"]["application/json"]["schema"]


def test_query_word_lists_match_what_the_server_accepts(client, new_site):
    doc = _doc(client)
    schema = _query_schema(doc)
    props = schema["properties"]
    site = new_site()

    def status(body: dict) -> int:
        return client.post("/api/query", json=body, headers={"x-api-key": site.read_key}).status_code

    def where(dimension: str, operator: str = "is", value: str = "x") -> dict:
        condition = {"dimension": dimension, "operator": operator, "value": value}
        return {"metrics": ["visitors"], "filters": [condition]}

    assert set(props["metrics"]["items"]["enum"]) == set(fields.METRICS)
    for metric in props["metrics"]["items"]["enum"]:
        # `events` counts matching events: valid only with a prop: dimension (SPEC §8).
        body = {"metrics": [metric], **({"dimensions": ["prop:plan"]} if metric == "events" else {})}
        assert status(body) == 200, metric
    for dimension in props["dimensions"]["items"]["enum"]:
        assert status({"metrics": ["visitors"], "dimensions": [dimension], "period": "7d"}) == 200, dimension
    filter_dims = props["filters"]["items"]["properties"]["dimension"]["enum"]
    for dimension in filter_dims:
        assert status(where(dimension)) == 200, dimension
    for dimension in set(fields.DIMENSIONS) - set(filter_dims):  # what the document leaves out
        assert status(where(dimension)) == 400, dimension
    for operator in props["filters"]["items"]["properties"]["operator"]["enum"]:
        assert status(where("page", operator, "/")) == 200, operator
    for period in props["period"]["enum"]:
        assert status({"metrics": ["visitors"], "period": period}) == 200, period


def test_goals_parameters_match(client, new_site):
    doc = _doc(client)
    params = {p["name"] for p in doc["paths"]["/api/goals"]["get"].get("parameters", [])}
    site = new_site()
    for name in params:
        value = {"start_date": "2026-01-01", "end_date": "2026-01-02", "timezone": "UTC"}[name]
        assert client.get("/api/goals", params={name: value},
                          headers={"x-api-key": site.read_key}).status_code == 200, name
    for name in ("limit", "offset"):
        assert name not in params
        r = client.get("/api/goals", params={name: "5"}, headers={"x-api-key": site.read_key})
        assert r.status_code == 400


@pytest.mark.parametrize("zone", ["localtime", "Not/AZone"])
def test_one_timezone_check_for_admin_and_queries(client, admin_headers, new_site, zone):
    site = new_site()
    r = client.patch(f"/api/admin/sites/{site.site_id}", json={"timezone": zone}, headers=admin_headers)
    assert r.status_code == 400 and "timezone" in r.json()["message"]
    r = client.post("/api/query", json={"metrics": ["visitors"], "timezone": zone},
                    headers={"x-api-key": site.read_key})
    assert r.status_code == 400


def test_dashboard_and_cli_take_the_engine_lists(client, new_site):
    import re

    from engine.sites import GOAL_TYPES
    from server.cli import _parser

    page = client.get(f"/dashboard/{new_site().domain}").text
    assert re.findall(r'<option value="([^"]+)">', page) == [*fields.PERIODS, "custom"]
    goals = _parser()._subparsers._group_actions[0].choices["goals"]
    create = goals._subparsers._group_actions[0].choices["create"]
    type_action = next(a for a in create._actions if a.dest == "type")
    assert tuple(type_action.choices) == GOAL_TYPES
