"""`aftersales token issue`: ops bearer tokens minted with the configured key, issuer and
audience; and the short-lived admin token the CLI's own commands use."""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from typing import Any

from shared.security import mint_ops_token
from shared.settings import DEV_SECRET, Settings, load_settings

CLI_TOKEN_TTL_S = 600  # the all-brands admin token the CLI's own commands mint per run


def cli_token(settings: Settings, brands: tuple[str, ...] = ("*",)) -> str:
    """A short-lived admin token (all brands unless narrowed) for the CLI's own calls."""
    return mint_ops_token(
        settings.token_key.encode(),
        sub="aftersales-cli",
        roles=("admin",),
        brands=brands,
        ttl_s=min(CLI_TOKEN_TTL_S, settings.token_max_ttl_s),
        now=int(time.time()),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )


_TTL = re.compile(r"([0-9]{1,7})([smhd]?)")
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}
_BRAND = re.compile(r"\*|[a-z0-9][a-z0-9-]{1,40}")


def cmd_token(args: argparse.Namespace) -> int:
    """`token issue`: print an ops token minted with the configured key, issuer, audience."""
    settings = load_settings(check_secrets=False)
    ttl = _TTL.fullmatch(args.ttl)
    if ttl is None:
        return _refuse(f"--ttl {args.ttl!r}: a number of seconds, or with s, m, h or d")
    ttl_s = int(ttl.group(1)) * _TTL_UNITS[ttl.group(2)]
    if not 1 <= ttl_s <= settings.token_max_ttl_s:
        return _refuse(
            f"--ttl {args.ttl}: tokens live at most {settings.token_max_ttl_s} s "
            "(AFTERSALES_TOKEN_MAX_TTL_S)"
        )
    brands = tuple(dict.fromkeys(args.brand))
    bad = [b for b in brands if not _BRAND.fullmatch(b)]
    if bad:
        return _refuse(f"--brand {bad[0]!r}: a brand id (lowercase slug) or '*' for all brands")
    if settings.token_key == DEV_SECRET and settings.environment != "development":
        sys.stderr.write(
            "aftersales token: minted with the development key (AFTERSALES_TOKEN_KEY unset); "
            "only a platform in development accepts it\n"
        )
    print(
        mint_ops_token(
            settings.token_key.encode(),
            sub=args.sub,
            roles=(args.role,),
            brands=brands,
            ttl_s=ttl_s,
            now=int(time.time()),
            authority_fen=args.authority_fen,
            issuer=settings.token_issuer,
            audience=settings.token_audience,
        )
    )
    return 0


def _fen(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 15:
        raise argparse.ArgumentTypeError("a whole number of fen, 0 or more")
    return int(text)


def _refuse(message: str) -> int:
    sys.stderr.write(f"aftersales token: {message}\n")
    return 2


def add_token_parser(sub: Any) -> None:
    """`token issue --role --brand --ttl --sub --authority-fen` under the CLI's subcommands."""
    token = sub.add_parser("token", help="mint ops bearer tokens (token issue --help)")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    issue = token_sub.add_parser(
        "issue", help="print an ops token signed with AFTERSALES_TOKEN_KEY (settings/env)"
    )
    roles = ["viewer", "handler", "supervisor", "admin"]
    issue.add_argument("--role", required=True, choices=roles)
    issue.add_argument(
        "--brand", action="append", required=True, help="a brand id, repeatable; '*': all brands"
    )
    issue.add_argument("--ttl", default="8h", help="lifetime: 3600, 90m, 8h, 1d (default 8h)")
    issue.add_argument("--sub", default=os.environ.get("USER") or "ops", help="who it is for")
    issue.add_argument(
        "--authority-fen", type=_fen, default=0, help="compensation authority in fen (≥ 0)"
    )
    issue.set_defaults(run=cmd_token)
