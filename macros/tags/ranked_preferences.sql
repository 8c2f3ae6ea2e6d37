{#- Each person's values of one attribute ranked by weight, heaviest first (ties: the smaller
    value first, so the result is the same on every engine): rank 1 is the preference. -#}
{% macro ranked_preferences(relation, value_column, weight_expression) -%}
    select
        one_id,
        {{ value_column }} as preference_value,
        row_number() over (
            partition by one_id order by sum({{ weight_expression }}) desc, {{ value_column }}
        ) as preference_rank
    from {{ relation }}
    where {{ value_column }} is not null
    group by one_id, {{ value_column }}
{%- endmacro %}
