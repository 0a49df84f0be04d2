"""The served OpenAPI description: valid OpenAPI 3.0, and every route of the app in it."""

from __future__ import annotations

import re

from openapi_spec_validator import validate


def test_openapi_document_is_valid_and_complete(client, app):
    r = client.get("/openapi.json")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/vnd.oai.openapi+json")
    spec = r.json
    validate(spec)
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    served = {
        (method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert served == documented


def test_private_operations_declare_bearer_security(client):
    spec = client.get("/openapi.json").json
    action = spec["paths"]["/api/incidents/{incident_id}/actions"]["post"]
    assert action["security"] == [{"bearer": []}]
    assert "dispatcher" in action["description"]
    body = action["requestBody"]["content"]["application/json"]["schema"]
    assert "register" in body["properties"]["action"]["enum"]
    assert "security" not in spec["paths"]["/open311/v2/services.{fmt}"]["get"]


def test_every_operation_that_takes_a_json_body_describes_it(client):
    # schema-driven clients and fuzzers (tests/fuzz) send only what the description shows
    spec = client.get("/openapi.json").json
    for path, method in [
        ("/collections/{layer}/items", "post"),
        ("/collections/{layer}/items/{item_id}", "patch"),
        ("/api/siting", "post"),
        ("/api/incidents/{incident_id}/actions", "post"),
        ("/api/accounts", "post"),
    ]:
        body = spec["paths"][path][method]["requestBody"]["content"]["application/json"]
        assert body["schema"]["type"] == "object", (method, path)
    feature = spec["paths"]["/collections/{layer}/items"]["post"]["requestBody"]
    assert "geometry" in feature["content"]["application/json"]["schema"]["required"]
