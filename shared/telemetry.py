"""Tracing and logging: one trace follows a complaint through all four services.

Trace context travels in HTTP headers and, injected by hand, in NATS headers. Spans go
to a local JSON-lines file by default (`aftersales trace` reads it) or to OTLP when
`OTEL_EXPORTER_OTLP_ENDPOINT` is set. Logs pass through a filter that masks PII.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from shared.redaction import redact

_PHONE = re.compile(r"(?<!\d)(\+?86[ -]?)?(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{6}(?:19|20)\d{2}\d{7}[\dXx](?![0-9A-Za-z])")
_configured: set[str] = set()
_lock = threading.Lock()


def mask_pii(text: str) -> str:
    """Mask mainland mobile numbers and resident ID numbers in free text, then whatever else
    free-text redaction finds (e-mail addresses, landlines, bank cards: shared.redaction)."""
    text = _ID_NUMBER.sub("[id-number]", text)
    return redact(_PHONE.sub(r"\1\2****\3", text))


class PiiMaskingFilter(logging.Filter):
    """Masks PII in every log record before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = mask_pii(str(record.msg))
        if record.exc_info:
            record.exc_text = mask_pii(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonLinesSpanExporter(SpanExporter):
    """Appends finished spans to a JSON-lines file, one object per span."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = [json.dumps(_span_record(s), ensure_ascii=False) for s in spans]
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def _span_record(span: ReadableSpan) -> dict[str, Any]:
    context = span.context
    parent = span.parent
    return {
        "trace_id": f"{context.trace_id:032x}" if context else None,
        "span_id": f"{context.span_id:016x}" if context else None,
        "parent_id": f"{parent.span_id:016x}" if parent else None,
        "name": span.name,
        "service": span.resource.attributes.get("service.name"),
        "start": span.start_time,
        "end": span.end_time,
        "attributes": {k: v for k, v in (span.attributes or {}).items()},
        "status": span.status.status_code.name,
    }


def setup_telemetry(service: str, trace_file: Path | None, log_level: str = "INFO") -> None:
    """Configure tracing and PII-safe logging for this process, once."""
    with _lock:
        if service in _configured:
            return
        _configured.add(service)
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        if endpoint:
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))
        if trace_file is not None:
            provider.add_span_processor(
                BatchSpanProcessor(JsonLinesSpanExporter(trace_file), schedule_delay_millis=500)
            )
        if not isinstance(trace.get_tracer_provider(), TracerProvider):
            trace.set_tracer_provider(provider)
        _setup_logging(service, log_level)


def _otlp_exporter() -> SpanExporter:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
            OTLPSpanExporter,
        )
    except ImportError as error:  # pragma: no cover - optional dependency
        raise SystemExit(
            "aftersales: OTEL_EXPORTER_OTLP_ENDPOINT is set but "
            "opentelemetry-exporter-otlp-proto-http is not installed"
        ) from error
    exporter: SpanExporter = OTLPSpanExporter()
    return exporter


def _setup_logging(service: str, level: str) -> None:
    root = logging.getLogger()
    if not any(isinstance(f, PiiMaskingFilter) for h in root.handlers for f in h.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
        )
        handler.addFilter(PiiMaskingFilter())
        root.addHandler(handler)
    root.setLevel(level.upper())


_tracers: dict[str, tuple[trace.TracerProvider, trace.Tracer]] = {}


def tracer(name: str = "aftersales") -> trace.Tracer:
    """The tracer `name` of the current provider (made once: it was 5% of a consumer's CPU)."""
    provider = trace.get_tracer_provider()
    found = _tracers.get(name)
    if found is None or found[0] is not provider:
        found = _tracers[name] = (provider, provider.get_tracer(name))
    return found[1]


def current_trace_id() -> str:
    """The current trace id as 32 hex digits (a fresh random-looking one if none)."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        return f"{context.trace_id:032x}"
    return os.urandom(16).hex()


def inject_headers(headers: dict[str, str]) -> dict[str, str]:
    propagate.inject(headers)
    return headers


def context_from_headers(headers: Mapping[str, str] | None) -> Context:
    return propagate.extract(dict(headers or {}))


TRACE_HEADERS = (b"traceparent", b"tracestate", b"baggage")


def context_from_asgi_headers(headers: Sequence[tuple[bytes, bytes]]) -> Context:
    """The caller's trace context from raw ASGI headers (only the propagation ones decoded)."""
    carried = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers if k in TRACE_HEADERS}
    return propagate.extract(carried) if carried else Context()


def context_for_trace(trace_id: str, span_id: str | None = None) -> Context:
    """A parent context for a stored trace id, so work resumed later joins that trace."""
    span_context = SpanContext(
        trace_id=int(trace_id, 16),
        span_id=int(span_id, 16) if span_id else int.from_bytes(os.urandom(8), "big") or 1,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(NonRecordingSpan(span_context))


def traceparent_for(trace_id: str) -> str:
    """A W3C traceparent header value continuing the given trace."""
    return f"00-{trace_id}-{os.urandom(8).hex()}-01"


@contextmanager
def span(
    name: str,
    context: Context | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    **attributes: str | int | bool,
) -> Iterator[trace.Span]:
    """A span made current for the block; an exception is recorded on it, as OTel's
    `start_as_current_span` does, without its two extra layers of context managers (the
    consumer opens one per message)."""
    current = tracer().start_span(name, context=context, kind=kind, attributes=attributes)
    token = context_api.attach(trace.set_span_in_context(current))
    try:
        yield current
    except Exception as error:
        if current.is_recording():  # as `record_exception`, with PII masked (OTLP exports it)
            trace_text = "".join(traceback.format_exception(error))
            current.add_event(
                "exception",
                {
                    "exception.type": type(error).__qualname__,
                    "exception.message": mask_pii(str(error)),
                    "exception.stacktrace": mask_pii(trace_text),
                },
            )
            described = mask_pii(f"{type(error).__name__}: {error}")
            current.set_status(Status(StatusCode.ERROR, described))
        raise
    finally:
        context_api.detach(token)
        current.end()
