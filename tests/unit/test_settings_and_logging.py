"""Unit tests for fail-fast settings (STYLE.md rule 10) and PII-masking logs.

A wrong variable stops the process at start-up with exit status 2 and a message naming
it; production refuses the development secrets; logs never carry a mobile number or a
resident ID number in clear.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.settings import DEV_SECRET, load_settings, persistence_env
from shared.telemetry import PiiMaskingFilter, mask_pii

REAL_SECRET = "k" * 48
SECRETS = ("TOKEN_KEY", "PII_MASTER_KEY", "PII_INDEX_KEY")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("AFTERSALES_", "POSTGRES_")) or name == "PERSISTENCE_MODULE":
            monkeypatch.delenv(name)


def refused(capsys: pytest.CaptureFixture[str]) -> str:
    """Load the settings, expect exit status 2, and return what was written to stderr."""
    with pytest.raises(SystemExit) as exit_info:
        load_settings()
    assert exit_info.value.code == 2
    return capsys.readouterr().err


# --- load_settings --------------------------------------------------------------------------


def test_defaults_load_in_a_declared_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_ENVIRONMENT", "development")
    settings = load_settings()
    assert settings.environment == "development"
    assert settings.admin_token_enabled
    assert settings.nats_url.startswith("nats://")


def test_unset_environment_is_production_and_refuses_the_development_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = refused(capsys)
    for name in SECRETS:
        assert f"AFTERSALES_{name}" in err
    assert "AFTERSALES_ENVIRONMENT=development" in err
    assert "unset" in err
    assert DEV_SECRET not in err


def test_test_environment_refuses_the_development_secrets_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AFTERSALES_ENVIRONMENT", "test")
    monkeypatch.setenv("AFTERSALES_PII_INDEX_KEY", REAL_SECRET)
    err = refused(capsys)
    assert "AFTERSALES_TOKEN_KEY" in err
    assert "AFTERSALES_PII_MASTER_KEY" in err
    assert "AFTERSALES_PII_INDEX_KEY" not in err
    settings_with_real = {f"AFTERSALES_{n}": REAL_SECRET for n in SECRETS}
    for name, value in settings_with_real.items():
        monkeypatch.setenv(name, value)
    loaded = load_settings()
    assert loaded.environment == "test"
    assert not loaded.admin_token_enabled  # the static admin token is development-only


def test_nats_url_that_is_not_nats_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AFTERSALES_NATS_URL", "http://x")
    err = refused(capsys)
    assert "AFTERSALES_NATS_URL" in err
    assert "nats://" in err


def test_short_token_key_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AFTERSALES_TOKEN_KEY", "too-short")
    err = refused(capsys)
    assert "AFTERSALES_TOKEN_KEY" in err
    assert "at least 32 characters" in err
    assert "too-short" not in err  # a secret, even a bad one, is not echoed


def test_every_wrong_variable_is_named_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AFTERSALES_NATS_URL", "http://x")
    monkeypatch.setenv("AFTERSALES_STREAM_REPLICAS", "9")
    monkeypatch.setenv("AFTERSALES_ENVIRONMENT", "staging")
    err = refused(capsys)
    for name in ("AFTERSALES_NATS_URL", "AFTERSALES_STREAM_REPLICAS", "AFTERSALES_ENVIRONMENT"):
        assert name in err


def test_production_refuses_the_development_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AFTERSALES_ENVIRONMENT", "production")
    err = refused(capsys)
    for name in SECRETS:
        assert f"AFTERSALES_{name}" in err
    assert DEV_SECRET not in err


def test_production_names_only_the_secrets_still_left_at_development_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AFTERSALES_ENVIRONMENT", "production")
    for name in SECRETS[:2]:
        monkeypatch.setenv(f"AFTERSALES_{name}", REAL_SECRET)
    err = refused(capsys)
    assert "AFTERSALES_PII_INDEX_KEY" in err
    assert "AFTERSALES_TOKEN_KEY" not in err


def test_production_with_real_secrets_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSALES_ENVIRONMENT", "production")
    for name in SECRETS:
        monkeypatch.setenv(f"AFTERSALES_{name}", REAL_SECRET)
    monkeypatch.setenv("AFTERSALES_NATS_USER", "routing")
    monkeypatch.setenv("AFTERSALES_NATS_PASSWORD", REAL_SECRET)
    assert load_settings().environment == "production"


def test_production_refuses_anonymous_nats(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AFTERSALES_ENVIRONMENT", "production")
    for name in SECRETS:
        monkeypatch.setenv(f"AFTERSALES_{name}", REAL_SECRET)
    err = refused(capsys)
    assert "AFTERSALES_NATS_USER" in err
    assert "AFTERSALES_NATS_PASSWORD" in err


# --- persistence_env ------------------------------------------------------------------------


def test_sqlite_store_is_one_file_per_service_under_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AFTERSALES_DATA_DIR", str(tmp_path / "data"))
    env = persistence_env("routing", load_settings(check_secrets=False))
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite"
    assert env["SQLITE_DBNAME"] == str(tmp_path / "data" / "routing.db")


def test_postgres_store_gets_a_schema_per_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.postgres")
    monkeypatch.setenv("POSTGRES_DBNAME", "aftersales")
    env = persistence_env("compensation", load_settings(check_secrets=False))
    assert env["POSTGRES_SCHEMA"] == "compensation"
    assert env["POSTGRES_DBNAME"] == "aftersales"


def test_postgres_without_a_database_name_stops_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.postgres")
    with pytest.raises(SystemExit, match="POSTGRES_DBNAME"):
        persistence_env("intake", load_settings(check_secrets=False))


def test_unsupported_persistence_module_stops_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.mongodb")
    with pytest.raises(SystemExit, match=re.escape("PERSISTENCE_MODULE='eventsourcing.mongodb'")):
        persistence_env("intake", load_settings(check_secrets=False))


# --- PII in logs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call 13812345678 back", "call 138****5678 back"),
        ("tel:19912345678.", "tel:199****5678."),
        ("手机13912345678，请回电", "手机139****5678，请回电"),
    ],
)
def test_mobile_numbers_are_masked_keeping_prefix_and_last_four(text: str, masked: str) -> None:
    assert mask_pii(text) == masked


@pytest.mark.parametrize(
    "id_number", ["110101199003071234", "11010119900307123X", "44030420051231001x"]
)
def test_resident_id_numbers_are_masked_whole(id_number: str) -> None:
    assert mask_pii(f"身份证 {id_number} 已核验") == "身份证 [id-number] 已核验"


@pytest.mark.parametrize(
    "text",
    [
        "order 2026030212345 for 500000 fen",  # order refs and amounts
        "12012345678",  # not a mobile prefix (12x)
        "138123456789",  # 12 digits: not a mobile number
        "trace 0af7651916cd43dd8448eb211c80319c",
    ],
)
def test_other_numbers_are_left_alone(text: str) -> None:
    assert mask_pii(text) == text


def test_e_mail_addresses_landlines_and_bank_cards_are_masked_too() -> None:
    text = "from lin@example.com, 021-62345678, card 6222021234567890123"
    assert mask_pii(text) == "from [邮箱], 021****5678, card [银行卡号]"


def test_mobile_number_in_e164_form_is_masked() -> None:
    assert mask_pii("phone +8613812345678") == "phone +86138****5678"


@pytest.fixture
def masked_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(PiiMaskingFilter())
    logger = logging.getLogger("tests.unit.pii")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, out
    logger.removeHandler(handler)


def test_log_records_are_masked_in_message_and_arguments(
    masked_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = masked_log
    logger.info(
        "consumer 13812345678 with id %s called from %s", "110101199003071234", "13912345678"
    )
    line = out.getvalue()
    assert "consumer 138****5678 with id [id-number] called from 139****5678" in line
    for clear in ("13812345678", "13912345678", "110101199003071234"):
        assert clear not in line


def test_filter_masks_a_record_before_any_handler_formats_it() -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "id %s", ("110101199003071234",), None
    )
    assert PiiMaskingFilter().filter(record) is True
    assert record.getMessage() == "id [id-number]"


def test_exception_text_in_a_logged_traceback_is_masked(
    masked_log: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = masked_log
    try:
        raise ValueError("cannot reach 13812345678")
    except ValueError:
        logger.exception("lookup failed")
    assert "13812345678" not in out.getvalue()
