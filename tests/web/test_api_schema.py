"""schemathesis against GET /api/v1/openapi.json: every operation, called with the admin's, a shop's
and a read-only token, answers no 5xx and only what the document says (status code, content type,
headers, body schema).

The store holds two shops (tests.web.two_shops), and a third of the cases aim their path ids at the
florist's rows, so answers other than 404 are checked too. Bounded to a few cases per operation and
generation mode (schemathesis also sends data the schema forbids) to stay near half a minute per
database; with CI set, Hypothesis replays a fixed sequence (tests/conftest.py).
"""

from __future__ import annotations

import traceback
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session, sessionmaker

from appliance.config import Settings
from tests.web.two_shops import Shop, TwoShops, open_two_shops

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
EXAMPLES_PER_STRATEGY = 5


def seeded_ids(shop: Shop, path: str) -> dict[str, Any]:
    """Path parameters naming the shop's rows, for the operation at ``path``."""
    resource = path.split("/")[1]
    ident = {"accounts": shop.account, "access-numbers": shop.number, "keywords": shop.keyword,
             "groups": shop.group, "contacts": shop.contact, "autoresponders": shop.autoresponder,
             "polls": shop.poll, "contests": shop.contest}.get(resource)
    ids = {"ident": ident, "message_id": shop.message, "attachment_id": shop.attachment, "sms_id": shop.sms,
           "delivery_id": shop.delivery, "target_id": shop.target, "number_id": shop.number,
           "keyword_id": shop.keyword, "access_number_id": shop.number, "sender": shop.sender}
    return {name: value for name, value in ids.items() if "{" + name + "}" in path and value is not None}


def described(exc: BaseException) -> str:
    """The failure with the failures it groups (Hypothesis' "flaky" wraps the first call's error)."""
    text = "".join(traceback.format_exception_only(exc)).strip()
    if isinstance(exc, BaseExceptionGroup):
        text += "".join("\n  " + described(inner).replace("\n", "\n  ") for inner in exc.exceptions)
    return text


@pytest.fixture
def shops(client: FlaskClient, session_factory: sessionmaker[Session], settings: Settings) -> TwoShops:
    return open_two_shops(client, session_factory, settings)


def test_every_operation_answers_as_documented(app: Flask, shops: TwoShops) -> None:
    tokens = st.sampled_from([shops.admin, shops.florist.headers, shops.reader])
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
        if "{" in operation.path:
            strategies.append(operation.as_strategy(GenerationMode.POSITIVE,
                                                    path_parameters=seeded_ids(shops.florist, operation.path)))

        @settings(max_examples=EXAMPLES_PER_STRATEGY * len(strategies), deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=st.one_of(strategies), headers=tokens)
        def exercise(case: schemathesis.Case, headers: dict[str, str]) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            exercise()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises a group; report every operation
            failures.append(f"{operation.label}: {described(exc)}")
    assert failures == [], "\n\n".join(failures)
