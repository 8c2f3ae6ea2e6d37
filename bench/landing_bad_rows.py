"""One bad landing row at a time into a demo brand: does the build stay green with a warning, is
the row in the quarantine with its reason, and does nothing else downstream move?

    .venv/bin/python bench/landing_bad_rows.py [--people 10000] [--seed 7]

The brand is generated once as CSV (bench/.work/bad_rows/), built once clean, then, for every bad
row that tests/test_landing_quarantine.py lands (one per class of docs/landing-contract.md, "What
happens to a bad row"), built again with that row alone landed beside the brand's files. For each
it prints the build's status and warning count, what the quarantine holds, and which tables of the
marts, tags, segments, analysis and review schemas differ from the clean build: none may, except
for the two rows the contract keeps as anonymous (an order and an event naming an unknown
customer), whose own contribution shows in the tables that count anonymous sales or events.
Exit code 1 when a class does not behave so.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import WORK  # noqa: E402
from tests.test_landing_quarantine import (  # noqa: E402
    copy_landing,
    dbt,
    environment,
    land_bad_csv_rows,
    rows,
    table_fingerprints,
)

SCHEMAS = ("marts", "tags", "segments", "analysis", "review")
# The kept rows count where anonymous sales and events count, and nowhere a member is.
KEPT_ROW_TABLES = {
    "q-nobody": {"marts.fct_orders", "analysis.analysis_cvm_monthly"},
    "q-stranger": {"marts.fct_behavior_events"},
}


def bad_rows(clean: Path, scratch: Path) -> list[tuple[str, str, list[str]]]:
    """(table, file name, [header, one bad line]) for every bad line the tests land."""
    shutil.rmtree(scratch, ignore_errors=True)
    copy_landing(clean, scratch)
    land_bad_csv_rows(clean, scratch)
    found = []
    for folder in sorted(scratch.iterdir()):
        for file in folder.glob("part-late.csv"):
            header, *lines = file.read_bytes().split(b"\n")
            found += [(folder.name, file.name, [header, line]) for line in lines if line]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from activation.demo_data import generate

    base = WORK / "bad_rows" / f"people_{args.people}_seed_{args.seed}"
    clean = base / "clean"
    if not (base / "complete").exists():
        shutil.rmtree(base, ignore_errors=True)
        generate(raw_dir=clean, truth_dir=base / "truth", people=args.people, seed=args.seed, file_format="csv")
        (base / "complete").touch()
    started = time.perf_counter()
    dbt(environment(clean, base / "clean.duckdb", "csv"), base / "clean-dbt", "build")
    print(f"clean build: {time.perf_counter() - started:.0f} s", flush=True)
    reference = table_fingerprints(base / "clean.duckdb", SCHEMAS)

    failures = 0
    for table, file_name, lines in bad_rows(clean, base / "all-bad"):
        landed = base / "one-bad"
        shutil.rmtree(landed, ignore_errors=True)
        copy_landing(clean, landed)
        (landed / table / file_name).write_bytes(b"\n".join(lines) + b"\n")
        database = base / "one-bad.duckdb"
        database.unlink(missing_ok=True)
        build = dbt(environment(landed, database, "csv"), base / "one-bad-dbt", "build", check=False)
        quarantined = rows(database, "select landing_table, rejection_reason, is_row_kept, coalesce(row_key, '') "
                                     "from quality.landing_quarantine order by 1, 2")
        moved = sorted(name for name, fingerprint in table_fingerprints(database, SCHEMAS).items()
                       if reference.get(name) != fingerprint)
        allowed = set().union(*(tables for key, tables in KEPT_ROW_TABLES.items() if key.encode() in lines[1]))
        summary = build.stdout.strip().splitlines()[-1]
        ok = (build.returncode == 0 and "WARN=1 ERROR=0" in summary and quarantined
              and set(moved) <= allowed)
        failures += not ok
        found = ", ".join(f"{name}:{reason}" + (" (kept)" if kept else "") for name, reason, kept, _ in quarantined)
        print(f"{'ok  ' if ok else 'FAIL'} {table:<18} {found:<70} moved: {', '.join(moved) or 'nothing'}"
              f"   [{summary.split('Done. ')[-1]}]", flush=True)
    print(f"\n{'every class behaved' if not failures else f'{failures} class(es) did not behave'} "
          f"({time.perf_counter() - started:.0f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
