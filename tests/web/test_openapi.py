"""GET /api/v1/openapi.json: served to anyone, and describing every route the API has (and no other)."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient

HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def routes(app: Flask) -> set[tuple[str, str]]:
    """(method, path) of every /api/v1 route, with Flask's <int:ident> written as OpenAPI's {ident}."""
    return {(method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1")))
            for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/v1/")
            for method in rule.methods & HTTP_METHODS}


def test_the_document_is_served_without_a_token(client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200 and response.content_type == "application/json"
    document = response.get_json()
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": "http://localhost/api/v1"}]
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "an API token (apl_…)"}


def test_every_route_of_the_api_is_documented_and_nothing_else(app: Flask, client: FlaskClient) -> None:
    """A new endpoint fails this test until appliance/web/openapi.py describes it."""
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    documented = {(method.upper(), path) for path, operations in paths.items() for method in operations}

    assert sorted(routes(app) - documented) == [], "routes missing from appliance/web/openapi.py"
    assert sorted(documented - routes(app)) == [], "documented in appliance/web/openapi.py but not served"


def test_every_operation_documents_its_parameters_and_its_errors(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            in_path = {p["name"] for p in operation["parameters"] if p["in"] == "path"} if "parameters" in operation \
                else set()
            assert in_path == set(re.findall(r"{(\w+)}", path)), (method, path)
            if path != "/openapi.json":
                assert {"400", "401"} <= set(operation["responses"]), (method, path)
                assert "requestBody" not in operation or "413" in operation["responses"], (method, path)
