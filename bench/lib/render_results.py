#!/usr/bin/env python3
"""Renders bench/RESULTS.md from the CSV files bench/run.sh writes (standard library only).

Every figure of a setup is the median over the rounds; a ratio to direct is taken within each
round (the setup's run against the direct run of the same cell and round) and then its median.
"""

import argparse
import csv
import statistics
from collections import defaultdict

SETUP_NAMES = {
    "direct": "direct",
    "direct-both": "direct to both servers at once (no proxy: a dual writer's ceiling)",
    "pgbouncer-session": "PgBouncer, session pooling",
    "pgbouncer-transaction": "PgBouncer, transaction pooling",
    "pgpool-passthrough": "pgpool-II, raw mode (pass-through)",
    "pgdual-passthrough": "pgdual, read_percent 0",
    "pgdual-dualwrite": "pgdual, dual write, mirror mode statement",
    "pgdual-wal": "pgdual, dual write, mirror mode wal (COMMIT waits for the mirror's apply)",
    "pgpool-replication": "pgpool-II, native replication",
    "native-async": "PostgreSQL logical replication, asynchronous",
    "native-sync": "PostgreSQL logical replication, synchronous (COMMIT waits for the subscriber)",
    "pgdual-shadow0": "pgdual, mirror mode wal, shadow_percent 0 (pass-through)",
    "pgdual-shadow10": "pgdual, mirror mode wal, shadow_percent 10",
}
WORKLOADS = {
    "select": ("Pass-through: `pgbench -S` (select only)",
               "One server behind every setup; pgdual's mirror connection is open but carries nothing."),
    "update": ("Dual write: `pgbench -N` (simple update)",
               "direct writes to one server; pgdual and pgpool-II write to both (pgdual in mirror mode statement "
               "runs each write on both; in mirror mode wal it applies the primary's WAL to the mirror before "
               "answering COMMIT); PostgreSQL's logical replication "
               "writes to the primary, which sends the changes to a subscription on the secondary (asynchronous: "
               "COMMIT does not wait for it; synchronous: it does). \"Both servers at once\" runs the "
               "same pgbench directly against each server at the same time, and gives the slower one's figures: "
               "what the two servers sharing this machine can do, the most any dual writer could reach."),
    "tpcb": ("Dual write: `pgbench` (TPC-B-like)",
             "direct writes to one server; pgdual and pgpool-II write to both; logical replication and \"both "
             "servers at once\" as above."),
    "shadow": ("Shadow reads: `pgbench -S` through pgdual in mirror mode wal",
               "pgdual with read_percent 0, so the primary answers every read; with shadow_percent 10 each eligible "
               "read is drawn at 10% while the session's mirror connection is idle (a session has one shadow read at "
               "a time), and the drawn ones also run on that connection, their answers compared off the client's "
               "path. × shadow 0 is the TPS over shadow_percent 0's in the same round (the goal: "
               "at least 0.95). The shadow reads are pgdual_shadow_reads_total from /metrics, summed over the "
               "statement fingerprints and the rounds, out of the eligible reads the primary answered "
               "(pgdual_reads_total{served_by=\"primary\"}). direct runs on database bench, the pgduals on "
               "bench_pgdual_shadow, a copy of it on both servers."),
}
GOAL_CELLS = {"passthrough": ("select", "prepared", "8"), "dualwrite": ("update", "simple", "8")}
SHADOW_FINDINGS = ("matched", "settled", "varied", "mismatched", "abandoned")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def number(text):
    return float(text) if text not in ("", None) else None


def fmt(value, digits=0, suffix=""):
    return "–" if value is None else f"{value:,.{digits}f}{suffix}"


class Results:
    def __init__(self, rows):
        self.rows = rows
        # (workload, protocol, clients) -> setup -> round -> row
        self.cells = defaultdict(lambda: defaultdict(dict))
        for row in rows:
            self.cells[(row["workload"], row["protocol"], row["clients"])][row["setup"]][row["round"]] = row

    def tps_ratio(self, cell, setup, baseline):
        """Median over rounds of setup's TPS / baseline's TPS in the same round."""
        runs = self.cells.get(cell, {})
        ratios = []
        for round_, row in runs.get(setup, {}).items():
            base = runs.get(baseline, {}).get(round_)
            if row["status"] == "ok" and base and base["status"] == "ok" and number(base["tps"]):
                ratios.append(number(row["tps"]) / number(base["tps"]))
        return median(ratios)

    def summary(self, cell, setup):
        runs = list(self.cells.get(cell, {}).get(setup, {}).values())
        ok = [row for row in runs if row["status"] == "ok"]
        cpu_per_1000 = [number(r["proxy_cpu_s"]) * 1000 / number(r["transactions"])
                        for r in ok if r["proxy_cpu_s"] and number(r["transactions"])]
        servers_per_1000 = [number(r["servers_cpu_s"]) * 1000 / number(r["transactions"])
                            for r in ok if r.get("servers_cpu_s") and number(r["transactions"])]
        contents = [r["pair_contents"] for r in ok if r["pair_contents"] not in ("-", "")]
        return {
            "status": "ok" if ok else (runs[0]["status"] if runs else "missing"),
            "tps": median(number(r["tps"]) for r in ok),
            "tps_rounds": " / ".join(fmt(number(r["tps"])) if r["status"] == "ok" else r["status"]
                                     for r in sorted(runs, key=lambda r: int(r["round"]))),
            "latency_avg": median(number(r["latency_avg_ms"]) for r in ok),
            "latency_p99": median(number(r["latency_p99_ms"]) for r in ok),
            "cpu_per_1000": median(cpu_per_1000),
            "servers_per_1000": median(servers_per_1000),
            "contents": contents,
            "shadow_reads": shadow_reads(ok),
            "transactions": sum(int(number(r["transactions"]) or 0) for r in ok),
        }


def shadow_reads(rows):
    """The shadow reads of the runs, summed: "eligible" and each finding (the CSV's
    "eligible=N matched=N ..."); None when the runs have no such counts."""
    totals, seen = defaultdict(int), False
    for row in rows:
        text = row.get("shadow_reads") or "-"
        for field in text.split():
            name, _, count = field.partition("=")
            if count.lstrip("-").isdigit():
                totals[name] += int(count)
                seen = True
    return totals if seen else None


def shadow_text(totals, transactions):
    """The shadow reads, out of the eligible reads, out of the transactions: a session whose mirror
    connection was dropped (an abandoned shadow read) reads from the primary alone from then on, and
    its reads are no longer eligible."""
    if totals is None:
        return "–"
    shadowed = sum(totals[f] for f in SHADOW_FINDINGS)
    share = f" ({shadowed / totals['eligible']:.1%})" if totals["eligible"] else ""
    findings = ", ".join(f"{f} {totals[f]:,}" for f in SHADOW_FINDINGS)
    return (f"{shadowed:,} of {totals['eligible']:,} eligible reads{share}, of {transactions:,} transactions:"
            f" {findings}")


def contents_text(contents):
    """What the compare after each run found; a run that left the servers different was followed
    by a re-sync, so every run started from identical servers."""
    if not contents:
        return "–"
    differing = [c for c in contents if c != "identical"]
    if not differing:
        return f"identical after all {len(contents)} runs"
    tables = sorted({t for c in differing for t in c.split(" ")[0].removeprefix("differ:").split("+")})
    return f"**differ** after {len(differing)} of {len(contents)} runs ({', '.join(tables)})"


def workload_table(results, workload):
    if workload == "shadow":
        return shadow_table(results)
    lines = ["| protocol | clients | setup | TPS (median) | TPS per round | × direct | avg ms | p99 ms |"
             " proxy CPU s / 1000 tx | servers CPU s / 1000 tx | both servers' tables |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    cells = sorted((c for c in results.cells if c[0] == workload),
                   key=lambda c: (["simple", "extended", "prepared"].index(c[1]), int(c[2])))
    for cell in cells:
        for setup in SETUP_NAMES:
            if setup not in results.cells[cell]:
                continue
            s = results.summary(cell, setup)
            ratio = results.tps_ratio(cell, setup, "direct") if setup != "direct" else None
            if s["status"] != "ok":
                lines.append(f"| {cell[1]} | {cell[2]} | {SETUP_NAMES[setup]} | {s['status']} | | | | | | | |")
                continue
            lines.append(
                f"| {cell[1]} | {cell[2]} | {SETUP_NAMES[setup]} | {fmt(s['tps'])} | {s['tps_rounds']} |"
                f" {fmt(ratio, 2)} | {fmt(s['latency_avg'], 3)} | {fmt(s['latency_p99'], 3)} |"
                f" {fmt(s['cpu_per_1000'], 3)} | {fmt(s['servers_per_1000'], 3)} | {contents_text(s['contents'])} |")
    return lines


def shadow_table(results):
    lines = ["| protocol | clients | setup | TPS (median) | TPS per round | × direct | × shadow 0 | avg ms | p99 ms |"
             " proxy CPU s / 1000 tx | shadow reads (all rounds) |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for cell in shadow_cells(results):
        for setup in ("direct", "pgdual-shadow0", "pgdual-shadow10"):
            if setup not in results.cells[cell]:
                continue
            s = results.summary(cell, setup)
            if s["status"] != "ok":
                lines.append(f"| {cell[1]} | {cell[2]} | {SETUP_NAMES[setup]} | {s['status']} | | | | | | | |")
                continue
            vs_direct = results.tps_ratio(cell, setup, "direct") if setup != "direct" else None
            vs_shadow0 = results.tps_ratio(cell, setup, "pgdual-shadow0") if setup == "pgdual-shadow10" else None
            lines.append(
                f"| {cell[1]} | {cell[2]} | {SETUP_NAMES[setup]} | {fmt(s['tps'])} | {s['tps_rounds']} |"
                f" {fmt(vs_direct, 2)} | {fmt(vs_shadow0, 3)} | {fmt(s['latency_avg'], 3)} |"
                f" {fmt(s['latency_p99'], 3)} | {fmt(s['cpu_per_1000'], 3)} | {shadow_text(s['shadow_reads'], s['transactions'])} |")
    return lines


def shadow_cells(results):
    return sorted((c for c in results.cells if c[0] == "shadow"),
                  key=lambda c: (["simple", "extended", "prepared"].index(c[1]), int(c[2])))


def shadow_goals(results):
    """Issue 20, item 7: shadow reads at 10% cost at most 5% of pass-through -S throughput."""
    lines = []
    for cell in shadow_cells(results):
        ratio = results.tps_ratio(cell, "pgdual-shadow10", "pgdual-shadow0")
        totals = results.summary(cell, "pgdual-shadow10")["shadow_reads"] if "pgdual-shadow10" in results.cells[cell] \
            else None
        shadowed = sum(totals[f] for f in SHADOW_FINDINGS) if totals else 0
        lines.append(goal_line(f"`-S -M {cell[1]} -c {cell[2]}`, pgdual mirror mode wal: shadow_percent 10 TPS / "
                               "shadow_percent 0 TPS", f"{fmt(ratio, 3)}; {shadowed:,} shadow reads ran", "≥ 0.95",
                               None if ratio is None else ratio >= 0.95 and shadowed > 0))
    return lines


def goal_line(name, measured, goal, met):
    verdict = "–" if met is None else ("met" if met else "**not met**")
    return f"| {name} | {measured} | {goal} | {verdict} |"


def goals(results, memory):
    lines = ["| goal | measured | target | verdict |", "|---|---|---|---|"]
    passthrough, dualwrite = GOAL_CELLS["passthrough"], GOAL_CELLS["dualwrite"]
    if passthrough in results.cells:
        vs_bouncer = results.tps_ratio(passthrough, "pgdual-passthrough", "pgbouncer-session")
        vs_direct = results.tps_ratio(passthrough, "pgdual-passthrough", "direct")
        lines.append(goal_line("`-S -M prepared -c 8`: pgdual TPS / PgBouncer (session) TPS", fmt(vs_bouncer, 2),
                               "≥ 1.30", None if vs_bouncer is None else vs_bouncer >= 1.3))
        lines.append(goal_line("`-S -M prepared -c 8`: pgdual TPS / direct TPS", fmt(vs_direct, 2), "≥ 0.75",
                               None if vs_direct is None else vs_direct >= 0.75))
        ours = results.summary(passthrough, "pgdual-passthrough")["cpu_per_1000"]
        theirs = results.summary(passthrough, "pgbouncer-session")["cpu_per_1000"]
        lines.append(goal_line("`-S -M prepared -c 8`: proxy CPU s per 1000 tx, pgdual vs PgBouncer (session)",
                               f"{fmt(ours, 3)} vs {fmt(theirs, 3)}", "below PgBouncer's",
                               None if ours is None or theirs is None else ours < theirs))
    if dualwrite in results.cells:
        vs_pgpool = results.tps_ratio(dualwrite, "pgdual-dualwrite", "pgpool-replication")
        ours = contents_text(results.summary(dualwrite, "pgdual-dualwrite")["contents"])
        theirs = contents_text(results.summary(dualwrite, "pgpool-replication")["contents"])
        lines.append(goal_line("`-N -M simple -c 8`: pgdual dual-write TPS / pgpool-II native replication TPS",
                               f"{fmt(vs_pgpool, 2)}; tables: pgdual {ours}, pgpool-II {theirs}",
                               "≥ 2.00, identical tables",
                               None if vs_pgpool is None else vs_pgpool >= 2 and ours.startswith("identical")))
        lines.extend(wal_goals(results, dualwrite))
        ceiling = results.tps_ratio(dualwrite, "direct-both", "pgpool-replication")
        if ceiling is not None:
            lines.append(goal_line("`-N -M simple -c 8`: both servers directly at once (no proxy) / pgpool-II: "
                                   "the most any dual writer could reach here", fmt(ceiling, 2), "–", None))
    lines.extend(shadow_goals(results))
    fake = [row for row in memory if row["backends"] == "fake"]
    if fake:
        largest = max(fake, key=lambda row: int(row["sessions"]))
        per_session = float(largest["kib_per_session"])
        lines.append(goal_line(f"KiB of pgdual's resident memory per idle session ({largest['sessions']} sessions)",
                               f"{per_session:.1f}", "< 64", per_session < 64))
    return lines


def wal_goals(results, cell):
    """pgdual's WAL mirror against its yardstick, synchronous logical replication, and statement mode."""
    lines = []
    if "pgdual-wal" not in results.cells.get(cell, {}):
        return lines
    ours = contents_text(results.summary(cell, "pgdual-wal")["contents"])
    native = results.tps_ratio(cell, "pgdual-wal", "native-sync")
    if native is not None:
        theirs = contents_text(results.summary(cell, "native-sync")["contents"])
        lines.append(goal_line("`-N -M simple -c 8`: pgdual wal TPS / PostgreSQL logical replication, synchronous, TPS",
                               f"{fmt(native, 2)}; tables: pgdual wal {ours}, logical replication {theirs}",
                               "≥ 1.20, identical tables", native >= 1.2 and ours.startswith("identical")))
    statement = results.tps_ratio(cell, "pgdual-wal", "pgdual-dualwrite")
    if statement is not None:
        lines.append(goal_line("`-N -M simple -c 8`: pgdual wal TPS / pgdual statement TPS", fmt(statement, 2),
                               "≥ 1.50", statement >= 1.5))
    return lines


def memory_table(memory):
    if not memory:
        return ["Not measured in this run."]
    lines = ["| backends | idle sessions | pgdual VmRSS KiB | before the first session KiB | KiB per session |",
             "|---|---:|---:|---:|---:|"]
    for row in memory:
        lines.append(f"| {row['backends']} | {int(row['sessions']):,} | {int(row['rss_kib']):,} |"
                     f" {int(row['baseline_kib']):,} | {float(row['kib_per_session']):.1f} |")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True)
    parser.add_argument("--memory", required=True)
    parser.add_argument("--meta", required=True)
    args = parser.parse_args()
    with open(args.csv, newline="") as file:
        results = Results(list(csv.DictReader(file)))
    with open(args.memory, newline="") as file:
        memory = list(csv.DictReader(file, fieldnames=["backends", "sessions", "rss_kib", "baseline_kib",
                                                       "kib_per_session"]))
    with open(args.meta) as file:
        meta = dict(line.rstrip("\n").split("=", 1) for line in file if "=" in line)

    out = [
        "# Benchmark results",
        "",
        f"Written by `bench/run.sh{' --quick' if meta['mode'] == 'quick' else ''}` on {meta['date']}, commit"
        f" {meta['commit']} ({meta['pgdual']}). Regenerated by every run; bench/README.md says how each figure"
        " is measured, and `bench/results.csv` holds every run.",
        "",
        f"- Machine: {meta['cpu']}, {meta['memory']}, Linux {meta['kernel']}; shared with other jobs. Load"
        f" average (1, 5, 15 min) {meta['load_before']} before the matrix and {meta['load_after']} after it;"
        " `load1` of every run is in the CSV.",
        f"- PostgreSQL {meta['postgres']}, PgBouncer {meta['pgbouncer']}, pgpool-II {meta['pgpool']}; pgbench"
        f" scale {meta['scale']}, {meta['rounds']} rounds of {meta['seconds']} s per run, the setups taking"
        " turns within each round. pgbench, both servers and the proxies share the machine's cores.",
        f"- Durations: matrix {int(meta['matrix_seconds']) // 60} min {int(meta['matrix_seconds']) % 60} s, whole"
        f" run {int(meta['total_seconds']) // 60} min {int(meta['total_seconds']) % 60} s. pgdual recorded"
        f" {meta['conflicts']} conflict(s).",
        "",
        "## Goals",
        "",
        *goals(results, memory),
        "",
    ]
    for workload, (title, note) in WORKLOADS.items():
        if not any(cell[0] == workload for cell in results.cells):
            continue
        out += [f"## {title}", "", note, "", *workload_table(results, workload), ""]
    out += ["## Memory per idle session", "", *memory_table(memory), ""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
