{#
    `dbt show --limit N` appends "limit N" to the node's SQL. dbt-clickhouse's relationships test ends in
    "-- end_of_sql" and a SETTINGS clause, after which a LIMIT is a syntax error, so showing either model that
    test joins failed (dbt-clickhouse issue 223 fixed it for `dbt test` only). Such SQL gets its limit before
    the marker, as dbt-clickhouse does for tests; any other SQL as dbt does by default.
#}
{% macro clickhouse__get_limit_sql(sql, limit) -%}
  {%- if limit is not none and '-- end_of_sql' in sql -%}
    {{ clickhouse__place_limit(sql, limit) }}
  {%- else -%}
    {{ default__get_limit_sql(sql, limit) }}
  {%- endif -%}
{%- endmacro %}
