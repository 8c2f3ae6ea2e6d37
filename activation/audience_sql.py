"""An audience's SQL exactly as its dbt model runs it, for `activate audiences plan`.

macros/segments/select_audience.sql (the join to dim_members, the rule, the suppressions) is
rendered here with Jinja, its ref()s pointing at the tables dbt built, so that the plan selects who
the model will select: there is no second copy of the audience logic to drift.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import jinja2

from activation.channels import CONSENT_CHANNELS
from activation.settings import MARTS_SCHEMA, TAGS_SCHEMA

SELECT_AUDIENCE_MACRO = Path(__file__).resolve().parent.parent / "macros" / "segments" / "select_audience.sql"
# The models the macro refs, where dbt_project.yml puts them.
REF_TABLES = {
    "dim_members": f"{MARTS_SCHEMA}.dim_members",
    "dim_member_suppressions": f"{MARTS_SCHEMA}.dim_member_suppressions",
    "member_profiles": f"{TAGS_SCHEMA}.member_profiles",
}
# The dbt cross-database macros the audience SQL uses, as DuckDB spells them.
DBT_MACROS = SimpleNamespace(type_string=lambda: "varchar")


def _ref(model: str) -> str:
    if model not in REF_TABLES:
        raise KeyError(f"select_audience refs {model!r}: add where dbt builds it to REF_TABLES")
    return REF_TABLES[model]


def select_audience_sql(audience_name: str, condition: str) -> str:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.do"])
    template = environment.from_string(
        SELECT_AUDIENCE_MACRO.read_text(encoding="utf-8")
        + "{{ select_audience(audience_name, condition) }}"
    )
    return template.render(
        audience_name=audience_name,
        condition=condition,
        ref=_ref,
        consent_channels=lambda: list(CONSENT_CHANNELS),
        dbt=DBT_MACROS,
    )
