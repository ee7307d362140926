"""`shared.telemetry.span`: current for its block, child of the given context, errors recorded."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from shared import telemetry


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(telemetry, "tracer", lambda name="aftersales": provider.get_tracer(name))
    return exporter


def test_a_span_is_current_in_its_block_and_a_child_of_the_given_context(
    exported: InMemorySpanExporter,
) -> None:
    parent = telemetry.context_for_trace("ab" * 16, "cd" * 8)
    outside = trace.get_current_span()
    with telemetry.span("process X", parent, SpanKind.CONSUMER, **{"a.b": "c"}) as current:
        assert trace.get_current_span() is current
        assert telemetry.current_trace_id() == "ab" * 16
    assert trace.get_current_span() is outside
    (done,) = exported.get_finished_spans()
    assert done.name == "process X"
    assert done.kind is SpanKind.CONSUMER
    assert done.parent is not None
    assert f"{done.parent.span_id:016x}" == "cd" * 8
    assert dict(done.attributes or {}) == {"a.b": "c"}
    assert done.status.status_code is StatusCode.UNSET


def test_an_error_in_the_block_is_recorded_on_the_span_and_raised(
    exported: InMemorySpanExporter,
) -> None:
    outside = trace.get_current_span()
    with pytest.raises(ValueError, match="broken"), telemetry.span("process Y"):
        raise ValueError("broken")
    assert trace.get_current_span() is outside
    (done,) = exported.get_finished_spans()
    assert done.status.status_code is StatusCode.ERROR
    assert done.status.description == "ValueError: broken"
    assert [e.name for e in done.events] == ["exception"]


def test_personal_data_in_an_error_is_masked_on_the_span(exported: InMemorySpanExporter) -> None:
    """Spans go to OTLP collectors: an error quoting a payload must not carry PII there."""
    with pytest.raises(ValueError, match="13812345678"), telemetry.span("process Z"):
        raise ValueError("bad payload: call 13812345678 or lin@example.com")
    (done,) = exported.get_finished_spans()
    assert done.status.description == "ValueError: bad payload: call 138****5678 or [邮箱]"
    (recorded,) = done.events
    attributes = dict(recorded.attributes or {})
    assert attributes["exception.type"] == "ValueError"
    assert attributes["exception.message"] == "bad payload: call 138****5678 or [邮箱]"
    assert "13812345678" not in str(attributes["exception.stacktrace"])
    assert "raise ValueError" in str(attributes["exception.stacktrace"])
