"""Shared helpers for the benchmarks in bench/: demo data (generated once per people/seed, reused),
dbt builds isolated under bench/.work/, peak memory of child processes."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work"
VENV_BIN = Path(sys.executable).parent


def generator_fingerprint() -> str:
    """A hash of the demo generator's source: data made by another generator (a new trap, another
    distribution) is made again rather than reused."""
    digest = hashlib.sha256()
    for path in [ROOT / "activation" / "demo_data.py", *sorted((ROOT / "activation" / "demo").glob("*.py"))]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def demo_data(people: int, seed: int, log=print) -> tuple[Path, Path, dict]:
    """Landing files and truth for (people, seed) under bench/.work/data/, generated once and
    reused while the marker file says the same people and seed completed with the same generator
    (generator_fingerprint), with every landing table it writes."""
    base = WORK / "data" / f"people_{people}_seed_{seed}"
    raw, truth, marker = base / "raw", base / "truth", base / "complete.json"
    fingerprint = generator_fingerprint()
    if marker.exists():
        info = json.loads(marker.read_text())
        from activation.demo_data import LANDING_TABLES

        if (info.get("people") == people and info.get("seed") == seed
                and info.get("generator") == fingerprint
                and set(LANDING_TABLES) <= set(info.get("rows", {}))):
            log(f"demo data: reusing {base.relative_to(ROOT)} (people={people}, seed={seed})")
            return raw, truth, info
    if base.exists():
        shutil.rmtree(base)
    from activation.demo_data import generate

    log(f"demo data: generating people={people} seed={seed} into {base.relative_to(ROOT)} ...")
    started = time.perf_counter()
    counts = generate(raw, truth, people=people, seed=seed, file_format="parquet")
    info = {"people": people, "seed": seed, "generator": fingerprint,
            "seconds": round(time.perf_counter() - started, 1), "rows": counts}
    marker.write_text(json.dumps(info, indent=1))
    log(f"demo data: done in {info['seconds']} s")
    return raw, truth, info


def children_maxrss_mib() -> float:
    """Largest ru_maxrss among waited-for children so far (Linux: KiB), in MiB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run_child(cmd: list[str], env: dict | None = None, log_file: Path | None = None) -> dict:
    """Run cmd, return wall seconds, return code and its peak RSS. RUSAGE_CHILDREN is a max over
    all children ever waited for, so the parent runs children in a sequence from smallest to
    largest or, as here, each measurement in a fresh intermediate process (see measure_child)."""
    started = time.perf_counter()
    out = open(log_file, "w") if log_file else subprocess.DEVNULL
    try:
        proc = subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    finally:
        if log_file:
            out.close()
    return {"seconds": time.perf_counter() - started, "returncode": proc.returncode,
            "maxrss_mib": children_maxrss_mib()}


def measure_child(cmd: list[str], env: dict | None = None, log_file: Path | None = None) -> dict:
    """run_child inside a fresh Python process, so that ru_maxrss belongs to this command alone
    and not to an earlier, larger child of ours."""
    wrapper = [sys.executable, str(Path(__file__).resolve()), "--measure", json.dumps(
        {"cmd": cmd, "log_file": str(log_file) if log_file else None})]
    proc = subprocess.run(wrapper, env=env, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"measuring {cmd} failed: {proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def dbt_env(raw_dir: Path, duckdb_path: Path) -> dict:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ONEDATA_RAW_DIR"] = str(raw_dir)
    env["ONEDATA_DUCKDB_PATH"] = str(duckdb_path)
    env["ONEDATA_RAW_FORMAT"] = "parquet"
    env.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    return env


def dbt_build_cmd(select: str, run_dir: Path) -> list[str]:
    return [str(VENV_BIN / "dbt"), "build", "--profiles-dir", str(ROOT), "--project-dir", str(ROOT),
            "--select", select, "--indirect-selection", "cautious",
            "--target-path", str(run_dir / "target"),
            "--log-path", str(run_dir / "logs")]


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--measure":
    spec = json.loads(sys.argv[2])
    result = run_child(spec["cmd"], log_file=Path(spec["log_file"]) if spec["log_file"] else None)
    print(json.dumps(result))
