"""Why records share a one_id: the shortest path of identifiers between them in the identity
graph, read from the warehouse dbt built (only the edges of the person concerned), with every
identifier value masked. Why two records are different persons: the shortest chain between them
through the graph and the edges One ID refused (int_identity_edges_refused: a blocked
identifier, a link cut by a per-person limit or a conflict of stable attributes, a reassigned
identifier, a steward's exclusion), each refused step with the safeguard and its evidence."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import duckdb

from activation.errors import ActivationError
from activation.masking import mask_identifier, scrub_pii
from activation.settings import Settings
from activation.warehouse import connect

RECORDS = "marts.dim_source_records"
COMPONENTS = "intermediate.int_identity_components"
EDGES = "intermediate.int_identity_graph_edges"
HISTORY = "marts.identity_one_id_history"
REFUSED = "intermediate.int_identity_edges_refused"
# How far the search for what keeps two records apart goes: steps, and nodes visited. Blocked
# identifiers can have thousands of records; the search stops rather than walk them all.
APART_MAX_STEPS = 8
APART_MAX_NODES = 20_000


@dataclass(frozen=True)
class Step:
    """One node of a path: a source record (`crm:M1`) or a masked identifier (`phone 138****5678`).
    `refused` says why One ID refused the edge that leads to this node (None: an edge it kept)."""

    kind: str  # "record" or "identifier"
    label: str
    refused: str | None = None


@dataclass(frozen=True)
class HistoryEvent:
    event_at: str
    event_type: str
    one_id_before: str
    one_id_after: str
    cause: str


@dataclass
class Person:
    one_id: str
    records: list[str]
    # Masked identifier -> the records carrying it; only identifiers on two or more records.
    shared_identifiers: dict[str, list[str]] = field(default_factory=dict)
    links: list[tuple[str, str]] = field(default_factory=list)
    history: list[HistoryEvent] = field(default_factory=list)
    # (this person's end, the other end, why refused): edges One ID refused at this person.
    refused: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class RecordPair:
    first: str
    second: str
    first_one_id: str
    second_one_id: str
    path: list[Step]
    # Different persons: the shortest chain through refused edges too ([] when none within reach).
    apart: list[Step] = field(default_factory=list)
    # False when the warehouse has no int_identity_edges_refused (built before it existed).
    refusals_known: bool = True

    @property
    def same_person(self) -> bool:
        return self.first_one_id == self.second_one_id


def record_node(reference: str) -> str:
    """`<source_system>:<source_record_id>` -> the graph node `r|<system>|<id>`."""
    system, separator, record_id = reference.partition(":")
    if not separator or not system or not record_id:
        raise ActivationError(
            f"{reference!r} is not a record: write <source_system>:<source_record_id>, e.g. crm:M123."
        )
    return f"r|{system.strip()}|{record_id.strip()}"


def record_label(node_id: str) -> str:
    system, _, record_id = node_id.removeprefix("r|").partition("|")
    return f"{system}:{record_id}"


def identifier_label(node_id: str) -> str:
    """`i|type|value` -> `type masked-value`; an earlier holder's node of a reassigned identifier,
    `h|type|value|holder`, says which holder it is."""
    if node_id.startswith("h|"):
        id_type, _, rest = node_id.removeprefix("h|").partition("|")
        value, _, holder = rest.rpartition("|")
        return f"{id_type} {mask_identifier(id_type, value)} (its holder no. {holder}, before it was reassigned)"
    id_type, _, value = node_id.removeprefix("i|").partition("|")
    return f"{id_type} {mask_identifier(id_type, value)}"


def step(node_id: str, refused: str | None = None) -> Step:
    if node_id.startswith("r|"):
        return Step("record", record_label(node_id), refused)
    return Step("identifier", identifier_label(node_id), refused)


def explain_pair(settings: Settings, first: str, second: str) -> RecordPair:
    first_node, second_node = record_node(first), record_node(second)
    with connect(settings.duckdb_path, read_only=True) as connection:
        first_one_id, first_component = _locate(connection, first, first_node)
        second_one_id, second_component = _locate(connection, second, second_node)
        path: list[Step] = []
        apart: list[Step] = []
        refusals_known = True
        if first_one_id == second_one_id and first_component == second_component:
            adjacency = _adjacency(connection, first_component)
            path = [step(node) for node in shortest_path(adjacency, first_node, second_node)]
        elif first_one_id != second_one_id:
            try:
                apart = path_apart(lambda nodes: _neighbours(connection, nodes), first_node, second_node)
            except duckdb.CatalogException:
                refusals_known = False
    return RecordPair(record_label(first_node), record_label(second_node), first_one_id,
                      second_one_id, path, apart, refusals_known)


def explain_person(settings: Settings, reference: str) -> Person:
    """A one_id (or a record, meaning its person): its records and what holds them together."""
    with connect(settings.duckdb_path, read_only=True) as connection:
        if reference.startswith("od_"):
            one_id = reference
            found = connection.execute(
                f"select min(source_system || '|' || source_record_id) from {RECORDS} where one_id = ?",
                [one_id],
            ).fetchone()[0]
            if found is None:
                raise ActivationError(f"No records have one_id {one_id}.")
            _, component = _locate(connection, reference, f"r|{found}")
        else:
            one_id, component = _locate(connection, reference, record_node(reference))
        records = [
            record_label("r|" + key)
            for (key,) in connection.execute(
                f"select source_system || '|' || source_record_id from {RECORDS} "
                "where one_id = ? order by 1",
                [one_id],
            ).fetchall()
        ]
        person = Person(one_id=one_id, records=records)
        carriers: dict[str, list[str]] = {}
        for node_id, linked_node_id in _component_edges(connection, component):
            if node_id.startswith("r|") and linked_node_id.startswith("i|"):
                carriers.setdefault(linked_node_id, []).append(record_label(node_id))
            elif node_id.startswith("i|") and linked_node_id.startswith("i|"):
                person.links.append((identifier_label(node_id), identifier_label(linked_node_id)))
        person.shared_identifiers = {
            identifier_label(node): sorted(records_carrying)
            for node, records_carrying in sorted(carriers.items())
            if len(records_carrying) > 1
        }
        person.history = _history(connection, one_id)
        person.refused = _refused_at(connection, component)
    return person


def shortest_path(adjacency: dict[str, set[str]], start: str, goal: str) -> list[str]:
    """Breadth-first search; neighbours are visited in sorted order so the answer is stable."""
    previous: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while previous[path[-1]] is not None:
                path.append(previous[path[-1]])
            return path[::-1]
        for neighbour in sorted(adjacency.get(node, ())):
            if neighbour not in previous:
                previous[neighbour] = node
                queue.append(neighbour)
    return []


def path_apart(neighbours, start: str, goal: str) -> list[Step]:
    """Breadth-first from start to goal over kept and refused edges, a level at a time.
    neighbours(nodes) gives (node, neighbour, refusal or None) for every edge at those nodes,
    kept edges first, so the chain refuses as few steps as the shortest one can."""
    previous: dict[str, tuple[str | None, str | None]] = {start: (None, None)}
    frontier = [start]
    for _ in range(APART_MAX_STEPS):
        if not frontier or goal in previous or len(previous) > APART_MAX_NODES:
            break
        reached = []
        for node, neighbour, refusal in neighbours(frontier):
            if neighbour not in previous:
                previous[neighbour] = (node, refusal)
                reached.append(neighbour)
        frontier = reached
    if goal not in previous:
        return []
    chain = [(goal, previous[goal][1])]
    while previous[chain[-1][0]][0] is not None:
        node = previous[chain[-1][0]][0]
        chain.append((node, previous[node][1]))
    return [step(node, refusal) for node, refusal in reversed(chain)]


def _neighbours(connection: duckdb.DuckDBPyConnection, nodes: list[str]) -> list[tuple[str, str, str | None]]:
    return connection.execute(
        f"""
        with

        frontier as (
            select unnest(?) as node_id
        ),

        kept_and_refused as (
            select node_id, linked_node_id, null as refusal
            from {EDGES}
            where node_id <> linked_node_id
            union all
            select node_id, linked_node_id, refusal_kind || ': ' || refusal_reason as refusal
            from {REFUSED}
        ),

        both_ways as (
            select node_id, linked_node_id as neighbour_id, refusal
            from kept_and_refused
            where node_id in (select node_id from frontier)
            union all
            select linked_node_id as node_id, node_id as neighbour_id, refusal
            from kept_and_refused
            where linked_node_id in (select node_id from frontier)
        )

        select node_id, neighbour_id, refusal
        from both_ways
        order by refusal is not null, node_id, neighbour_id, refusal
        """,
        [nodes],
    ).fetchall()


def _refused_at(connection: duckdb.DuckDBPyConnection, component_id: str) -> list[tuple[str, str, str]]:
    """Edges One ID refused with an end in the person's component, labelled and masked."""
    try:
        rows = connection.execute(
            f"""
            with

            person_nodes as (
                select node_id from {COMPONENTS} where component_id = ?
            ),

            refused as (
                select node_id, linked_node_id, refusal_kind || ': ' || refusal_reason as refusal
                from {REFUSED}
            )

            select refused.node_id, refused.linked_node_id, refused.refusal
            from refused
            inner join person_nodes on refused.node_id = person_nodes.node_id
            union
            select refused.linked_node_id, refused.node_id, refused.refusal
            from refused
            inner join person_nodes on refused.linked_node_id = person_nodes.node_id
            where refused.node_id not in (select node_id from person_nodes)
            order by 1, 2, 3
            """,
            [component_id],
        ).fetchall()
    except duckdb.CatalogException:
        return []
    return [(step(node).label, step(other).label, scrub_pii(refusal)) for node, other, refusal in rows]


def _locate(connection: duckdb.DuckDBPyConnection, reference: str, node_id: str) -> tuple[str, str]:
    try:
        row = connection.execute(
            f"""
            select records.one_id, components.component_id
            from {RECORDS} as records
            inner join {COMPONENTS} as components
                on 'r|' || records.source_system || '|' || records.source_record_id = components.node_id
            where components.node_id = ?
            """,
            [node_id],
        ).fetchone()
    except duckdb.CatalogException as error:
        raise ActivationError(f"The identity tables are missing ({error}): run dbt build first.") from error
    if row is None:
        raise ActivationError(f"No source record {reference!r} in the warehouse.")
    return row[0], row[1]


def _component_edges(connection: duckdb.DuckDBPyConnection, component_id: str) -> list[tuple[str, str]]:
    return connection.execute(
        f"""
        select edges.node_id, edges.linked_node_id
        from {EDGES} as edges
        inner join {COMPONENTS} as components
            on edges.node_id = components.node_id
        where components.component_id = ? and edges.node_id <> edges.linked_node_id
        """,
        [component_id],
    ).fetchall()


def _adjacency(connection: duckdb.DuckDBPyConnection, component_id: str) -> dict[str, set[str]]:
    adjacency: dict[str, set[str]] = {}
    for node_id, linked_node_id in _component_edges(connection, component_id):
        adjacency.setdefault(node_id, set()).add(linked_node_id)
        adjacency.setdefault(linked_node_id, set()).add(node_id)
    return adjacency


def _history(connection: duckdb.DuckDBPyConnection, one_id: str) -> list[HistoryEvent]:
    try:
        columns = {name for (name,) in connection.execute(
            "select column_name from information_schema.columns"
            " where table_schema = 'marts' and table_name = 'identity_one_id_history'").fetchall()}
        # A history built before cause_reason existed has none to show.
        reason = "cause_reason" if "cause_reason" in columns else "null"
        rows = connection.execute(
            f"""
            select event_at, event_type, one_id_before, one_id_after, cause_edge_change,
                cause_source_record_key, cause_id_type, cause_id_value, {reason} as cause_reason
            from {HISTORY}
            where one_id_before = ? or one_id_after = ?
            order by event_at, event_id
            """,
            [one_id, one_id],
        ).fetchall()
    except duckdb.CatalogException:
        return []
    events = []
    for event_at, event_type, before, after, change, record_key, id_type, id_value, why in rows:
        parts = [change or "unknown"]
        if record_key:
            parts.append(record_label("r|" + record_key))
        if id_type:
            parts.append(f"{id_type} {mask_identifier(id_type, id_value)}")
        if why:
            parts.append(f"({scrub_pii(why)})")
        events.append(HistoryEvent(str(event_at)[:19], event_type, before, after, " ".join(parts)))
    return events
