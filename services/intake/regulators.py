"""Regulators (消协 / 12315): registration, signed requests with single-use nonces, transfers.

A transfer (转办) is admitted like a complaint, under an id derived from the regulator's
own number, so the same number twice is one complaint.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, date, datetime
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate

from services.intake.admission import Admission, Outcome
from services.intake.base import Arrival
from services.intake.commands import (
    ReceiveTransfer,
    RegisterRegulator,
    SignedRequest,
    facts_args,
    facts_from,
)
from services.intake.domain import Complaint, Regulator, RegulatorNonce
from services.intake.errors import (
    AlreadyRegistered,
    RegulatorRefused,
    TransferNotFound,
    TransferToUnknownBrand,
)
from services.intake.free_text import DESCRIPTION
from services.intake.nonces import PRUNE_EVERY_S, claim_nonce, prune_expired
from services.intake.transfer_deadlines import revise_deadlines, transfer_date, transfer_deadline
from services.intake.vault import SealedConsumer, subject_entry
from services.intake.views import transfer_view
from shared.inputs import ReceivedCommand
from shared.security import (
    DEFAULT_MAX_SKEW_SECONDS,
    SignatureError,
    parse_timestamp_header,
    verify_request,
)
from shared.service import Runtime
from shared.store import derive_id

log = logging.getLogger("aftersales.regulators")
# What the caller of any refused regulator request reads (the reason is in the log only).
REGULATOR_REFUSED = (
    "The request could not be authenticated: sign it as documented, with the regulator's "
    "secret, a timestamp within 5 minutes of the server's clock and a nonce never used before."
)
MAX_SKEW_S = DEFAULT_MAX_SKEW_SECONDS
REGULATOR_DESK = "regulator-desk"  # who took a transfer when it names nobody (首问负责制)


class Regulators(Admission):
    """Regulator integrations and the complaints they transfer."""

    _decoy_regulator: tuple[str, str] | None = None  # wrapped key, sealed secret

    def register_regulators(self) -> None:
        self.command("regulator.register", self._on_register_regulator)
        self.command("regulator.nonce", self._on_nonce)
        self.command("regulator.transfer", self._on_transfer)

    def register_regulator(self, command: RegisterRegulator) -> str:
        """Register a regulator integration; returns its signing secret, shown once.

        HMAC verification needs the secret itself, so it is stored encrypted (under a
        key of its own, wrapped by the master key), not hashed. Secret and key are drawn
        and sealed here, at the edge: the recorded command holds only their sealed forms.
        """
        secret = secrets.token_urlsafe(32)
        key = self.cipher.new_subject_key()
        args = {
            "regulator_id": command.regulator_id,
            "name": command.name,
            "kind": command.kind,
            "wrapped_key": base64.b64encode(self.cipher.wrap_key(key)).decode(),
            "sealed_secret": self.cipher.encrypt_field(
                key, secret, _secret_aad(command.regulator_id)
            ),
        }
        self.execute("regulator.register", args, command.registered_at)
        return secret

    def _on_register_regulator(
        self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]
    ) -> None:
        args = cmd.args
        aggregate_id = derive_id("regulator", args["regulator_id"])
        if self.get_or_none(aggregate_id) is not None:
            raise AlreadyRegistered(f"regulator {args['regulator_id']} is already registered")
        regulator = Regulator(
            id=aggregate_id,
            regulator_id=args["regulator_id"],
            name=args["name"],
            kind=args["kind"],
            wrapped_key=args["wrapped_key"],
            sealed_secret=args["sealed_secret"],
            registered_at=cmd.at.isoformat(),
        )
        processing.collect_events(regulator)

    def authenticate_regulator(self, signed: SignedRequest, now: datetime) -> Regulator:
        """Verify a signed regulator request and claim its nonce before anything acts on it.

        `now` is the request's receive time (read at the edge). Every refusal is the same
        `RegulatorRefused` to the caller; the reason goes to the log (`refuse_regulator`).
        """
        regulator: Regulator | None = self.get_or_none(derive_id("regulator", signed.regulator_id))
        if not isinstance(regulator, Regulator):
            self._decoy_verification(signed, now)  # as long as a known one's bad signature
            raise refuse_regulator("unknown regulator", signed)
        try:
            timestamp = parse_timestamp_header(signed.timestamp)
            verify_request(
                self._regulator_secret(regulator),
                signed.method,
                signed.path,
                timestamp,
                signed.nonce,
                signed.body,
                signed.signature,
                now=int(now.timestamp()),
                max_skew=MAX_SKEW_S,
            )
        except SignatureError as error:
            raise refuse_regulator(error.reason, signed) from error
        # Remembered while a request with this timestamp could still be accepted.
        expires_at = float(timestamp + MAX_SKEW_S)
        if not claim_nonce(
            self.read_models, regulator.regulator_id, signed.nonce, expires_at, now.timestamp()
        ):
            raise refuse_regulator("nonce already used", signed)
        return regulator

    def prune_regulator_nonces(self, now: datetime) -> int:
        """Forget the nonces whose requests would now be refused as stale; returns how many."""
        return prune_expired(self.read_models, now.timestamp())

    def _decoy_verification(self, signed: SignedRequest, now: datetime) -> None:
        """Unseal a decoy secret and check the signature with it, so an unknown regulator
        id takes as long to refuse as a known one's bad signature."""
        decoy = self._decoy_regulator
        if decoy is None:
            key = self.cipher.new_subject_key()
            wrapped = base64.b64encode(self.cipher.wrap_key(key)).decode()
            sealed = self.cipher.encrypt_field(key, secrets.token_urlsafe(32), _secret_aad(""))
            decoy = self._decoy_regulator = (wrapped, sealed)
        key = self.cipher.unwrap_key(base64.b64decode(decoy[0]))
        secret = self.cipher.decrypt_field(key, decoy[1], _secret_aad("")).encode()
        with suppress(SignatureError):
            verify_request(
                secret,
                signed.method,
                signed.path,
                parse_timestamp_header(signed.timestamp),
                signed.nonce,
                signed.body,
                signed.signature,
                now=int(now.timestamp()),
            )

    def _regulator_secret(self, regulator: Regulator) -> bytes:
        key = self.cipher.unwrap_key(base64.b64decode(regulator.wrapped_key))
        aad = _secret_aad(regulator.regulator_id)
        return self.cipher.decrypt_field(key, regulator.sealed_secret, aad).encode()

    def _on_nonce(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> None:
        """Before issue 17 each accepted nonce was recorded as this command and an aggregate,
        kept forever; nonces now live in a pruned table (nonces.py). Kept so that a replay
        of a log from then re-creates the same events."""
        args = cmd.args
        nonce_id = derive_id("regulator-nonce", args["regulator_id"], args["nonce"])
        if self.get_or_none(nonce_id) is not None:
            raise refuse_regulator("nonce already used (recorded)", None)
        processing.collect_events(
            RegulatorNonce(
                id=nonce_id,
                regulator_id=args["regulator_id"],
                nonce=args["nonce"],
                method=args["method"],
                path=args["path"],
                timestamp=args["timestamp"],
                body_sha256=args["body_sha256"],
                received_at=cmd.at.isoformat(),
            )
        )

    def receive_transfer(self, command: ReceiveTransfer) -> Outcome:
        """Record a regulator's transfer (转办) as a complaint; the same number twice is one.

        Transfers are not screened as duplicates or nuisance: the regulator set a deadline
        and expects an outcome for this number. They do join merchant groups.
        """
        complaint_id = derive_id(
            "regulator-transfer", command.regulator_id, command.transfer_number
        )
        existing = self.get_or_none(complaint_id)
        if isinstance(existing, Complaint):  # a read: nothing to record
            return 200, transfer_view(existing)
        facts = command.facts
        assert facts.consumer is not None, "a transfer arrives with its consumer"
        sealed, text = self.vault.seal_with_text(
            command.brand_id, facts.consumer, str(complaint_id), {DESCRIPTION: facts.description}
        )
        args = {
            "regulator_id": command.regulator_id,
            "transfer_number": command.transfer_number,
            "deadline_working_days": command.deadline_working_days,
            "transferred_on": _iso(command.transferred_on),
            "brand_id": command.brand_id,
            "facts": facts_args(
                replace(
                    facts,
                    description=text.redacted[DESCRIPTION],
                    received_by=facts.received_by or REGULATOR_DESK,
                )
            ),
            "consumer": sealed.as_args(),
            "trace_id": command.trace_id,
            "sealed_text": text.sealed_or_none(),
        }
        outcome: Outcome = self.execute("regulator.transfer", args, command.received_at)
        return outcome

    def _on_transfer(self, cmd: ReceivedCommand, processing: ProcessingEvent[UUID]) -> Outcome:
        args = cmd.args
        number = args["transfer_number"]
        complaint_id = derive_id("regulator-transfer", args["regulator_id"], number)
        existing = self.get_or_none(complaint_id)
        if isinstance(existing, Complaint):
            return 200, transfer_view(existing)
        if self.get_or_none(derive_id("brand", args["brand_id"])) is None:
            raise TransferToUnknownBrand(
                f"brand_id: brand {args['brand_id']!r} is not registered",
                errors=[
                    {
                        "loc": ["body", "brand_id"],
                        "msg": "brand is not registered",
                        "type": "unknown_brand",
                    }
                ],
            )
        regulator: Regulator = self.repository.get(derive_id("regulator", args["regulator_id"]))
        complaint, aggregates = self._admit_transfer(cmd, regulator, complaint_id)
        processing.collect_events(*aggregates)
        return 201, transfer_view(complaint)

    def _admit_transfer(
        self, cmd: ReceivedCommand, regulator: Regulator, complaint_id: UUID
    ) -> tuple[Complaint, list[Aggregate]]:
        """The transfer's case with its deadline (China working days) and vault entry."""
        args = cmd.args
        days: int = args["deadline_working_days"]
        # The packaged years plus any loaded (recorded) ones; from the regulator's date.
        on = transfer_date(args.get("transferred_on"), cmd.at)
        deadline = transfer_deadline(self.calendar, on, days)
        sealed = SealedConsumer.from_args(args["consumer"])
        subject = subject_entry(args["brand_id"], sealed, self.get_or_none(UUID(sealed.subject_id)))
        file = self._consumer_file(args["brand_id"], subject.id)
        arrival = Arrival(
            args["brand_id"],
            args["trace_id"],
            complaint_id,
            str(subject.id),
            "regulator",
            facts_from(args["facts"]),
            cmd.at,
            args.get("sealed_text"),
        )
        received = {
            "regulator_id": regulator.regulator_id,
            "regulator_name": regulator.name,
            "transfer_number": args["transfer_number"],
            "deadline_working_days": days,
            **deadline.as_record(),
        }
        complaint, aggregates = self._open_case(arrival, file, None, received)
        return complaint, [subject, complaint, *aggregates]

    def on_calendar_loaded(self, year: int, processing: ProcessingEvent[UUID]) -> None:
        """A year was loaded: transfer deadlines counted without it (or with its old days)
        are recounted, in the transaction that records the load."""
        super().on_calendar_loaded(year, processing)
        revised = revise_deadlines(self, year, processing)
        if revised:
            log.info("calendar %d loaded: %d transfer deadlines revised", year, revised)

    def transfer(self, regulator: Regulator, transfer_number: str) -> Complaint:
        """The complaint a regulator's transfer became; another regulator's is not found."""
        complaint_id = derive_id("regulator-transfer", regulator.regulator_id, transfer_number)
        complaint: Complaint | None = self.get_or_none(complaint_id)
        if not isinstance(complaint, Complaint):
            raise TransferNotFound(
                f"transfer {transfer_number} not found for {regulator.regulator_id}"
            )
        return complaint


async def prune_regulator_nonces(runtime: Runtime) -> None:
    """Background job: every minute, forget the nonces that can no longer be replayed."""
    app = runtime.application
    assert isinstance(app, Regulators)
    while not runtime.stop.is_set():
        pruned = await asyncio.to_thread(app.prune_regulator_nonces, datetime.now(UTC))
        if pruned:
            log.debug("pruned %d expired regulator nonces", pruned)
        with suppress(TimeoutError):
            await asyncio.wait_for(runtime.stop.wait(), PRUNE_EVERY_S)


def refuse_regulator(reason: str, signed: SignedRequest | None) -> RegulatorRefused:
    """The one answer to every unauthenticated regulator request; the reason is logged.

    Unknown regulator, bad signature, stale timestamp, malformed or missing headers and a
    reused nonce look alike to the caller, so a prober learns neither which regulator ids
    exist nor which part of its forgery failed. The log carries no secret or signature.
    """
    fields = {
        "reason": reason,
        "regulator_id": signed.regulator_id[:64] if signed else None,
        "method": signed.method if signed else None,
        "path": signed.path[:200] if signed else None,
        "timestamp": signed.timestamp[:20] if signed else None,
    }
    log.warning(
        "regulator request refused: %s",
        " ".join(f"{k}={v!r}" for k, v in fields.items()),
        extra={"aftersales": fields},
    )
    return RegulatorRefused(REGULATOR_REFUSED)


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _secret_aad(regulator_id: str) -> str:
    return f"regulator:{regulator_id}:secret"
