"""Fuzzes the fleet service's HTTP API from its own OpenAPI schema with schemathesis, in process: whatever
a client sends, valid by the schema or not, with a device token, the admin token, a portal session or
nothing, the answer is never a 5xx and the server never raises."""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from workscribe.fleet import service
from workscribe.fleet.org import init_org, invite
from workscribe.fleet.portal import PORTAL_COOKIE

EXAMPLES = 25
"""Generated cases per operation (valid by the schema and not, drawn together); about 250 in all."""


@dataclass
class Fleet:
    app: FastAPI
    tokens: dict[str, str]  # the Authorization header a request may carry: none, a device's, the admin's
    portal_session: str


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    """The app of a fresh organisation, one enrolled device and a portal session of its contributor."""
    made = init_org(tmp_path / "data", tmp_path / "org.key")
    app = service.create_app(tmp_path / "data", log=io.StringIO())
    client = TestClient(app, follow_redirects=False)
    r = client.post("/v1/enroll", json={
        "token": invite(tmp_path / "data"), "contributor_id": "0123456789abcdef",
        "sealed_contributor_key": base64.b64encode(os.urandom(92)).decode()})
    assert r.status_code == 200, r.text
    device = {"Authorization": f"Bearer {r.json()['device_token']}"}
    link = client.post("/v1/portal-links", headers=device).json()["url"]
    r = client.get(urlsplit(link).path)
    assert r.status_code == 303 and PORTAL_COOKIE in r.cookies
    return Fleet(app, {"none": "", "device": device["Authorization"],
                       "admin": f"Bearer {made['admin_token']}"}, r.cookies[PORTAL_COOKIE])


def test_no_request_gets_a_5xx(fleet: Fleet) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fleet.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # the protocol's and the portal's
    seen: list[tuple[str, int]] = []

    for operation in operations:
        cases = st.one_of([operation.as_strategy(generation_mode=mode)
                           for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)])

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=cases, who=st.sampled_from(sorted(fleet.tokens)), in_portal=st.booleans())
        def fuzz(case: schemathesis.Case, who: str, in_portal: bool) -> None:
            headers = {"Authorization": fleet.tokens[who]} if fleet.tokens[who] else None
            cookies = {PORTAL_COOKIE: fleet.portal_session} if in_portal else None
            response = case.call(headers=headers, cookies=cookies)  # a server exception fails the test
            seen.append((case.operation.label, response.status_code))
            assert response.status_code < 500, (f"{case.method} {case.formatted_path} ({who}): "
                                                f"{response.status_code} {response.text[:200]}")

        fuzz()

    assert {label for label, _ in seen} == {operation.label for operation in operations}
    assert any(status < 300 for _, status in seen) and any(400 <= status < 500 for _, status in seen)
