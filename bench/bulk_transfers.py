"""Regulator batch import: a seeded NDJSON file of transfers, and the import measured.

    .venv/bin/python -m bench.bulk_transfers gen FILE --count 100000 --brand bulk-bench
    .venv/bin/python -m bench.bulk_transfers inproc --count 20000   # the use case, no HTTP

`gen` writes one transfer per line (consumers mostly distinct, some repeating; 2,000
merchants, so group complaints form); `inproc` times the intake use case on a scratch
SQLite store (parse, seal, record) to separate its cost from HTTP's.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CATEGORIES = ("预付卡 prepaid card", "冰箱 refrigerator", "手机 phone", "洗发水 shampoo")


def transfer(rng: random.Random, n: int, brand: str) -> dict[str, Any]:
    consumer = rng.randrange(max(n, 1)) if rng.random() < 0.05 else n
    merchant = rng.randrange(2000)
    return {
        "transfer_number": f"12315-2026-{n:08d}",
        "deadline_working_days": rng.choice((5, 7, 10, 15)),
        "brand_id": brand,
        "complaint": {
            "consumer": {"name": "张女士", "phone": f"13{consumer % 10}{consumer:08d}"[:11]},
            "product": {"category": rng.choice(CATEGORIES), "model": f"M-{rng.randrange(50)}"},
            "order": {"price_fen": rng.randrange(100, 10**6), "merchant": f"商户{merchant:04d}"},
            "description": "会所更名后原充值消费卡不能继续使用，要求退还余额。",
            "demands": [{"kind": "refund"}],
        },
    }


def generate(path: Path, count: int, brand: str, seed: int) -> None:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            out.write(json.dumps(transfer(rng, n, brand), ensure_ascii=False) + "\n")


def inproc(count: int, chunk: int, seed: int) -> None:
    from services.intake.application import IntakeApplication
    from services.intake.bulk import parse_batch, to_import_transfers
    from services.intake.commands import RegisterBrand, RegisterRegulator
    from shared.settings import Settings, application_secrets, persistence_env

    data = Path(tempfile.mkdtemp(prefix="bulk-bench-"))
    settings = Settings(environment="test", data_dir=data)
    app = IntakeApplication(
        {**persistence_env("intake", settings), **application_secrets(settings)}
    )
    now = datetime.now(UTC)
    app.register_brand(RegisterBrand("bulk-bench", "Bulk", now))
    app.register_regulator(RegisterRegulator("r-12315", "12315", "market_regulator", now))
    rng = random.Random(seed)
    bodies = [
        json.dumps({"transfers": [transfer(rng, n, "bulk-bench") for n in range(s, s + chunk)]})
        for s in range(0, count, chunk)
    ]
    spent = {"parse": 0.0, "import": 0.0}
    started, cpu = time.perf_counter(), time.process_time()
    for body in bodies:
        t0 = time.perf_counter()
        items = parse_batch(body.encode())
        t1 = time.perf_counter()
        command = to_import_transfers(items, "r-12315", "0" * 32, datetime.now(UTC))  # type: ignore[arg-type]
        results = app.import_transfers(command)
        t2 = time.perf_counter()
        spent["parse"] += t1 - t0
        spent["import"] += t2 - t1
        assert all(r["status"] == 201 for r in results), results[:3]
    total, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(f"{count} transfers in {total:.2f} s: {count / total:,.0f}/s "
          f"(CPU {cpu:.2f} s: {count / cpu:,.0f}/s per core); "
          + ", ".join(f"{k} {v:.2f} s" for k, v in spent.items()))
    app.close()


def main() -> None:
    top = argparse.ArgumentParser()
    sub = top.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("gen")
    gen.add_argument("file", type=Path)
    gen.add_argument("--count", type=int, default=100_000)
    gen.add_argument("--brand", default="bulk-bench")
    gen.add_argument("--seed", type=int, default=16)
    run = sub.add_parser("inproc")
    run.add_argument("--count", type=int, default=20_000)
    run.add_argument("--chunk", type=int, default=2000)
    run.add_argument("--seed", type=int, default=16)
    args = top.parse_args()
    if args.command == "gen":
        generate(args.file, args.count, args.brand, args.seed)
    else:
        inproc(args.count, args.chunk, args.seed)


if __name__ == "__main__":
    main()
