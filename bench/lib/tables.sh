# shellcheck shell=bash
# Sourced by bench scripts after scripts/lib/local_postgres.sh (psql_on, with $PGPASSWORD set).
# Whether two servers hold the same pgbench data, read directly from each server.

# The pgbench tables, each with the key its rows are put in order by (history has none: its whole rows).
declare -A pgbench_table_keys=([pgbench_accounts]=aid [pgbench_branches]=bid [pgbench_tellers]=tid
  [pgbench_history]=r)

# table_digests PORT [DB]: one line per pgbench table of DB (default "postgres"): "name rows
# md5-of-the-rows-in-order", or "name missing -" when the table cannot be read. The rows come
# sorted from a subquery, which lets the server read accounts in index order instead of sorting
# a million rows.
table_digests() {
  local table
  for table in pgbench_accounts pgbench_branches pgbench_tellers pgbench_history; do
    psql_on "$1" -d "${2:-postgres}" -F ' ' -c "SELECT '$table', count(*), md5(coalesce(string_agg(t, E'\n'), ''))
        FROM (SELECT r::text AS t FROM $table AS r ORDER BY ${pgbench_table_keys[$table]}) AS rows" 2>/dev/null ||
      echo "$table missing -"
  done
}

# pair_contents FIRST_PORT SECOND_PORT DB: "identical" when every pgbench table of DB holds the same
# rows on both servers, else "differ:" and the tables that differ, joined by "+". Both servers are
# read at the same time.
pair_contents() {
  local first second differing
  first="$(mktemp "$workdir/digests-XXXXXX")" second="$(mktemp "$workdir/digests-XXXXXX")"
  table_digests "$1" "$3" >"$first" &
  table_digests "$2" "$3" >"$second"
  wait "$!"
  differing="$(paste -d ' ' "$first" "$second" |
    awk '$2 == "missing" || $2 != $5 || $3 != $6 {printf "%s%s", sep, $1; sep = "+"}')"
  rm -f "$first" "$second"
  if [[ -z "$differing" ]]; then echo identical; else echo "differ:$differing"; fi
}
