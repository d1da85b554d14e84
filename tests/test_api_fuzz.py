"""Schemathesis fuzzes the REST API from its own OpenAPI document: no 5xx, and every
answer (errors included) matches the document.

Driven through schemathesis' Python API and Hypothesis directly: its pytest plugin
does not run under pytest 9 (AttributeError: 'Function' object has no attribute '_nodeid').
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from transcripts.api.models import ApiKey
from transcripts.models import Transcript

EXAMPLES = 30


@pytest.fixture
def wsgi_app():
    """Django's WSGI app, called in-process. As Django's test client does, keep the
    request signals from closing the test's connection (PostgreSQL inside the
    test transaction would lose it)."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield get_wsgi_application()
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.mark.django_db
def test_the_api_keeps_its_contract(alice, settings, wsgi_app):
    settings.API_RATE_LIMIT_PER_MINUTE = 10**6
    Transcript.objects.create(owner=alice, title="Seed", status="completed", text="hello", segments=[])
    headers = {"Authorization": f"Bearer {ApiKey.issue(alice)[1]}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", wsgi_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    tried = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def fuzz(case):
            # Every other check runs. This one expects 2xx for any schema-valid body, but a
            # schema cannot say "audio or a transcript, and the audio must decode": random
            # bytes are rightly a 400, with the upload page's message.
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        fuzz()
        tried.append(operation.label)
    assert "POST /api/v1/transcripts" in tried
