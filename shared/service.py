"""The runtime every service shares: store, bus, relay, consumers, health, limits, tracing.

A service's `main.py` describes itself with a `ServiceSpec`; `create_app` turns that
into a FastAPI app whose lifespan starts the store, the outbox relay and one consumer
per upstream stream, and on shutdown drains them before closing the connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import BrandScope, ops_scope
from shared.bus import Bus, StreamLimits
from shared.consumer import ConsumerRunner
from shared.contracts import publish_as
from shared.errors import install_problem_handlers, problem_response
from shared.openapi_docs import document_problems
from shared.outbox import OutboxRelay
from shared.ratelimit import RateLimits, install_rate_limits
from shared.settings import (
    Settings,
    application_secrets,
    load_settings,
    persistence_env,
    prepare_store,
)
from shared.store import ServiceApplication
from shared.supervisor import Supervisor
from shared.telemetry import context_from_asgi_headers, setup_telemetry, span

log = logging.getLogger("aftersales.service")
MAX_BODY_BYTES = 256 * 1024
A = TypeVar("A", bound=ServiceApplication)


@dataclass
class ServiceSpec:
    """What makes one service: its application, upstream streams and routers."""

    name: str
    title: str
    application: type[ServiceApplication]
    upstreams: Sequence[str]
    routers: Sequence[APIRouter]
    description: str = ""
    background: Sequence[Callable[[Runtime], Awaitable[None]]] = ()
    # Paths whose bodies may be larger than MAX_BODY_BYTES (e.g. a batch import), in bytes.
    body_limits: Mapping[str, int] = field(default_factory=dict)


@dataclass
class Runtime:
    """The running parts of one service process."""

    spec: ServiceSpec
    settings: Settings
    application: ServiceApplication
    bus: Bus
    relay: OutboxRelay
    consumers: list[ConsumerRunner]
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    supervisor: Supervisor | None = None
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        return self.supervisor.tasks if self.supervisor else []

    async def start(self) -> None:
        """Start relay, consumers and background jobs, each supervised."""
        supervisor = Supervisor(self.stop, max_delay=self.settings.task_restart_max_delay_s)
        self.supervisor = supervisor
        supervisor.spawn("relay", lambda: self.relay.run(self.stop))
        for consumer in self.consumers:
            supervisor.spawn(consumer.durable, partial(consumer.run, self.stop))
        for job in self.spec.background:
            supervisor.spawn(job.__name__, partial(job, self))
        with suppress(TimeoutError):  # readiness tells the rest
            await asyncio.wait_for(
                asyncio.gather(*(c.settled.wait() for c in self.consumers)), timeout=30
            )

    async def drain(self) -> None:
        """Finish the message in hand, publish what is recorded, then stop."""
        self.stop.set()
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), 15)
        with suppress(Exception):
            await self.relay.relay_once()
        await self.bus.close()
        await asyncio.to_thread(self.application.close)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def application_of(cls: type[A]) -> Callable[[Request], Awaitable[A]]:
    """A dependency giving routers their service's application, typed."""

    async def application(request: Request) -> A:  # async: no thread-pool hop per request
        app = runtime_of(request).application
        if not isinstance(app, cls):
            raise TypeError(f"this service runs {type(app).__name__}, not {cls.__name__}")
        return app

    return application


def create_app(spec: ServiceSpec, settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    trace_file = settings.trace_file or settings.data_dir / "traces" / f"{spec.name}.jsonl"
    setup_telemetry(spec.name, Path(trace_file), settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = await build_runtime(spec, settings)
        app.state.runtime = runtime
        _install_metrics(runtime)
        await runtime.start()
        log.info("%s ready", spec.name)
        try:
            yield
        finally:
            await runtime.drain()
            log.info("%s stopped", spec.name)

    app = FastAPI(
        title=f"aftersales {spec.name}",
        summary=spec.title,
        description=spec.description,
        version="1.0.0",
        lifespan=lifespan,
        # One span per request is ours (TracingMiddleware, trace id on the response): FastAPI's
        # own request, dependency, endpoint and serialization spans would be four more per
        # request, each exported, and its exception logs would carry request values (PII).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    install_rate_limits(app, RateLimits.from_settings(settings))
    install_problem_handlers(app)
    document_problems(app)
    app.add_middleware(TracingMiddleware, service=spec.name)
    app.add_middleware(BodyLimitMiddleware, limit=MAX_BODY_BYTES, per_path=spec.body_limits)
    app.include_router(health_router())
    app.include_router(ops_router())
    for router in spec.routers:
        app.include_router(router)
    return app


def open_application(spec: ServiceSpec, settings: Settings) -> ServiceApplication:
    """The service's application on its own store (schema created where needed)."""
    env = persistence_env(spec.name, settings)
    env.update(application_secrets(settings))
    prepare_store(env)
    return spec.application(env)


async def build_runtime(spec: ServiceSpec, settings: Settings) -> Runtime:
    publish_as(settings.publish_as)  # a rolling upgrade's old labels (shared/contracts)
    application = await asyncio.to_thread(open_application, spec, settings)
    bus = await Bus.connect(
        settings.nats_url,
        f"aftersales-{spec.name}",
        stream_limits(settings),
        request_s=settings.nats_request_timeout_s,
        user=settings.nats_user,
        password=settings.nats_password,
    )
    await bus.ensure_own_streams(spec.name)
    relay = OutboxRelay(
        application, bus, settings.relay_page_size, settings.nats_request_timeout_s
    )
    consumers = [
        ConsumerRunner(
            application,
            bus,
            upstream,
            settings.max_deliveries,
            settings.consumer_batch_size,
            instance=settings.instance_id,
        )
        for upstream in spec.upstreams
    ]
    return Runtime(spec, settings, application, bus, relay, consumers)


def stream_limits(settings: Settings) -> StreamLimits:
    return StreamLimits(
        max_age_s=settings.stream_max_age_s,
        max_bytes=settings.stream_max_bytes,
        max_msgs=settings.stream_max_msgs,
        duplicate_window_s=settings.stream_duplicate_window_s,
        replicas=settings.stream_replicas,
    )


DEAD_LETTER_PAGE = 100
DEAD_LETTER_MAX_PAGE = 500


class DeadLetterView(BaseModel):
    """A message this service could not process: where it came from and why, no payload."""

    stream: str
    sequence: int
    subject: str
    brand_id: str | None
    error: str = Field(description="Exception type and a fixed reason; never payload values.")
    deliveries: int
    at: str = Field(json_schema_extra={"format": "date-time"})


class DeadLetterPage(BaseModel):
    items: list[DeadLetterView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    """Ready: every check passed. The checks are reported as they are computed."""

    model_config = ConfigDict(extra="allow")
    status: Literal["ready"]
    nats: bool
    store: bool
    relay_lag: int


def ops_router() -> APIRouter:
    """Ops endpoints every service has."""
    from shared.errors import error_responses

    router = APIRouter(prefix="/v1/ops", tags=["ops"])

    @router.get(
        "/dead-letters",
        responses=error_responses(401, 403, 422),
        summary="Messages this service could not process (of the token's brands), oldest first",
    )
    async def dead_letters(
        request: Request,
        scope: Annotated[BrandScope, Depends(ops_scope("supervisor"))],
        cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,18}$")] = None,
        limit: Annotated[int, Query(ge=1, le=DEAD_LETTER_MAX_PAGE)] = DEAD_LETTER_PAGE,
    ) -> DeadLetterPage:
        """Keyset pages: `next_cursor` continues after the last letter looked at; null at the
        end. A page holds at most `limit` letters and may hold fewer (other brands' letters
        are skipped, a bounded number per request), so follow `next_cursor` until null."""
        application = runtime_of(request).application
        return await asyncio.to_thread(
            _dead_letter_page, application, scope, int(cursor or 0), limit
        )

    return router


def _dead_letter_page(
    application: ServiceApplication, scope: BrandScope, after: int, limit: int
) -> DeadLetterPage:
    from shared.dead_letters import brand_of_subject, public_error

    scan = limit if scope.all_brands else min(limit * 10, 5 * DEAD_LETTER_MAX_PAGE)
    found = application.dead_letters(after, scan)
    items: list[DeadLetterView] = []
    last = after
    for notification_id, letter in found:
        last = notification_id
        brand = brand_of_subject(letter.subject)
        if scope.allows(brand):
            items.append(
                DeadLetterView(
                    stream=letter.stream,
                    sequence=letter.sequence,
                    subject=letter.subject,
                    brand_id=brand,
                    error=public_error(letter.error),
                    deliveries=letter.deliveries,
                    at=letter.timestamp.isoformat(),
                )
            )
            if len(items) == limit:
                break
    more = len(items) == limit or len(found) == scan
    return DeadLetterPage(items=items, next_cursor=str(last) if more and found else None)


def health_router() -> APIRouter:
    from shared.errors import error_responses

    router = APIRouter(tags=["health"])

    @router.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> Health:
        return Health(status="ok")

    @router.get(
        "/readyz",
        summary="Readiness: store, NATS, tasks, relay and consumer lag",
        response_model=Readiness,
        responses=error_responses(503),
    )
    async def readyz(request: Request) -> JSONResponse:
        checks, reasons = await readiness(runtime_of(request))
        if reasons:
            detail = "; ".join(reasons)
            return problem_response(
                503, "unavailable", "Not ready", detail, "/readyz", reasons=reasons, checks=checks
            )
        return JSONResponse({"status": "ready", **checks})

    @router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    async def metrics(request: Request) -> PlainTextResponse:
        runtime = runtime_of(request)
        return PlainTextResponse(generate_latest(runtime.registry).decode())

    return router


async def readiness(runtime: Runtime) -> tuple[dict[str, Any], list[str]]:
    """Computed on every call: the checks, and why the service is not ready (empty: ready)."""
    settings, reasons = runtime.settings, []
    checks: dict[str, Any] = {"nats": runtime.bus.connected}
    if not checks["nats"]:
        reasons.append(runtime.bus.problem or "NATS is disconnected")
    newest = 0
    try:
        recorder = runtime.application.recorder
        newest = await asyncio.to_thread(lambda: recorder.max_notification_id() or 0)
        checks["store"] = True
    except Exception as error:
        checks["store"] = False
        checks["store_error"] = type(error).__name__
        reasons.append(f"the store is unavailable ({type(error).__name__})")
    supervisor = runtime.supervisor
    states = supervisor.states if supervisor else {}
    checks["tasks"] = {name: state.as_dict() for name, state in states.items()}
    down = supervisor.down() if supervisor else []
    reasons += [f"task {state.name} is down: {state.last_error}" for state in down]
    relay = runtime.relay
    relay_lag = max(0, newest - relay.position)
    age = relay.unpublished_age(newest)
    checks["relay"] = {"lag": relay_lag, "unpublished_age_s": round(age, 3), "stuck": relay.stuck}
    checks["relay_lag"] = relay_lag
    if relay.stuck:
        stuck = relay.stuck
        reasons.append(
            f"relay is stuck at notification {stuck['notification_id']} "
            f"({stuck['attempts']} attempts): {stuck['error']}"
        )
    if relay_lag > settings.ready_max_relay_lag:
        reasons.append(f"relay lag {relay_lag} > {settings.ready_max_relay_lag}")
    if age > settings.ready_max_unpublished_age_s:
        reasons.append(
            f"notification {relay.position + 1} unpublished for {age:.1f} s "
            f"> {settings.ready_max_unpublished_age_s} s"
        )
    checks["consumers"] = {}
    for consumer in runtime.consumers:
        lag = await _lag(consumer)
        checks["consumers"][consumer.tracking] = {
            "ready": consumer.ready,
            "status": consumer.status,
            "position": consumer.position,
            "lag": lag,
            "problem": consumer.problem,
            "lost": consumer.lost,
            "losses": consumer.losses,
        }
        if consumer.problem:
            reasons.append(f"consumer {consumer.tracking}: {consumer.problem}")
        elif not consumer.ready:
            reasons.append(f"consumer {consumer.tracking} is {consumer.status}")
        if lag is not None and lag > settings.ready_max_consumer_lag:
            reasons.append(
                f"consumer {consumer.tracking} lag {lag} > {settings.ready_max_consumer_lag}"
            )
    return checks, reasons


async def _lag(consumer: ConsumerRunner) -> int | None:
    try:
        return await consumer.lag()
    except Exception:
        return None


def _install_metrics(runtime: Runtime) -> None:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.registry import Collector

    registry = runtime.registry
    runtime.extras["requests"] = Counter(
        "aftersales_http_requests", "HTTP requests", ["method", "status"], registry=registry
    )
    runtime.extras["latency"] = Histogram(
        "aftersales_http_request_seconds", "HTTP request latency", ["method"], registry=registry
    )

    class RuntimeCollector(Collector):
        def collect(self) -> Any:
            relay = GaugeMetricFamily("aftersales_relay_published", "Events published")
            relay.add_metric([], runtime.relay.published)
            yield relay
            consumers = runtime.consumers
            for name, doc, attribute in (
                ("aftersales_consumer_processed", "Upstream events processed", "processed"),
                ("aftersales_dead_letters", "Messages dead-lettered", "dead_lettered"),
                ("aftersales_consumer_gaps", "Gaps seen (consumer repositioned)", "gaps"),
                ("aftersales_consumer_lost", "Messages discarded unprocessed", "lost"),
            ):
                family = GaugeMetricFamily(name, doc, labels=["upstream"])
                for c in consumers:
                    family.add_metric([c.tracking], getattr(c, attribute))
                yield family
            holding = GaugeMetricFamily(
                "aftersales_consumer_holding",
                "1 when the upstream stream ends before the recorded position",
                labels=["upstream"],
            )
            for c in consumers:
                holding.add_metric([c.tracking], 1 if c.status == "holding" else 0)
            yield holding
            states = runtime.supervisor.states if runtime.supervisor else {}
            restarts = CounterMetricFamily(
                "aftersales_task_restarts", "Supervised task restarts", labels=["task"]
            )
            up = GaugeMetricFamily("aftersales_task_up", "1 while the task runs", labels=["task"])
            for name, state in states.items():
                restarts.add_metric([name], state.restarts)
                up.add_metric([name], 1 if state.state == "running" else 0)
            yield restarts
            yield up

    registry.register(RuntimeCollector())


class BodyLimitMiddleware:
    """Refuse bodies over the limit with 413 problem+json: declared (Content-Length) or
    streamed (chunked, or more than declared), whatever the app made of the cut-off read."""

    def __init__(
        self, app: ASGIApp, limit: int, per_path: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.limit = limit
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.limit)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, limit)
            return
        seen, over, started = 0, False, False

        async def limited() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise _TooLarge
            return message

        async def answer(message: Message) -> None:
            # Once the body went over, what the app answers is about our refusal (FastAPI
            # turns an error raised while it parses a body into a 400): ours goes instead.
            nonlocal started
            if over:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        with suppress(_TooLarge):
            await self.app(scope, limited, answer)
        if over and not started:
            await self._refuse(scope, receive, send, limit)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        detail = f"The body is over {limit // 1024} KiB."
        response = problem_response(
            413, "payload-too-large", "Payload too large", detail, scope.get("path")
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class TracingMiddleware:
    """A server span per request, continuing the caller's `traceparent` if any."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in ("/healthz", "/readyz", "/metrics"):
            await self.app(scope, receive, send)
            return
        route = f"{scope['method']} {scope['path']}"
        with span(
            route,
            context_from_asgi_headers(scope["headers"]),
            SpanKind.SERVER,
            **{"http.method": scope["method"], "aftersales.service": self.service},
        ) as current:
            trace_id = f"{current.get_span_context().trace_id:032x}"

            async def send_with_trace(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message.setdefault("headers", [])
                    message["headers"] = [*message["headers"], (b"x-trace-id", trace_id.encode())]
                    current.set_attribute("http.status_code", message["status"])
                await send(message)

            await self.app(scope, receive, send_with_trace)
