#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Helpers for bench/run.sh (standard library only).

  util.py json FILE KEY [KEY...]     values of top-level keys of a JSON file, one per line
  util.py wrk FILE                   parse a wrk --latency report:
                                     "requests secs rps ok_rps p50_ms p99_ms non2xx sockerr"
  util.py calc EXPR                  evaluate an arithmetic expression, print it
  util.py perf-top REPORT N          the N heaviest symbols and DSOs of a perf report
  util.py perf-children REPORT [N]  the N heaviest functions by inclusive time
  util.py perf-syscalls STAT OPS     system calls per operation from perf stat -x,
  util.py lock-stats PROBES SECS OPS write-lock hold times and checkpoints from uprobes
  util.py table TSV                  the results table (markdown) from run.sh's TSV
  util.py soak-table TSV             the soak scenario's samples as a markdown table
  util.py soak-svg TSV OUT TITLE     the same samples as an SVG plot (four panels)
"""
import json
import re
import sys


def cmd_json(path, *keys):
    with open(path) as f:
        obj = json.load(f)
    for k in keys:
        v = obj
        for part in k.split("."):
            v = v[part]
        print(v)


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")


def cmd_wrk(path):
    text = open(path).read()
    m = re.search(r"(\d+) requests in ([\d.]+)(m|s|ms)", text)
    requests = int(m.group(1)) if m else 0
    secs = to_ms(m.group(2) + m.group(3)) / 1000.0 if m else 0.0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)) if "Requests/sec" in text else 0.0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    non2xx = int(non2xx.group(1)) if non2xx else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    sockerr = sum(int(x) for x in sock.groups()) if sock else 0
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    ok_rps = (requests - non2xx) / secs if secs else 0.0
    print(requests, f"{secs:.2f}", f"{rps:.0f}", f"{ok_rps:.0f}",
          f"{to_ms(p50.group(1)) if p50 else float('nan'):.2f}",
          f"{to_ms(p99.group(1)) if p99 else float('nan'):.2f}", non2xx, sockerr)


def cmd_calc(expr):
    v = eval(expr, {"__builtins__": {}}, {"max": max, "min": min})
    if isinstance(v, float):
        print(f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}")
    else:
        print(v)


def cmd_perf_top(path, n):
    """From `perf report --no-children --sort dso,sym --stdio` text."""
    n = int(n)
    rows = []
    for line in open(path, errors="replace"):
        m = re.match(r"\s+([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)$", line)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(4).strip()))
    dsos = {}
    for pct, dso, _ in rows:
        dsos[dso] = dsos.get(dso, 0.0) + pct
    print("by shared object: " + ", ".join(
        f"{d} {p:.1f} %" for d, p in sorted(dsos.items(), key=lambda x: -x[1])[:8]))
    print()
    print("| self | object | function |")
    print("| ---: | --- | --- |")
    for pct, dso, sym in rows[:n]:
        print(f"| {pct:.1f} % | {dso} | `{sym[:80]}` |")


ROOTS = {"_start", "__libc_start_main", "__libc_start_call_main", "main", "start_thread",
         "clone3", "__clone3", "[unknown]", "entry_SYSCALL_64_after_hwframe", "do_syscall_64"}


def cmd_perf_children(path, n="25"):
    """From `perf report --children --sort sym --stdio -g none` text."""
    n = int(n)
    rows, seen = [], set()
    for line in open(path, errors="replace"):
        m = re.match(r"\s+([\d.]+)%\s+([\d.]+)%\s+\[(.)\]\s+(.*)$", line)
        if not m:
            continue
        sym = m.group(4).strip()
        if sym in ROOTS or sym.startswith("0x") or re.match(r"^[0-9a-f]{8,}$", sym):
            continue  # roots and addresses without a symbol (stripped libraries)
        if m.group(3) == "k" and not sym.startswith("__x64_sys_"):
            continue  # the kernel: system calls only
        if sym not in seen:  # an inlined copy and the function itself: keep the larger
            seen.add(sym)
            rows.append((float(m.group(1)), float(m.group(2)), sym))
    print("| inclusive | self | function |")
    print("| ---: | ---: | --- |")
    for inc, self_, sym in rows[:n]:
        print(f"| {inc:.1f} % | {self_:.1f} % | `{sym[:80]}` |")


def cmd_perf_syscalls(path, ops):
    """From `perf stat -x, -e syscalls:sys_enter_*` output: counts per operation."""
    ops = float(ops)
    parts = []
    for line in open(path, errors="replace"):
        f = line.strip().split(",")
        if len(f) >= 3 and f[2].startswith("syscalls:sys_enter_"):
            try:
                n = float(f[0])
            except ValueError:
                continue
            if n:
                parts.append((n / ops, f[2][len("syscalls:sys_enter_"):]))
    parts.sort(reverse=True)
    print(", ".join(f"{name} {per:.2f}" for per, name in parts) or "none counted")


def cmd_lock_stats(path, secs, ops):
    """From `perf script -F tid,time,event` of the ahbench uprobes."""
    secs, ops = float(secs), float(ops)
    open_tx, holds, ck_open, cks = {}, [], {}, []
    for line in open(path, errors="replace"):
        m = re.match(r"\s*(\d+)\s+([\d.]+):\s+(\S+):", line)
        if not m:
            continue
        tid, t, ev = m.group(1), float(m.group(2)), m.group(3)
        if ev.startswith("ahbench:txb"):
            open_tx[tid] = t
        elif ev.startswith("ahbench:txe"):
            if tid in open_tx:  # read transactions end in tx_end too: unpaired
                holds.append(t - open_tx.pop(tid))
        elif ev.startswith("ahbench:ckptr"):
            if tid in ck_open:
                cks.append(t - ck_open.pop(tid))
        elif ev.startswith("ahbench:ckpt"):
            ck_open.setdefault(tid, t)
    if not holds:
        print("no write transaction seen")
        return
    holds.sort()
    q = lambda a, p: a[int((len(a) - 1) * p)]
    out = (f"{len(holds)} write transactions ({len(holds) / ops:.2f} per operation), held "
           f"p50 {q(holds, .5) * 1e6:.0f} µs, p99 {q(holds, .99) * 1e6:.0f} µs, max {holds[-1] * 1e3:.1f} ms; "
           f"the lock was held {100 * sum(holds) / secs:.0f} % of the {secs:.1f} s")
    if cks:
        cks.sort()
        out += (f"; {len(cks)} checkpoints ran (on the checkpoint thread, beside the writer), "
                f"p50 {q(cks, .5) * 1e3:.1f} ms, max {cks[-1] * 1e3:.1f} ms, "
                f"busy {100 * sum(cks) / secs:.0f} % of the time")
    else:
        out += "; no checkpoint ran"
    print(out)


def cmd_table(tsv):
    rows = [line.rstrip("\n").split("\t") for line in open(tsv) if line.strip()]
    head = ["scenario", "figure", "baseline (same run)", "ratio", "target", "result", "command"]
    print("| " + " | ".join(head) + " |")
    print("|" + " --- |" * len(head))
    for r in rows:
        r = (r + [""] * len(head))[:len(head)]
        r[6] = "`" + r[6].replace("|", "\\|") + "`" if r[6] else ""
        print("| " + " | ".join(r) + " |")


# The soak scenario's samples (run.sh, scenario_soak), one line each:
# t_s rss_kb db_bytes wal_bytes delivered rate p99_ms purged_events free_bytes stall_s purge_s
# (stall_s, purge_s: seconds writers were held so far, by checkpoints and by the purge)
SOAK_COLS = ["t_s", "rss_kb", "db_bytes", "wal_bytes", "delivered", "rate", "p99_ms",
             "purged_events", "free_bytes", "stall_s", "purge_s", "lag_p99_ms", "send_p99_ms"]


def hist_buckets(path, name):
    """The cumulative buckets {le: count} of histogram `name` in a /metrics text."""
    out = {}
    prefix = name + '_bucket{le="'
    for line in open(path):
        if line.startswith(prefix):
            le, _, v = line[len(prefix):].partition('"} ')
            out[float(le)] = float(v)
    return out


def cmd_hist_p99(before, after, name):
    """The upper bound (ms) of the bucket holding the 99th percentile of what
    histogram `name` counted between two /metrics texts; 0 when nothing was."""
    a, b = hist_buckets(before, name), hist_buckets(after, name)
    total = b.get(float("inf"), 0) - a.get(float("inf"), 0)
    if total <= 0:
        print(0)
        return
    for le in sorted(b):
        if b[le] - a.get(le, 0) >= 0.99 * total:
            print("%g" % (le * 1000) if le != float("inf") else "inf")
            return


def soak_rows(tsv):
    rows = []
    for line in open(tsv):
        if line.strip():
            rows.append(dict(zip(SOAK_COLS, (float(x) for x in line.split()))))
    return rows


def cmd_soak_table(tsv):
    print("| t (s) | RSS (MB) | database file (MB) | WAL (MB) | file + WAL (MB) | free in file (MB) "
          "| delivered in the 10 s | deliveries/s | latency p99 (ms) | events purged (total) "
          "| writers held by checkpoints in the 10 s (ms) | by the purge (ms) "
          "| attempts' lag p99 (ms, bucket) | attempts' duration p99 (ms, bucket) |")
    print("|" + " ---: |" * 14)
    prev = None
    for r in soak_rows(tsv):
        mb = 1024.0 * 1024.0
        # Older samples (9 columns) have no held times: shown as "—".
        # Older samples have no held times or lag columns: shown as "—".
        held = ["—", "—"]
        if "purge_s" in r:
            if prev:
                held = ["%.0f" % (1000 * (r[k] - prev[k])) for k in ("stall_s", "purge_s")]
            prev = r
        stages = ["≤ %g" % r[k] if k in r else "—" for k in ("lag_p99_ms", "send_p99_ms")]
        print("| %.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %.0f | %.0f | %.2f | %.0f | %s | %s "
              "| %s | %s |" % (
                  r["t_s"], r["rss_kb"] / 1024.0, r["db_bytes"] / mb, r["wal_bytes"] / mb,
                  (r["db_bytes"] + r["wal_bytes"]) / mb, r["free_bytes"] / mb, r["delivered"],
                  r["rate"], r["p99_ms"], r["purged_events"], held[0], held[1], stages[0],
                  stages[1]))


def cmd_soak_svg(tsv, out, title):
    rows = soak_rows(tsv)
    mb = 1024.0 * 1024.0
    panels = [
        ("RSS (MB)", [r["rss_kb"] / 1024.0 for r in rows], "#1f77b4"),
        ("database file + WAL (MB)", [(r["db_bytes"] + r["wal_bytes"]) / mb for r in rows],
         "#2ca02c"),
        ("deliveries/s", [r["rate"] for r in rows], "#ff7f0e"),
        ("latency p99 (ms)", [r["p99_ms"] for r in rows], "#d62728"),
    ]
    ts = [r["t_s"] for r in rows] or [0.0]
    w, ph, left, gap, top = 760, 150, 70, 40, 40
    h = top + len(panels) * (ph + gap)
    tmax = max(ts) or 1.0
    esc = (lambda t: t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    o = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'font-family="sans-serif" font-size="11">' % (w, h),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="20" font-size="14">%s</text>' % (left, esc(title))]
    pw = w - left - 20
    for i, (name, ys, color) in enumerate(panels):
        y0 = top + i * (ph + gap)
        ymax = max(ys + [0.0]) * 1.1 or 1.0
        o.append('<text x="%d" y="%d" font-weight="bold">%s</text>' % (left, y0 - 6, esc(name)))
        o.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>' % (
            left, y0, pw, ph))
        for k in range(5):  # y grid and labels
            v = ymax * k / 4
            y = y0 + ph - ph * k / 4
            o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>' % (
                left, y, left + pw, y))
            o.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (
                left - 4, y + 4, ("%.0f" % v) if ymax >= 10 else ("%.2f" % v)))
        for k in range(6):  # x labels
            t = tmax * k / 5
            x = left + pw * k / 5
            o.append('<text x="%.1f" y="%d" text-anchor="middle">%.0f s</text>' % (
                x, y0 + ph + 14, t))
        pts = " ".join("%.1f,%.1f" % (left + pw * t / tmax, y0 + ph - ph * (v / ymax))
                       for t, v in zip(ts, ys))
        o.append('<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
            color, pts))
        for t, v in zip(ts, ys):
            o.append('<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>' % (
                left + pw * t / tmax, y0 + ph - ph * (v / ymax), color))
    o.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(o) + "\n")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"json": cmd_json, "wrk": cmd_wrk, "calc": cmd_calc, "perf-top": cmd_perf_top,
     "perf-children": cmd_perf_children,
     "perf-syscalls": cmd_perf_syscalls,
     "lock-stats": cmd_lock_stats,
     "table": cmd_table,
     "hist-p99": cmd_hist_p99,
     "soak-table": cmd_soak_table,
     "soak-svg": cmd_soak_svg}[cmd](*args)


if __name__ == "__main__":
    main()
