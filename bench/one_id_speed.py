"""One ID speed benchmark: the dbt One ID models against scipy.sparse.csgraph.connected_components
on the same edge list, at about a million people.

    .venv/bin/python bench/one_id_speed.py [--people 1000000] [--seed 7] [--repeat 1]

dbt side: `dbt build --select +dim_source_records` without tests (every model, view and seed
upstream of dim_source_records) on a fresh DuckDB file, timed from outside, per model from
run_results.json and, for int_identity_components, per statement from dbt's debug log.
scipy side: in its own process, read the edge list dbt built (exported to Parquet), map string
node ids to integers, build the sparse matrix, connected_components, map labels back, write them.
Both partitions of the record nodes are compared. Peak memory is each child's ru_maxrss (the
largest over the repeats); times are medians.
The demo data is generated once per (people, seed) under bench/.work/data/ and reused.
Exit code 2 if a build fails or the partitions differ; the 3x goal is reported, never enforced.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

from bench._common import ROOT, WORK, dbt_build_cmd, dbt_env, demo_data, measure_child  # noqa: E402

GOAL_RATIO = 3.0


def components_statements(debug_log: Path) -> list[tuple[str, float]]:
    """Seconds of each SQL statement the connected_components materialization ran, from dbt's
    debug log, grouped by step: numbering the nodes, the numbered edges, degrees, the core
    adjacency, initial labels, each pass, each pass's bookkeeping (which components are still
    unsettled, setting settled labels aside, the next active set) and the result table."""
    statements, current, passes = [], None, 0
    in_node = False
    for line in debug_log.read_text(errors="replace").splitlines():
        if "Began executing node model.onedata.int_identity_components" in line:
            in_node = True
        elif "Finished running node model.onedata.int_identity_components" in line:
            in_node = False
        if not in_node:
            continue
        if "On model.onedata.int_identity_components:" in line:
            current = []
        elif current is not None and "SQL status:" in line:
            text = " ".join(current)
            created = re.search(r'create\s+table\s+"[^"]+"\."[^"]+"\."int_identity_components__cc_(\w+)"', text)
            kind = created.group(1) if created else None
            if kind == "labels_next":
                passes += 1
                name = f"pass {passes}"
            elif kind == "active_labels" and passes == 0:
                name = "initial labels"
            elif kind in ("unsettled", "active_labels", "active_adjacency_next") or "insert into" in text \
                    or ("select count(*) from" in text and "__cc_unsettled" in text):
                name = f"pass {passes} bookkeeping (unsettled, set aside, next active set)"
            elif kind:
                name = {"nodes": "nodes (numbered by hash)", "edges": "numbered edges",
                        "degrees": "degrees", "adjacency": "core adjacency (both directions)",
                        "labels": "settled labels table", "result": "result table"}.get(kind, kind)
            elif "count(distinct node_number)" in text:
                name = "hash collision check"
            else:
                name = "drops, renames"
            seconds = float(re.search(r"OK in ([0-9.]+) seconds", line).group(1)) if "OK in" in line else 0.0
            statements.append((name, seconds))
            current = None
        elif current is not None:
            current.append(line)
    merged: dict[str, float] = {}
    for name, seconds in statements:
        merged[name] = merged.get(name, 0.0) + seconds
    return list(merged.items())


def dbt_once(raw_dir: Path, run_dir: Path, attempt: int) -> dict:
    db_path = run_dir / "onedata.duckdb"
    for stale in (db_path, db_path.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    log_file = run_dir / f"dbt-build-{attempt}.log"
    (run_dir / "logs" / "dbt.log").unlink(missing_ok=True)  # dbt appends; keep this run's only
    cmd = dbt_build_cmd("+dim_source_records", run_dir) + ["--exclude-resource-type", "test", "unit_test"]
    result = measure_child(cmd, env=dbt_env(raw_dir, db_path), log_file=log_file)
    result["log"] = log_file
    log_text = log_file.read_text(errors="replace")
    settled = re.search(r"settled after (\d+) passes", log_text)
    result["passes_logged"] = int(settled.group(1)) if settled else None
    result["models"] = {}
    result["components_statements"] = components_statements(run_dir / "logs" / "dbt.log")
    run_results = run_dir / "target" / "run_results.json"
    if run_results.exists():
        results = json.loads(run_results.read_text())
        result["elapsed"] = results["elapsed_time"]
        for node in results["results"]:
            name = node["unique_id"].split(".")[-1]
            result["models"][name] = {"seconds": node["execution_time"], "status": node["status"]}
    return result


def scipy_once(edges: Path, run_dir: Path, attempt: int) -> dict:
    labels, timings = run_dir / "scipy_labels.parquet", run_dir / f"scipy_timings-{attempt}.json"
    timings.unlink(missing_ok=True)
    result = measure_child([sys.executable, str(ROOT / "bench" / "_scipy_cc.py"), str(edges), str(labels),
                            str(timings)], log_file=run_dir / f"scipy-{attempt}.log")
    if result["returncode"] == 0:
        result["phases"] = json.loads(timings.read_text())
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side; medians are printed")
    args = parser.parse_args(argv)

    raw_dir, _, _ = demo_data(args.people, args.seed)
    run_dir = WORK / "speed" / f"people_{args.people}_seed_{args.seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    db_path = run_dir / "onedata.duckdb"

    dbt_runs = []
    for attempt in range(1, args.repeat + 1):
        print(f"dbt build {attempt}/{args.repeat} ...", flush=True)
        run = dbt_once(raw_dir, run_dir, attempt)
        cc = run["models"].get("int_identity_components", {}).get("seconds")
        print(f"  {run['seconds']:.1f} s, exit {run['returncode']}, peak RSS {run['maxrss_mib']:,.0f} MiB,"
              f" components step {cc if cc is None else f'{cc:.1f} s'}", flush=True)
        if run["returncode"] != 0:
            print("".join(run["log"].read_text(errors="replace").splitlines(keepends=True)[-25:]))
            print(f"FAIL: dbt build failed after {run['seconds']:.1f} s (log: {run['log'].relative_to(ROOT)})")
            return 2
        dbt_runs.append(run)

    edges_path, dbt_labels = run_dir / "edges.parquet", run_dir / "dbt_record_components.parquet"
    with duckdb.connect(str(db_path), read_only=True) as con:
        con.execute(f"copy (select node_id, linked_node_id from intermediate.int_identity_graph_edges)"
                    f" to '{edges_path}' (format parquet)")
        con.execute(f"copy (select node_id, component_id from intermediate.int_identity_components"
                    f" where node_id like 'r|%') to '{dbt_labels}' (format parquet)")
        records = con.execute("select count(*) from marts.dim_source_records").fetchone()[0]
        one_ids = con.execute("select count(distinct one_id) from marts.dim_source_records").fetchone()[0]
        edges, self_edges = con.execute(
            "select count(*), count(*) filter (where node_id = linked_node_id)"
            " from intermediate.int_identity_graph_edges").fetchone()
        nodes, passes = con.execute(
            "select count(*), max(resolution_pass_count) from intermediate.int_identity_components").fetchone()

    scipy_runs = []
    for attempt in range(1, args.repeat + 1):
        print(f"scipy {attempt}/{args.repeat} ...", flush=True)
        run = scipy_once(edges_path, run_dir, attempt)
        if run["returncode"] != 0:
            print(f"FAIL: scipy side failed (log: {run_dir.relative_to(ROOT)}/scipy-{attempt}.log)")
            return 2
        print(f"  {run['seconds']:.1f} s, peak RSS {run['maxrss_mib']:,.0f} MiB", flush=True)
        scipy_runs.append(run)

    with duckdb.connect() as con:
        missing, dbt_components, scipy_components, pairs = con.execute(f"""
            with joined as (
                select d.component_id as dbt_component, s.component as scipy_component
                from read_parquet('{dbt_labels}') as d
                full outer join (select * from read_parquet('{run_dir / "scipy_labels.parquet"}')
                                 where node_id like 'r|%') as s
                    on d.node_id = s.node_id
            )
            select count(*) filter (where dbt_component is null or scipy_component is null),
                   count(distinct dbt_component), count(distinct scipy_component),
                   count(distinct (dbt_component, scipy_component))
            from joined
        """).fetchone()
    same = missing == 0 and dbt_components == scipy_components == pairs

    med = statistics.median
    dbt_wall = med(r["seconds"] for r in dbt_runs)
    dbt_rss = max(r["maxrss_mib"] for r in dbt_runs)
    cc_step = med(r["models"]["int_identity_components"]["seconds"] for r in dbt_runs)
    scipy_wall = med(r["seconds"] for r in scipy_runs)
    scipy_rss = max(r["maxrss_mib"] for r in scipy_runs)
    phase_names = [k for k in scipy_runs[0]["phases"] if k not in ("nodes", "edges", "components")]
    phases = {k: med(r["phases"][k] for r in scipy_runs) for k in phase_names}
    scipy_core = sum(phases[k] for k in ("read_parquet", "map_ids_to_int", "build_matrix",
                                         "connected_components", "map_back", "write_parquet"))

    print()
    print(f"One ID speed, people={args.people:,} seed={args.seed}, repeat={args.repeat} (medians)")
    print(f"  source records {records:,}; graph: {nodes:,} nodes, {edges:,} edges"
          f" ({self_edges:,} record self-edges); {one_ids:,} one_ids")
    pass_statements = sum(1 for name, _ in dbt_runs[-1]["components_statements"]
                          if re.fullmatch(r"pass \d+", name))
    print(f"  components: passes {passes} stored in int_identity_components (log says"
          f" {dbt_runs[-1]['passes_logged']}): {pass_statements} pass statements after the initial"
          f" labels, after the last of which no edge's labels disagreed")
    print()

    def row(label: str, seconds: float, note: str = "") -> None:
        print(f"  {label:<54}{seconds:8.1f} s{note}")

    row("dbt: One ID build (+dim_source_records, no tests)", dbt_wall, f"   peak RSS {dbt_rss:,.0f} MiB")
    model_seconds = {name: med(r["models"][name]["seconds"] for r in dbt_runs if name in r["models"])
                     for name in dbt_runs[0]["models"]}  # in the order they finished
    for name, seconds in model_seconds.items():
        if seconds >= 0.5:
            row(f"    {name}", seconds)
    small = sum(seconds for seconds in model_seconds.values() if seconds < 0.5)
    row("    (other models, views, seed: < 0.5 s each)", small)
    print("      int_identity_components by statement (last run):")
    for name, seconds in dbt_runs[-1]["components_statements"]:
        row(f"      {name}", seconds)
    start_up = dbt_wall - med(r["elapsed"] for r in dbt_runs)
    row("    (dbt start-up and parsing)", start_up, "   (2 dbt threads: model times overlap)")
    row("scipy: process on the same edge list, loading included", scipy_wall,
        f"   peak RSS {scipy_rss:,.0f} MiB")
    for name in phase_names:
        row(f"    {name}", phases[name])
    print()
    print(f"  same partition of record nodes: {'YES' if same else 'NO'} (dbt {dbt_components:,} components,"
          f" scipy {scipy_components:,}, distinct pairs {pairs:,}, unmatched nodes {missing:,})")
    ratio_full = dbt_wall / scipy_wall
    ratio_cc = cc_step / scipy_core
    print(f"  ratio dbt/scipy: One ID build / scipy process                          {ratio_full:6.1f}x"
          f"   goal <= {GOAL_RATIO:.0f}x: {'MET' if ratio_full <= GOAL_RATIO else 'MISSED'}")
    print(f"  ratio components step / scipy read->write, in process (like for like) {ratio_cc:6.1f}x"
          f"   goal <= {GOAL_RATIO:.0f}x: {'MET' if ratio_cc <= GOAL_RATIO else 'MISSED'}")
    (run_dir / "summary.json").write_text(json.dumps({
        "people": args.people, "records": records, "nodes": nodes, "edges": edges, "passes": passes,
        "dbt_seconds": dbt_wall, "dbt_maxrss_mib": dbt_rss, "components_step_seconds": cc_step,
        "scipy_seconds": scipy_wall, "scipy_core_seconds": scipy_core, "scipy_maxrss_mib": scipy_rss,
        "same_partition": same, "ratio": ratio_full, "ratio_components_step": ratio_cc}, indent=1))
    return 0 if same else 2


if __name__ == "__main__":
    sys.exit(main())
