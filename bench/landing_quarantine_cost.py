"""What the landing quarantine costs in build time: the project as it is against the project
before the quarantine (a git ref), on the same demo brand, side by side in one run.

    .venv/bin/python bench/landing_quarantine_cost.py [--people 1000000] [--seed 7]
                                                      [--before a511241] [--after HEAD] [--repeat 1]

Each side is `dbt build` of every seed and model (no tests) on a fresh DuckDB file over the same Parquet
landing files; the sides alternate (before, after, before, after, ...) so that a busy machine
weighs on both. Both projects are exported with `git archive` under bench/.work/ (committed work
only) and run with this venv. Printed: each side's wall time, the time dbt spent in the models that read the
landing files (staging, with the base_ models, and the quality models: run_results.json), peak
memory, medians over the repeats, and the ratio after / before. Nothing is enforced: the quarantine
reads every landing row once more than staging views did, and this says how much that costs.
The demo data is generated once per (people, seed) under bench/.work/data/ and reused.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import ROOT, VENV_BIN, WORK, dbt_env, demo_data, measure_child  # noqa: E402

# The ref main stood at before the landing quarantine (issue 22).
BEFORE_QUARANTINE = "a511241"


def export_project(ref: str) -> Path:
    """The project as it was at ref, under bench/.work/projects/<sha>/ (exported once)."""
    sha = subprocess.run(["git", "rev-parse", "--short", ref], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    target = WORK / "projects" / sha
    if not (target / "dbt_project.yml").exists():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", sha], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def dbt_build(project: Path, raw_dir: Path, run_dir: Path) -> dict:
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    cmd = [str(VENV_BIN / "dbt"), "build", "--resource-type", "seed", "--resource-type", "model",
           # This checkout's profile for both: the same connection settings on each side.
           "--profiles-dir", str(ROOT), "--project-dir", str(project),
           "--target-path", str(run_dir / "target"), "--log-path", str(run_dir / "logs")]
    env = dbt_env(raw_dir, run_dir / "onedata.duckdb")
    # Both sides under the same memory limit: on a shared machine, DuckDB's default (80% of it)
    # can meet other processes' memory and the kernel's OOM killer.
    env.setdefault("ONEDATA_DUCKDB_MEMORY_LIMIT", "8GB")
    result = measure_child(cmd, env=env, log_file=run_dir / "dbt.log")
    if result["returncode"] != 0:
        raise SystemExit(f"dbt build failed in {project}; see {run_dir / 'dbt.log'}")
    results = json.loads((run_dir / "target" / "run_results.json").read_text())["results"]
    landing = [result["execution_time"] for result in results if is_landing_model(result["unique_id"])]
    return {"wall": result["seconds"], "landing": sum(landing), "models": len(results),
            "maxrss_mib": result["maxrss_mib"]}


def is_landing_model(unique_id: str) -> bool:
    """A model that reads or checks the landing files: staging (base_ and stg_) and quality (the
    quarantine and landing_quality)."""
    name = unique_id.split(".")[-1]
    return unique_id.startswith("model.") and name.startswith(("base_", "stg_", "int_landing_", "landing_"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--before", default=BEFORE_QUARANTINE, help="git ref of the project before the quarantine")
    parser.add_argument("--after", default="HEAD", help="git ref of the project with the quarantine")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    raw_dir, _, info = demo_data(args.people, args.seed)
    sides = {"before": export_project(args.before), "after": export_project(args.after)}
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    for repeat in range(args.repeat):
        for side, project in sides.items():
            run = dbt_build(project, raw_dir, WORK / "quarantine_cost" / f"{side}-{repeat}")
            runs[side].append(run)
            print(f"run {repeat + 1} {side:>6}: dbt build {run['wall']:8.1f} s wall, landing models "
                  f"{run['landing']:7.1f} s, {run['models']} models, peak {run['maxrss_mib']:.0f} MiB", flush=True)

    median = {side: {key: statistics.median(run[key] for run in side_runs)
                     for key in ("wall", "landing", "maxrss_mib")} for side, side_runs in runs.items()}
    print(f"\n{args.people:,} people ({sum(info['rows'].values()):,} landed rows), medians of {args.repeat} run(s):")
    print(f"{'':>24} {'before':>10} {'after':>10} {'after/before':>13}")
    for key, label in (("wall", "dbt build, wall s"), ("landing", "landing models, s"), ("maxrss_mib", "peak MiB")):
        before, after = median["before"][key], median["after"][key]
        print(f"{label:>24} {before:10.1f} {after:10.1f} {after / before:13.2f}")
    print(f"{'quarantine cost, s':>24} {median['after']['wall'] - median['before']['wall']:21.1f}")


if __name__ == "__main__":
    main()
