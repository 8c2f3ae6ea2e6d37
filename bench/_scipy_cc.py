"""The scipy side of bench/one_id_speed.py, run in its own process so that its peak memory is
measured alone: edge list Parquet -> integer ids -> sparse matrix -> connected_components ->
labels mapped back to node ids, written to Parquet.

    python bench/_scipy_cc.py EDGES.parquet LABELS_OUT.parquet TIMINGS_OUT.json
"""

import json
import sys
import time

started = time.perf_counter()
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from scipy.sparse import coo_matrix  # noqa: E402
from scipy.sparse.csgraph import connected_components  # noqa: E402


def main(edges_path: str, labels_path: str, timings_path: str) -> None:
    t = {"imports": time.perf_counter() - started}
    clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        t[name] = now - clock
        clock = now

    edges = pq.read_table(edges_path, columns=["node_id", "linked_node_id"])
    lap("read_parquet")
    both = pa.chunked_array(edges.column("node_id").chunks + edges.column("linked_node_id").chunks,
                            type=edges.schema.field("node_id").type)
    n_edges = edges.num_rows
    del edges
    encoded = pc.dictionary_encode(both.combine_chunks())
    del both
    node_ids = encoded.dictionary
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    lap("map_ids_to_int")
    n = len(node_ids)
    graph = coo_matrix((np.ones(n_edges, dtype=np.int8), (codes[:n_edges], codes[n_edges:])),
                       shape=(n, n)).tocsr()
    del codes
    lap("build_matrix")
    n_components, labels = connected_components(graph, directed=False, return_labels=True)
    lap("connected_components")
    result = pa.table({"node_id": node_ids, "component": pa.array(labels, type=pa.int32())})
    lap("map_back")
    pq.write_table(result, labels_path)
    lap("write_parquet")
    t["total_in_process"] = time.perf_counter() - started
    t.update(nodes=n, edges=n_edges, components=int(n_components))
    with open(timings_path, "w") as out:
        json.dump(t, out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
