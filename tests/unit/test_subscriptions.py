"""Each service consumes exactly the streams that publish an event type it acts on.

A consumer of a stream it acts on nothing from still records every message of it (a
transaction each): pure cost, paid per event by the whole pipeline. And a stream a
handler needs but the service does not consume would leave the handler silent.
"""

from __future__ import annotations

import pytest

from services.compensation.main import SPEC as COMPENSATION
from services.followup.main import SPEC as FOLLOWUP
from services.routing.main import SPEC as ROUTING
from shared.contracts import SERVICE_OF_TYPE, STREAMS
from shared.service import ServiceSpec


def handled_types(spec: ServiceSpec) -> set[str]:
    """The upstream event types the service's application registers handlers for."""
    app = object.__new__(spec.application)  # no store: only the handler table is built
    app.handlers, app.commands, app.timers = {}, {}, {}
    app.register_handlers()
    return set(app.handlers)


@pytest.mark.parametrize("spec", [ROUTING, COMPENSATION, FOLLOWUP], ids=lambda s: s.name)
def test_a_service_consumes_exactly_the_streams_of_what_it_handles(spec: ServiceSpec) -> None:
    types = handled_types(spec)
    assert types, f"{spec.name} handles nothing"
    unknown = types - SERVICE_OF_TYPE.keys()
    assert not unknown, f"{spec.name} handles types no contract declares: {unknown}"
    needed = {STREAMS[SERVICE_OF_TYPE[t]] for t in types}
    assert set(spec.upstreams) == needed, (
        f"{spec.name} consumes {sorted(spec.upstreams)} but acts on events of {sorted(needed)}"
    )


def test_followup_no_longer_reads_routing() -> None:
    """Followup acts on ComplaintReceived and OfferAccepted only: routing's three events per
    complaint were recorded by followup as positions, one transaction each, for nothing."""
    assert "ROUTING" not in FOLLOWUP.upstreams
    assert handled_types(FOLLOWUP) == {"ComplaintReceived", "OfferAccepted"}
