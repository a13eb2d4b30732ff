#!/usr/bin/env python3
"""Turns the benchmark logs of scripts/bench.sh into docs/benchmarks.md, docs/alloc-overhead.svg
and docs/benchmarks-summary.txt. Standard library only.

Inputs (in --dir): icount-{0,1,2}.log and tcg.log (serial logs of bench/uefi/bench_app.c),
bench-x64-0.map and bench-aa64.map (lld-link maps), host.txt and host-self.txt (callgrind
totals written by scripts/bench.sh), times.txt (wall time of every boot).
"""

import argparse
import datetime
import math
import os
import re
import statistics
import sys

ANSI = re.compile(r"\x1b\[[0-9;?=]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>c]")
PAGE = 4096


# ---- Parsing -----------------------------------------------------------------------------

def number(text):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def keyvals(tokens):
    out = {}
    for t in tokens:
        if "=" in t:
            k, v = t.split("=", 1)
            out[k] = number(v)
    return out


class Boot:
    """One serial log."""

    def __init__(self, path):
        self.path = path
        self.meta = {}
        self.calib = []
        self.results = {}     # (workload, scheme, state) -> dict
        self.steps = {}       # scheme -> [(size, ticks)]
        self.sweep = {}       # (scheme, align) -> dict
        self.probe = {}
        self.phases = {}
        self.errors = []
        self.notes = []
        self.done = None
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        for raw in text.splitlines():
            line = ANSI.sub("", raw).replace("\r", "").strip()
            if not line.startswith("bench "):
                continue
            tokens = line.split()
            kind = tokens[1]
            if kind == "meta":
                self.meta.update(keyvals(tokens[2:]))
            elif kind == "calib":
                kv = keyvals(tokens[2:])
                self.calib.append(kv["ticks"] / kv["insns"])
            elif kind == "probe":
                self.probe.update(keyvals(tokens[2:]))
            elif kind == "phase":
                self.phases[tokens[2]] = keyvals(tokens[3:]).get("ms")
            elif kind == "W6steps":
                self.steps[tokens[2]] = [tuple(int(x) for x in t.split(":")) for t in tokens[3:]]
            elif kind == "sweep":
                kv = keyvals(tokens[3:])
                self.sweep[(tokens[2], kv["align"])] = kv
            elif re.fullmatch(r"W\d", kind):
                kv = keyvals(tokens[3:])
                self.results[(kind, tokens[2], kv.get("state"))] = kv
            elif kind == "error":
                self.errors.append(line)
            elif kind == "note":
                self.notes.append(line[len("bench note "):])
            elif kind == "done":
                self.done = keyvals(tokens[2:])

    @property
    def tpi(self):
        """rdtsc ticks per guest instruction (meaningful under -icount)."""
        return self.calib[0] if self.calib else float("nan")

    @property
    def ticks_per_ns(self):
        return self.meta.get("ticks_per_ms", 0) / 1e6 or float("nan")

    def r(self, w, scheme, state=None):
        return self.results.get((w, scheme, state))

    def per_op_ticks(self, w, scheme, state=None):
        """Ticks per op: W1..W5 an allocation and its free; W6 a realloc step."""
        r = self.r(w, scheme, state)
        if r is None:
            return None
        ops = r["ops"] if w == "W6" else r["ops"] / 2
        return r["ticks"] / ops

    def per_op_insns(self, w, scheme, state=None):
        t = self.per_op_ticks(w, scheme, state)
        return None if t is None else t / self.tpi


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def spread(values):
    """(max - min) / median, in percent."""
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return 0.0
    m = statistics.median(values)
    return 0.0 if m == 0 else (max(values) - min(values)) / abs(m) * 100


# ---- Formatting --------------------------------------------------------------------------

def f_int(v):
    return "n/a" if v is None else f"{int(round(v)):,}".replace(",", "\u202f")


def f_num(v, digits=0):
    if v is None:
        return "n/a"
    if digits == 0:
        return f_int(v)
    return f"{v:,.{digits}f}".replace(",", "\u202f")


def f_ratio(v, digits=2):
    return "n/a" if v is None else f"{v:.{digits}f}x"


def f_pct(v):
    return "n/a" if v is None else (f"{v:.2f} %" if v < 10 else f"{v:.0f} %")


def f_bytes(v):
    if v is None:
        return "n/a"
    if v >= 1024 * 1024:
        return f"{v / 1024 / 1024:.2f} MiB"
    if v >= 1024:
        return f"{v / 1024:.1f} KiB"
    return f"{int(v)} B"


def table(headers, rows, align=None):
    align = align or ["l"] + ["r"] * (len(headers) - 1)
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    for row in rows:
        out.append("| " + " | ".join(str(c) for c in row) + " |")
    return "\n".join(out)


# ---- Maps (code size) --------------------------------------------------------------------

def map_sizes(path):
    """Bytes per output section that the library's archive members add, split into the
    library's own objects and compiler_builtins; and the library's largest functions."""
    own, builtins, funcs = {}, {}, []
    if not os.path.exists(path):
        return None
    last = None
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 4 and ":(" in parts[3]:
                member, sect = parts[3].split(":(", 1)
                sect = sect.rstrip(")").split("$")[0]
                size = int(parts[1], 16)
                last = None
                if member.endswith(".obj"):
                    continue
                bucket = builtins if member.startswith("compiler_builtins-") else own
                bucket[sect] = bucket.get(sect, 0) + size
                if member.startswith("uefi_pool_alloc-") and sect == ".text" and size:
                    last = [size, None]
                    funcs.append(last)
            elif last is not None and len(parts) == 4 and last[1] is None:
                last[1] = re.sub(r"::h[0-9a-f]{16}$", "", parts[3])
    funcs = sorted((f for f in funcs if f[1]), reverse=True)
    return {"own": own, "builtins": builtins, "funcs": funcs}


# ---- Host (callgrind) --------------------------------------------------------------------

def host_figures(d):
    totals, selfc, spills = {}, [], {}
    path = os.path.join(d, "host.txt")
    if os.path.exists(path):
        for line in open(path):
            parts = line.split()
            if len(parts) == 3 and parts[0] == "spill" and parts[2].isdigit():
                spills[parts[1]] = int(parts[2])
            elif len(parts) == 3 and parts[2].isdigit():
                totals[parts[0]] = (int(parts[1]), int(parts[2]))
    path = os.path.join(d, "host-self.txt")
    if os.path.exists(path):
        for line in open(path):
            parts = line.split(None, 2)
            if len(parts) == 3 and parts[1].isdigit():
                selfc.append((parts[0], int(parts[1]), parts[2].strip()))
    if "floor" not in totals:
        return None
    # The C exports each scenario calls per iteration. On the UEFI targets they are plain
    # functions; on the Linux host they are ms_abi functions calling SysV code, which save and
    # restore xmm6-15 on every call: host-only instructions, counted from the disassembly.
    exports = {"aligned": ("pool_aligned_alloc", "pool_aligned_free"),
               "aligned32": ("pool_aligned_alloc", "pool_aligned_free"),
               "aligned8": ("pool_aligned_alloc", "pool_aligned_free"),
               "raw": ("pool_raw_alloc", "pool_raw_free"),
               "realloc": ("pool_aligned_realloc",)}

    def per(name, floor="floor"):
        if name not in totals:
            return None
        n, ir = totals[name]
        return (ir - totals[floor][1]) / n

    def spill(name):
        return sum(spills.get(e, 0) for e in exports.get(name, ()))

    out = {"n": totals.get("aligned", (1, 0))[0],
           "floor": totals["floor"][1] / totals["floor"][0],
           "empty": totals["empty"][1] / totals["empty"][0] if "empty" in totals else None}
    # Front pairs call no firmware service: their baseline is the empty loop; the raw path
    # and the naive wrapper call the stubs, so theirs is the loop calling the stubs.
    for name in ("aligned", "aligned32", "aligned8", "raw", "realloc", "global", "naive"):
        out[name] = per(name, "floor" if name in ("raw", "naive") else "empty")
        out[name + "_spill"] = spill(name)
    n = out["n"]
    out["self"] = [(c / n, f) for s, c, f in selfc if s == "aligned"]
    return out


# ---- SVG ---------------------------------------------------------------------------------

def svg_plot(points_lib, points_naive, raw_bytes, size, blocks, path):
    """Firmware bytes per block against alignment, log-log, standard library only."""
    W, H = 760, 440
    left, right, top, bottom = 78, 24, 52, 64
    xs = [a for a, _ in points_lib]
    x0, x1 = math.log2(min(xs)), math.log2(max(xs))
    ymin_l, ymax_l = 5, 17   # 32 B .. 128 KiB
    pw, ph = W - left - right, H - top - bottom

    def X(a):
        return left + (math.log2(a) - x0) / (x1 - x0) * pw

    def Y(b):
        b = max(b, 2 ** ymin_l)
        return top + (ymax_l - math.log2(b)) / (ymax_l - ymin_l) * ph

    def label_bytes(v):
        return f"{v // 1024} KiB" if v >= 1024 else f"{v} B"

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'viewBox="0 0 {W} {H}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
           "<title>Firmware memory per allocation against alignment</title>",
           f"<desc>Bytes of EfiLoaderData pages consumed per {size}-byte block, measured in OVMF "
           f"with GetMemoryMap over {blocks} live blocks, for uefi-pool-alloc and for the naive "
           "Size + Align wrapper, at alignments 16 B to 64 KiB.</desc>",
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
           f"Firmware memory per {size}-byte allocation, by alignment (OVMF)</text>",
           f'<text x="{W / 2}" y="40" text-anchor="middle" fill="#555">'
           f"pages of the memory type at the peak / {blocks} live blocks; log-log</text>"]
    for e in range(ymin_l, ymax_l + 1):
        y = Y(2 ** e)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{W - right}" y2="{y:.1f}" '
                   f'stroke="#e4e4e4"/>')
        out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">'
                   f"{label_bytes(2 ** e)}</text>")
    for a in xs:
        x = X(a)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{H - bottom}" '
                   f'stroke="#f0f0f0"/>')
        out.append(f'<text x="{x:.1f}" y="{H - bottom + 18}" text-anchor="middle">'
                   f"{label_bytes(a)}</text>")
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" '
               f'stroke="#888"/>')
    out.append(f'<text x="{left + pw / 2}" y="{H - 18}" text-anchor="middle">alignment</text>')
    out.append(f'<text transform="translate(18 {top + ph / 2}) rotate(-90)" '
               f'text-anchor="middle">firmware bytes per block</text>')
    # The raw floor and the size itself.
    for value, colour, dash, text in ((raw_bytes, "#777", "6 4", f"raw AllocatePool({size}), align 8"),
                                      (size, "#bbb", "2 3", f"the {size} bytes asked for")):
        y = Y(value)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{W - right}" y2="{y:.1f}" '
                   f'stroke="{colour}" stroke-dasharray="{dash}" stroke-width="1.5"/>')
        out.append(f'<text x="{W - right - 6}" y="{y - 5:.1f}" text-anchor="end" '
                   f'fill="{colour}">{text}: {value:.0f} B</text>')
    series = (("naive Size + Align (Zig, uefi-rs, Rust std)", points_naive, "#d9822b", "4"),
              ("uefi-pool-alloc", points_lib, "#1f6fb2", "4"))
    for name, pts, colour, r in series:
        path_d = " ".join(f"{'M' if i == 0 else 'L'}{X(a):.1f},{Y(b):.1f}"
                          for i, (a, b) in enumerate(pts))
        out.append(f'<path d="{path_d}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        for a, b in pts:
            out.append(f'<circle cx="{X(a):.1f}" cy="{Y(b):.1f}" r="{r}" fill="{colour}">'
                       f"<title>{name}: align {label_bytes(a)}: {b:.0f} bytes per block</title>"
                       "</circle>")
    # Labels at the right end.
    (a_l, b_l), (a_n, b_n) = points_lib[-1], points_naive[-1]
    out.append(f'<text x="{X(a_n) - 8:.1f}" y="{Y(b_n) - 10:.1f}" text-anchor="end" '
               f'fill="#d9822b" font-weight="bold">naive: {b_n / 1024:.1f} KiB</text>')
    out.append(f'<text x="{X(a_l) - 8:.1f}" y="{Y(b_l) - 10:.1f}" text-anchor="end" '
               f'fill="#1f6fb2" font-weight="bold">uefi-pool-alloc: {b_l / 1024:.2f} KiB</text>')
    # Legend.
    lx, ly = left + 14, top + 16
    for i, (name, _, colour, _) in enumerate(reversed(series)):
        y = ly + i * 18
        out.append(f'<line x1="{lx}" y1="{y - 4}" x2="{lx + 22}" y2="{y - 4}" stroke="{colour}" '
                   f'stroke-width="2.5"/>')
        out.append(f'<text x="{lx + 28}" y="{y}">{name}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


# ---- Report ------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="build/bench")
    ap.add_argument("--docs", default="docs")
    ap.add_argument("--wall-seconds", type=int, default=None)
    ap.add_argument("--qemu", default="")
    ap.add_argument("--ovmf", default="")
    args = ap.parse_args()
    d = args.dir

    icount = [Boot(os.path.join(d, f"icount-{i}.log")) for i in range(3)
              if os.path.exists(os.path.join(d, f"icount-{i}.log"))]
    tcg = Boot(os.path.join(d, "tcg.log")) if os.path.exists(os.path.join(d, "tcg.log")) else None
    aa64_log = os.path.join(d, "aa64-icount-0.log")
    aa64 = Boot(aa64_log) if os.path.exists(aa64_log) else None
    uboot_log = os.path.join(d, "uboot-aa64.log")
    uboot = Boot(uboot_log) if os.path.exists(uboot_log) else None
    ia32_log = os.path.join(d, "ia32-icount-0.log")
    ia32 = Boot(ia32_log) if os.path.exists(ia32_log) else None
    if not icount:
        sys.exit("report.py: no icount-*.log in " + d)
    for b in icount + [x for x in (tcg, aa64, uboot, ia32) if x]:
        if b.errors or not b.done or b.done.get("errors") != 0:
            sys.exit(f"report.py: {b.path} is incomplete or reported errors: {b.errors}")
    base = icount[0]
    times, wall = {}, args.wall_seconds
    if os.path.exists(os.path.join(d, "times.txt")):
        for line in open(os.path.join(d, "times.txt")):
            p = line.split()
            if len(p) >= 2 and p[0] == "total":
                wall = int(p[1]) if wall is None else wall
            elif len(p) >= 2:
                times[p[0]] = int(p[1]) / 1000

    def med(fn):
        return median([fn(b) for b in icount])

    def spr(fn):
        return spread([fn(b) for b in icount])

    def res(w, s, key, state=None):
        return med(lambda b: (b.r(w, s, state) or {}).get(key))

    def ins(w, s, state=None):
        return med(lambda b: b.per_op_insns(w, s, state))

    def ratio(w, a, b_, sa=None, sb=None):
        def one(b):
            x, y = b.per_op_ticks(w, a, sa), b.per_op_ticks(w, b_, sb)
            return None if x is None or not y else x / y
        return med(one), spr(one)

    def tcg_ratio(w, a, b_, sa=None, sb=None):
        if tcg is None:
            return None
        x, y = tcg.per_op_ticks(w, a, sa), tcg.per_op_ticks(w, b_, sb)
        return None if x is None or not y else x / y

    def tcg_ns(w, s, state=None):
        if tcg is None:
            return None
        t = tcg.per_op_ticks(w, s, state)
        return None if t is None else t / tcg.ticks_per_ns

    meta = base.meta
    tpi = med(lambda b: b.tpi)
    host = host_figures(d)
    size_x64 = map_sizes(os.path.join(d, "bench-x64-0.map"))
    size_aa64 = map_sizes(os.path.join(d, "bench-aa64.map"))
    leaks = sum(r.get("leak", 0) for b in icount + ([tcg] if tcg else [])
                for r in list(b.results.values()) + list(b.sweep.values()))

    # ---- Figures used in several places ----
    pk = {w: {s: res(w, s, "peak_pages") for s in ("lib", "naive", "raw", "pages")}
          for w in ("W1", "W2", "W3", "W6")}
    w1_half = pk["W1"]["lib"] / pk["W1"]["naive"]
    w2_book = pk["W2"]["lib"] - res("W2", "lib", "blocks")
    w4 = {k: ins("W4", s, st) for k, s, st in
          (("lib_w", "lib", "warm"), ("lib_c", "lib", "cold"), ("same_w", "raw_same", "warm"),
           ("same_c", "raw_same", "cold"), ("raw_w", "raw", "warm"), ("raw_c", "raw", "cold"),
           ("naive_w", "naive", "warm"), ("naive_c", "naive", "cold"))}
    w5 = {k: ins("W5", s, st) for k, s, st in
          (("lib_w", "lib", "warm"), ("lib_c", "lib", "cold"), ("same_w", "raw_same", "warm"),
           ("same_c", "raw_same", "cold"), ("raw_w", "raw", "warm"), ("raw_c", "raw", "cold"),
           ("naive_w", "naive", "warm"), ("naive_c", "naive", "cold"),
           ("libraw_w", "libraw", "warm"), ("libraw_c", "libraw", "cold"))}
    w7 = {k: ins("W7", s, st) for k, s, st in
          (("lib_w", "lib", "warm"), ("lib_c", "lib", "cold"), ("same_w", "raw_same", "warm"),
           ("same_c", "raw_same", "cold"))}
    r7_w = ratio("W7", "lib", "raw_same", "warm", "warm")
    r7_c = ratio("W7", "lib", "raw_same", "cold", "cold")
    r4_raw_w = ratio("W4", "lib", "raw", "warm", "warm")
    r5_raw_w = ratio("W5", "lib", "raw", "warm", "warm")
    r4_raw_c = ratio("W4", "lib", "raw", "cold", "cold")
    r5_raw_c = ratio("W5", "lib", "raw", "cold", "cold")
    r6 = ratio("W6", "lib", "raw")
    r3 = pk["W3"]["lib"] / pk["W3"]["raw"]

    def aa_ratio(w, state, a="lib", b_="raw_same"):
        if aa64 is None:
            return None
        x, y = aa64.per_op_ticks(w, a, state), aa64.per_op_ticks(w, b_, state)
        return None if x is None or not y else x / y
    lib_text = size_x64["own"].get(".text", 0) if size_x64 else None
    rest = {w: res(w, "lib", "rest_pages") for w in ("W1", "W2", "W3", "W6")}
    rest_summary = ", ".join(f"{w} {f_int(v)}" for w, v in rest.items()) + " pages held"

    md = []
    add = md.append
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    add("# Benchmarks\n")
    add("<!-- Generated by scripts/bench.sh (bench/report.py); do not edit by hand. -->\n")
    add(f"Generated {now} by `scripts/bench.sh`"
        + (f" in {wall} s" if wall is not None else "")
        + f". Firmware: {meta.get('firmware', '?')} (revision {meta.get('firmware_revision', '?')}, "
          f"`{os.path.basename(args.ovmf)}`), {args.qemu or 'QEMU'}, x64, one CPU, 256 MiB. "
          f"Every allocation is of type EfiLoaderData (the library's `pool_init` type and the "
          f"harness's), seed `{meta.get('seed')}`.\n")
    add("How it is measured (details at the end):\n")
    add("- **In firmware** (`bench/uefi/bench_app.c`): each workload runs in one boot against "
        "the library (`pool_aligned_alloc`/`free`/`realloc`), a **naive** `Size + Align` "
        "wrapper written in the harness (the pool pointer in the word below the aligned "
        "pointer: the Zig / uefi-rs / Rust std scheme; `Size + 8` at Align 8, as a C API "
        "whose free takes only the pointer needs), and the **raw** floor (AllocatePool/FreePool "
        "called directly with the same sizes, which gives only 8-byte alignment).")
    add(f"- **Time** comes from three boots under QEMU `-icount shift=8,align=off,sleep=off`, "
        f"where rdtsc advances by a fixed {tpi:.1f} ticks per guest instruction (calibrated "
        f"in each boot with a loop of known length): times are shown as **guest instructions "
        f"per operation** (median of the three boots; the boots differ only in the order in "
        f"which the three schemes run, and *spread* = (max − min) / median shows how much that "
        f"order matters). One plain-TCG boot gives wall-clock context (host rdtsc, ns).")
    add("- **Memory** is what the firmware itself reports: pages of EfiLoaderData in "
        "GetMemoryMap (read into a static buffer) at the workload's peak minus before it. "
        "**Requested** is what the scheme asked the firmware for (the library: its "
        "`RequestedBytes`; **bookkeeping**: its `BookkeepingBytes` at the peak). **Leak check**: "
        "after each workload the EfiLoaderData page count and the library's live counters are "
        "back to their start values.")
    add("- **Op** = one allocation and its free (W1–W5), or one realloc step (W6).\n")

    # ---- Goals ----
    add("## Goals\n")
    add("The small-block front's targets (issue 10), each against raw AllocatePool in the same "
        "boot.\n")

    def verdict(ok):
        return "met" if ok else "missed"
    goals = []
    goals.append(("W1 10 000 × 64 B @ 32: at most 160 firmware pages",
                  f"{f_int(pk['W1']['lib'])} pages (raw {f_int(pk['W1']['raw'])}, naive "
                  f"{f_int(pk['W1']['naive'])})", verdict(pk["W1"]["lib"] <= 160)))
    goals.append(("W3 5 000 mixed: at most 0.80x raw's pages",
                  f"{f_int(pk['W3']['lib'])} vs {f_int(pk['W3']['raw'])} pages ({f_ratio(r3)})",
                  verdict(r3 <= 0.80)))
    goals.append(("W4/W5 warm pairs: at most 0.15x the instructions of a raw 64-byte pair",
                  f"W4 {f_int(w4['lib_w'])} vs {f_int(w4['raw_w'])} ({f_ratio(r4_raw_w[0], 3)}); "
                  f"W5 {f_int(w5['lib_w'])} vs {f_int(w5['raw_w'])} ({f_ratio(r5_raw_w[0], 3)})",
                  verdict(max(r4_raw_w[0], r5_raw_w[0]) <= 0.15)))
    goals.append(("Lone pairs (the firmware's page empties on every free): at most 0.01x",
                  f"W4 {f_int(w4['lib_c'])} vs {f_int(w4['raw_c'])} ({f_ratio(r4_raw_c[0], 3)}); "
                  f"W5 {f_int(w5['lib_c'])} vs {f_int(w5['raw_c'])} ({f_ratio(r5_raw_c[0], 3)})",
                  verdict(max(r4_raw_c[0], r5_raw_c[0]) <= 0.01)))
    if host:
        own_c = host["aligned"] - host["aligned_spill"]
        goals.append(("The library's own instructions per small alloc+free (callgrind): at most 60",
                      f"{f_int(host['global'])} through `GlobalAlloc` (Rust); {f_int(own_c)} "
                      f"through the C exports (x64 code, 64 B @ 64)",
                      verdict(min(host["global"], own_c) <= 60)))
    goals.append(("W7 pool-path pairs above the front (1536 B @ 64): warm at most 1.15x raw of the "
                  "same request size",
                  f"{f_ratio(r7_w[0], 3)} warm, {f_ratio(r7_c[0], 3)} cold",
                  verdict(r7_w[0] <= 1.15)))
    goals.append(("W6 realloc 16 B → 1 MiB: at most 0.5x raw's instructions per step",
                  f"{f_ratio(r6[0], 3)}", verdict(r6[0] <= 0.5)))
    if uboot:
        u = uboot
        goals.append(("W1/W4/W5 under U-Boot's UEFI (AArch64): measured",
                      f"W1 {f_int(u.r('W1', 'lib')['peak_pages'])} vs "
                      f"{f_int(u.r('W1', 'raw')['peak_pages'])} pages; warm pair W4 "
                      f"{f_int(u.per_op_insns('W4', 'lib', 'warm'))} vs "
                      f"{f_int(u.per_op_insns('W4', 'raw', 'warm'))}, W5 "
                      f"{f_int(u.per_op_insns('W5', 'lib', 'warm'))} vs "
                      f"{f_int(u.per_op_insns('W5', 'raw', 'warm'))} instructions", "measured"))
    if ia32:
        goals.append(("W1/W4/W5 on IA32 (OVMF IA32): measured",
                      f"W1 {f_int(ia32.r('W1', 'lib')['peak_pages'])} vs "
                      f"{f_int(ia32.r('W1', 'raw')['peak_pages'])} pages; warm pair W4 "
                      f"{f_int(ia32.per_op_insns('W4', 'lib', 'warm'))} vs "
                      f"{f_int(ia32.per_op_insns('W4', 'raw', 'warm'))}, W5 "
                      f"{f_int(ia32.per_op_insns('W5', 'lib', 'warm'))} vs "
                      f"{f_int(ia32.per_op_insns('W5', 'raw', 'warm'))} instructions", "measured"))
    size_min = map_sizes(os.path.join(d, "size-min-x64.map"))
    min_text = size_min["own"].get(".text", 0) if size_min else None
    if lib_text is not None:
        measured = f"{f_int(lib_text)} bytes of .text, whole C API"
        if min_text is not None:
            measured += f"; {f_int(min_text)} for `pool_init` + aligned alloc/free"
        goals.append(("Code: the whole C API in at most 8 KiB of .text (X64)", measured,
                      verdict(lib_text <= 8192)))
    goals.append(("Memory at rest: after every block is freed, the map back to its start "
                  "after `pool_trim()`",
                  f"{rest_summary}; 0 after `pool_trim()` in every workload of every boot"
                  if leaks == 0 else f"{leaks} workloads not back to their start",
                  verdict(leaks == 0)))
    add(table(["Goal", "Measured", "Verdict"], goals, ["l", "l", "l"]))
    add("")

    # ---- Memory ----
    add("## Firmware memory at the peak\n")
    add("Pages (4 KiB) of EfiLoaderData held at the peak of each workload (median of the three "
        "-icount boots; *spread* over the three scheme orders), and the bytes each scheme "
        "requested.\n")
    rows = []
    for w, title in (("W1", "W1: 10 000 × 64 B @ 32"), ("W2", "W2: 256 × 4 KiB @ 4 KiB"),
                     ("W3", "W3: 5 000 mixed"), ("W6", "W6: realloc 16 B → 1 MiB")):
        lib, nv, rw = pk[w]["lib"], pk[w]["naive"], pk[w]["raw"]
        other = med(lambda b: max((b.r(w, s) or {}).get("other_peak", 0) for s in ("lib", "naive", "raw")))
        book = res(w, "lib", "bookkeeping")
        sp = max(spr(lambda b: (b.r(w, s) or {}).get("peak_pages")) for s in ("lib", "naive", "raw"))
        rows.append([title, f_int(lib), f_int(nv), f_int(rw),
                     f_ratio(lib / nv), f_ratio(lib / rw),
                     f_bytes(res(w, "lib", "requested")) + (f" + {f_bytes(book)}" if book else ""),
                     f_bytes(res(w, "naive", "requested")), f_bytes(res(w, "raw", "requested")),
                     f_pct(sp)])
    add(table(["Workload", "library", "naive", "raw", "lib/naive", "lib/raw",
               "library requested (+ bookkeeping)", "naive requested", "raw requested",
               "spread"], rows))
    add("")
    add(f"- W2's true floor, `AllocatePages(1)` per block: {f_int(pk['W2']['pages'])} pages. "
        f"Raw AllocatePool(4096) needs 2 pages per block (4096 + EDK2's 40-byte pool header), "
        f"naive AllocatePool(8192) 3.")
    add(f"- W3: {f_int(res('W3', 'lib', 'blocks'))} blocks, {f_bytes(meta.get('w3_bytes'))} "
        f"asked for in all; alignments 8/16/32/64/128/4096: {meta.get('w3_align8')}/"
        f"{meta.get('w3_align16')}/{meta.get('w3_align32')}/{meta.get('w3_align64')}/"
        f"{meta.get('w3_align128')}/{meta.get('w3_align4096')} blocks.")
    add(f"- W6: the peak is the step from 898 656 to 1 MiB, old and new block live together; "
        f"requested bytes are per repetition.")
    add(f"- Leak check: {'every workload of every boot passed' if leaks == 0 else f'{leaks} failures'} "
        f"(EfiLoaderData pages and the library's live counters back to their start).")
    kept = []
    for w in ("W1", "W2", "W3", "W6"):
        per_scheme = []
        for sch in ("lib", "naive", "raw"):
            vals = [(b.r(w, sch) or {}).get("other_after", 0) for b in icount]
            if max(vals) > 0:
                per_scheme.append(f"{sch} {min(vals)}–{max(vals)}")
        if per_scheme:
            kept.append(f"{w}: " + ", ".join(per_scheme))
    sw = [(sch, a, b.sweep[(sch, a)].get("other_after", 0)) for b in icount
          for (sch, a) in b.sweep if b.sweep[(sch, a)].get("other_after", 0) > 0]
    if kept or sw:
        add("- Pages the firmware kept for itself after a workload (BootServicesData: "
            "memory-map descriptor pages, allocated when the map fragments and never freed by "
            "EDK2, so whichever scheme runs first pays most; not counted as leaks), min–max over "
            "the three scheme orders: " + "; ".join(kept)
            + (f"; alignment sweep: up to {max(v for _, _, v in sw)} pages "
               f"({', '.join(sorted({f'{sch} @ {a}' for sch, a, _ in sw}))})" if sw else "")
            + ".")
    add("")

    add("### Memory at rest\n")
    add("Pages of EfiLoaderData the library still holds when every block of a workload is "
        "freed (its first repetition; median of the three boots), and after `pool_trim()`. The "
        "front keeps each size class's current page so that a lone alloc/free pair costs no "
        "firmware call; the documented bound is one page per size class used, plus the pages of "
        "the records and the index describing them. `pool_trim()` gives all of it back: the "
        "leak check compares the memory map after it with the map before the workload.\n")
    rows = []
    for w, title in (("W1", "W1 (one size class)"), ("W2", "W2 (page path)"),
                     ("W3", "W3 (every size class)"), ("W6", "W6 (a block growing through "
                                                             "the classes)")):
        rows.append([title, f_int(rest[w]),
                     "0" if all(not (b.r(w, "lib") or {}).get("leak") for b in icount) else "≠ 0"])
    add(table(["Workload", "pages held before `pool_trim()`", "after"], rows))
    add("")

    # ---- Time ----
    add("## Time per operation\n")
    add("Guest instructions per op under -icount (median of 3 boots); ratios are taken within "
        "each boot, then the median. *TCG* is the plain-TCG boot: nanoseconds of host time per "
        "op, and its library/raw ratio.\n")
    rows = []
    for w, title in (("W1", "W1"), ("W2", "W2"), ("W3", "W3"), ("W6", "W6 (per realloc step)")):
        lr, lr_s = ratio(w, "lib", "raw")
        ln, ln_s = ratio(w, "lib", "naive")
        rows.append([title, f_int(ins(w, "lib")), f_int(ins(w, "naive")), f_int(ins(w, "raw")),
                     f_ratio(lr, 3), f_ratio(ln, 3), f_pct(max(lr_s, ln_s)),
                     f_num(tcg_ns(w, "lib")), f_ratio(tcg_ratio(w, "lib", "raw"), 3)])
    add(table(["Workload", "library", "naive", "raw", "lib/raw", "lib/naive", "spread",
               "TCG lib ns/op", "TCG lib/raw"], rows))
    add("")
    pr, _ = ratio("W2", "lib", "pages")
    add(f"- W2 against its true floor (`AllocatePages(1)`/`FreePages`): library "
        f"{f_ratio(pr, 3)} ({f_int(ins('W2', 'pages'))} instructions per op). The raw column "
        f"of W2 is AllocatePool(4096), which EDK2 serves with 2 pages.")
    add(f"- W1: the library serves every block from its front, so a pair costs "
        f"{f_int(ins('W1', 'lib'))} instructions against {f_int(ins('W1', 'raw'))} for raw "
        f"AllocatePool/FreePool with 10 000 blocks live (the front's page refills included). "
        f"W3's blocks above 1 KiB (about a quarter of them) still cost one firmware call each.\n")

    # ---- W4/W5 ----
    add("## W4/W5: 200 000 alloc/free pairs, and OVMF's size classes\n")
    add("64-byte blocks at Align 64 (W4) and Align 8 (W5), freed at once. The library serves "
        "them from its small-block front: a bit in its class page's bitmap, no firmware call. "
        "EDK2's pool serves a request of n bytes from the class of n + 40 rounded up to 128, "
        "256, 384, 640, 1024, 1664 or 2688 bytes, carved from 4 KiB pages; when a free leaves a "
        "page with no live block, the page goes back to the page allocator, and the next "
        "allocation takes a new one. So each pair was measured in two states:\n")
    add("- **warm**: one block of the same scheme and size stays live meanwhile (as other "
        "blocks of the class do in a running program); the class's page never empties, and "
        "the pair is pure pool-list work: 200 000 pairs.")
    add(f"- **cold** (a *lone* pair): nothing else of the memory type is live: for raw and the "
        f"naive wrapper every free returns the page and every allocation takes one (with "
        f"OVMF's DEBUG memory clearing and page-attribute updates); the library keeps its "
        f"class's current page: {f_int(res('W4', 'lib', 'pairs', 'cold'))} pairs, enough under "
        f"-icount, where every pair costs the same.\n")
    rows = []
    for w, vals in (("W4 (Align 64)", w4), ("W5 (Align 8)", w5)):
        for st, sfx in (("warm", "_w"), ("cold", "_c")):
            rows.append([f"{w}, {st}", f_int(vals['lib' + sfx]), f_int(vals['naive' + sfx]),
                         f_int(vals['raw' + sfx]), f_int(vals['same' + sfx]),
                         f_ratio(vals['lib' + sfx] / vals['raw' + sfx], 3),
                         f_ratio(vals['naive' + sfx] / vals['same' + sfx], 3),
                         f_ratio(vals['lib' + sfx] / vals['naive' + sfx], 3)])
    add(table(["Workload, state", "library", "naive", "raw 64 B", "raw, naive's request size",
               "lib/raw 64 B", "naive/raw same size", "lib/naive"], rows))
    add("")
    add(f"Instructions per pair (median of 3 boots; spread of every ratio "
        f"≤ {f_pct(max(r4_raw_w[1], r4_raw_c[1], r5_raw_w[1], r5_raw_c[1]))}), the harness's "
        f"call and its one-byte write included. The library asks the firmware for nothing per "
        f"pair (requested bytes per pair: {f_int(res('W4', 'lib', 'requested', 'warm'))}); the "
        f"naive wrapper for {f_int(res('W4', 'naive', 'requested', 'warm'))} bytes at Align 64 "
        f"(EDK2 class 256) and {f_int(res('W5', 'naive', 'requested', 'warm'))} at Align 8 "
        f"(class 128), which *raw, naive's request size* repeats without the wrapper. The "
        f"library's raw path (`pool_raw_alloc`/`pool_raw_free`, a bare AllocatePool/FreePool, "
        f"64 B): {f_int(w5['libraw_w'])} warm, {f_int(w5['libraw_c'])} cold "
        f"({f_ratio(w5['libraw_w'] / w5['raw_w'], 3)} and "
        f"{f_ratio(w5['libraw_c'] / w5['raw_c'], 3)} of raw).\n")
    add(f"A lone pair is where the firmware's pool is weakest: raw pays "
        f"{f_ratio(w4['raw_c'] / w4['raw_w'], 1)} a warm pair, because EDK2 gives the emptied "
        f"page back on every free (and clears it in this DEBUG build); the library pays the "
        f"same as warm, {f_int(w4['lib_c'])} instructions, because its class keeps its current "
        f"page."
        + (f" In AAVMF, which clears nothing, the raw cold/warm gap is "
           f"{f_ratio(aa64.per_op_insns('W4', 'raw', 'cold') / aa64.per_op_insns('W4', 'raw', 'warm'), 1)}"
           f" (see *AArch64*)." if aa64 else "") + "\n")

    # ---- W7 ----
    add("## W7: pool-path pairs above the front\n")
    add(f"Blocks above the front's 1 KiB limit keep one AllocatePool each. 200 000 warm and "
        f"{f_int(res('W7', 'lib', 'pairs', 'cold'))} cold pairs of 1536 B at Align 64, against "
        f"raw AllocatePool of the library's own request size "
        f"({f_int(res('W7', 'lib', 'requested', 'warm'))} B, the same EDK2 class, 1664; two "
        f"such blocks share a page, so the resident block keeps the warm pair's page).\n")
    rows = [[st, f_int(w7['lib' + sfx]), f_int(w7['same' + sfx]), f_ratio(r[0], 3),
             f_int(w7['lib' + sfx] - w7['same' + sfx])]
            for st, sfx, r in (("warm", "_w", r7_w), ("cold", "_c", r7_c))]
    add(table(["state", "library", "raw, same request", "lib/raw", "library's own"], rows))
    add("")

    # ---- W6 ----
    add("## W6: realloc growth\n")
    steps_lib = base.steps.get("lib", [])
    add(f"One block grows from 16 B to 1 MiB by 1.5x ({len(steps_lib)} steps), "
        f"{meta.get('w6_reps')} repetitions per boot"
        + (" (the issue's 1 000: under -icount every repetition costs the same, so the per-step "
           "figures do not depend on the count; `BENCH_FULL=1` runs all 1 000)"
           if meta.get("w6_reps") != 1000 else "")
        + ". The library resizes in place within a block's usable size; a block growing past "
          "the front's 1 KiB moves to pages, and pages grow in place (AllocatePages at the "
          "address right after the block) when those are free, moving only otherwise. The "
          "naive and raw schemes always allocate, copy and free (Rust std's "
          "`realloc_fallback`, EDK2's ReallocatePool).\n")
    rows = []
    for sch in ("lib", "naive", "raw"):
        rows.append([sch, f_int(ins("W6", sch)), f_ratio(ratio("W6", sch, "raw")[0], 3),
                     f_int(res("W6", sch, "peak_pages")), f_bytes(res("W6", sch, "requested")),
                     f_bytes(res("W6", sch, "copied"))])
    pg = base.r("W6", "pagegrow")
    if pg:
        rows.append(["pagegrow (harness emulation: pool ≤ 2 KiB, then pages grown in place)",
                     f_int(ins("W6", "pagegrow")), f_ratio(ratio("W6", "pagegrow", "raw")[0], 3),
                     f_int(res("W6", "pagegrow", "peak_pages")), "",
                     f"{pg.get('in_place')} of {pg.get('in_place', 0) + pg.get('moved', 0)} "
                     f"page steps in place"])
    add(table(["scheme", "instructions per step", "vs raw", "peak pages",
               "requested per repetition", "copied per repetition"], rows))
    add("")
    if pg:
        add(f"*pagegrow* is the harness's emulation of page growth, written before the library "
            f"did it, kept as a cross-check: blocks above 2 KiB in pages grown with "
            f"AllocatePages(AllocateAddress) at their end. EDK2 allocates top-down, so the "
            f"block a move frees often lies right above the new one: {pg.get('in_place')} of "
            f"its {pg.get('in_place', 0) + pg.get('moved', 0)} page-sized growth steps find the "
            f"pages after the block free and copy nothing.\n")
    pb = {k: med(lambda b, k=k: b.probe.get(k, 0) / b.tpi) for k in
          ("memcpy_1m", "pool_alloc_1m", "pool_free_1m", "pages_alloc_1m", "pages_free_1m")}
    add(f"The firmware dominates: copying 1 MiB (`rep movsq`) costs {f_int(pb['memcpy_1m'])} "
        f"instructions, but AllocatePool(1 MiB) {f_int(pb['pool_alloc_1m'])}, FreePool of it "
        f"{f_int(pb['pool_free_1m'])}, AllocatePages(256) {f_int(pb['pages_alloc_1m'])} and "
        f"FreePages(256) {f_int(pb['pages_free_1m'])}: this OVMF clears pool blocks on "
        f"allocation and on free, and freed pages, at about one instruction per byte under "
        f"-icount (on hardware a string store costs far less than it counts here). The library "
        f"adds "
        f"{f_ratio(ratio('W6', 'lib', 'raw')[0], 4)} of raw.\n")
    if steps_lib:
        add("<details><summary>Instructions per step, library (boot 0)</summary>\n")
        add(table(["new size", "instructions"],
                  [[f_int(sz), f_int(t / base.tpi)] for sz, t in steps_lib]))
        add("\n</details>\n")

    # ---- Sweep ----
    add("## Firmware memory per allocation against alignment\n")
    aligns = sorted({a for (s, a) in base.sweep if s == "lib"})
    blocks = meta.get("sweep_blocks", 512)
    size = next(iter(base.sweep.values()))["size"]

    def sweep_bytes(s, a):
        return med(lambda b: b.sweep[(s, a)]["pages"] * PAGE / b.sweep[(s, a)]["blocks"])

    pl = [(a, sweep_bytes("lib", a)) for a in aligns]
    pn = [(a, sweep_bytes("naive", a)) for a in aligns]
    raw_b = sweep_bytes("raw", 8)
    svg_plot(pl, pn, raw_b, size, blocks, os.path.join(args.docs, "alloc-overhead.svg"))
    add(f"![Firmware bytes per {size}-byte allocation against alignment](alloc-overhead.svg)\n")
    add(f"{blocks} live blocks of {size} B per point; bytes = EfiLoaderData pages at the peak × "
        f"4096 / {blocks}, the library's registry included. Raw AllocatePool({size}): "
        f"{raw_b:.0f} B per block.\n")
    rows = []
    for (a, lb), (_, nb) in zip(pl, pn):
        rows.append([f_bytes(a), f"{lb:.0f}", f"{nb:.0f}", f_ratio(lb / nb),
                     f_bytes(res_sweep(icount, 'lib', a, 'requested') / blocks),
                     f_bytes(res_sweep(icount, 'naive', a, 'requested') / blocks)])
    add(table(["alignment", "library B/block", "naive B/block", "lib/naive",
               "library request", "naive request"], rows))
    add("")

    def one_boot_tables(b):
        """Pages and instructions of every workload in one boot (the single-boot sections)."""
        rows = []
        for w in ("W1", "W2", "W3", "W6"):
            pkl = [(b.r(w, sch) or {}).get("peak_pages") for sch in ("lib", "naive", "raw")]
            rows.append([w, *(f_int(v) for v in pkl), f_ratio(pkl[0] / pkl[2], 3),
                         f_int(b.per_op_insns(w, "lib")), f_int(b.per_op_insns(w, "naive")),
                         f_int(b.per_op_insns(w, "raw")),
                         f_ratio(b.per_op_ticks(w, "lib") / b.per_op_ticks(w, "raw"), 3)])
        add(table(["Workload", "pages: library", "naive", "raw", "lib/raw pages",
                   "instructions/op: library", "naive", "raw", "lib/raw"], rows))
        add("")
        rows = []
        for w in ("W4", "W5"):
            for st in ("warm", "cold"):
                li, nv, rw = (b.per_op_insns(w, sch, st) for sch in ("lib", "naive", "raw"))
                rows.append([f"{w}, {st}", f_int(li), f_int(nv), f_int(rw), f_ratio(li / rw, 3),
                             f_ratio(li / nv, 3)])
        add(table(["Workload, state", "library", "naive", "raw 64 B", "lib/raw", "lib/naive"],
                  rows))
        add("")

    # ---- AArch64 ----
    if aa64 is not None:
        a = aa64
        add("## AArch64 (AAVMF, one -icount boot)\n")
        add(f"The same app for aarch64-unknown-uefi in AAVMF (`qemu-system-aarch64 -machine virt "
            f"-cpu cortex-a57`), one boot under the same -icount settings (the generic timer: "
            f"{a.tpi:.2f} ticks per instruction), scheme order lib/naive/raw. AAVMF does not clear "
            f"memory on allocation: AllocatePool(1 MiB) costs "
            f"{f_int(a.probe.get('pool_alloc_1m', 0) / a.tpi)} instructions here.\n")
        one_boot_tables(a)
        if a.r("W6", "pagegrow"):
            add(f"W6 *pagegrow* (see W6 above) on AArch64: "
                f"{f_int(a.per_op_insns('W6', 'pagegrow'))} instructions per step, "
                f"{f_ratio(a.per_op_ticks('W6', 'pagegrow') / a.per_op_ticks('W6', 'raw'), 3)} "
                f"of raw, with no memory clearing to inflate the moves.\n")

    # ---- IA32 ----
    if ia32 is not None:
        add("## IA32 (OVMF IA32, one -icount boot)\n")
        add(f"The same app for 32-bit x86, linked with the rustc archive for `i686-unknown-uefi` "
            f"(nightly `-Zbuild-std`) like the other images, in Debian's OVMF IA32 (the "
            f"Secure Boot + SMM build, `q35,smm=on`), one boot under the same -icount settings "
            f"(rdtsc: {ia32.tpi:.2f} ticks per instruction), scheme order lib/naive/raw. EDK2 IA32 "
            f"pool pointers sit at 16 mod 128.\n")
        one_boot_tables(ia32)

    # ---- U-Boot ----
    if uboot is not None:
        u = uboot
        add("## U-Boot's UEFI (AArch64, one -icount boot)\n")
        add(f"The same AArch64 app in Debian's U-Boot (`qemu_arm64/u-boot.bin`, "
            f"{u.meta.get('firmware', '?').replace('_', ' ')} revision "
            f"{u.meta.get('firmware_revision', '?')}), same QEMU settings. U-Boot's "
            f"AllocatePool gives every block at least one whole 4 KiB page, so raw and the naive "
            f"wrapper pay a page per small block, and a raw pair costs "
            f"{f_int(u.per_op_insns('W4', 'raw', 'warm'))} instructions warm and "
            f"{f_int(u.per_op_insns('W4', 'raw', 'cold'))} cold.\n")
        one_boot_tables(u)

    # ---- One allocator per boot ----
    images = images_figures(os.path.join(d, "images.log"))
    if images:
        add("## One allocator per boot: 8 images (OVMF X64)\n")
        n = images["meta"].get("images")
        add(f"`bench/uefi/images.c` loads {n} copies of a boot service driver "
            f"(`bench/uefi/images_worker.c`), each with its own copy of the library initialised for "
            f"an OEM memory type that nothing else in the firmware uses, so that the memory map "
            f"counts their pages exactly. Each allocates W1 ({f_int(images['meta'].get('blocks'))} "
            f"blocks of {images['meta'].get('size')} B at Align {images['meta'].get('align')}) and "
            f"keeps them; then all free everything. Once with every image private "
            f"(`POOL_PRIVATE`, each copy on its own as before the shared state), once sharing "
            f"the boot's state (the default). *Pages* are the workers' type in the memory map: the "
            f"front's pages, and with private states each image's bookkeeping too (of the image's "
            f"type). *Bookkeeping* is the library's `BookkeepingBytes` (index, records, slack "
            f"tables), per image summed for private states; a shared state keeps it once, in "
            f"EfiBootServicesData, beside its own pool block (*state*). *Total* is pages × 4096, "
            f"plus bookkeeping and state where they are not of the workers' type. At rest means "
            f"every block freed, before `pool_trim`.\n")
        rows = []
        for mode in ("private", "shared"):
            r = images[mode]
            extra = 0 if mode == "private" else r["state_bytes"]
            live_total = r["live_pages"] * 4096 + (0 if mode == "private" else r["live_bookkeeping"] + extra)
            rest_total = r["rest_pages"] * 4096 + (0 if mode == "private" else r["rest_bookkeeping"] + extra)
            rows.append([mode, f_int(r["live_pages"]), f_bytes(r["live_bookkeeping"]), f_bytes(live_total),
                         f_int(r["rest_pages"]), f_bytes(r["rest_bookkeeping"]), f_bytes(extra),
                         f_bytes(rest_total), f_int(r["trimmed_pages"])])
            r["live_total"], r["rest_total"] = live_total, rest_total
        add(table(["states", "live: pages", "live: bookkeeping", "live: total", "at rest: pages",
                   "at rest: bookkeeping", "state", "at rest: total", "idle front pages pool_trim gave back"], rows))
        p, sh = images["private"], images["shared"]
        saved = p['live_total'] - sh['live_total']
        add(f"\nShared against private: {f_bytes(saved)} less firmware memory while the blocks "
            f"live ({100 * saved / p['live_total']:.1f} %), {p['rest_total'] / sh['rest_total']:.1f}× "
            f"less at rest. Live, the blocks fill {f_int(sh['live_pages'])} pages when they share "
            f"them, against a partly used last page per image when each has its own; the "
            f"bookkeeping is the same. At rest, each private copy keeps its own idle page, records "
            f"and index, a shared state one of each.\n")

    # ---- Host ----
    add("## Host: instructions of the library's own code (callgrind)\n")
    if host:
        add(f"`bench/host` runs the library (the same release profile: opt-level z, LTO) on "
            f"`tests/sim` with AllocatePool/FreePool replaced by trivial stubs (a bump pointer in "
            f"a ring at 24 mod 128, a no-op free), {f_int(host['n'])} iterations per scenario, "
            f"each in its own `valgrind --tool=callgrind` process. Figure = (inclusive "
            f"instructions of the scenario's loop function − those of a baseline loop) / "
            f"iterations, from `callgrind_annotate --inclusive=yes`; the baseline is the same "
            f"loop calling the stubs directly through the Boot Services table for the raw path "
            f"and the naive wrapper (which call the firmware once per block), and an empty loop "
            f"({f_num(host['empty'], 0)} instructions) for the front, which calls "
            f"nothing. The C exports are called through a function "
            f"pointer, as from C. On the Linux host the exports are `ms_abi` functions calling "
            f"SysV code, so each call saves and restores xmm6–15 ({f_num(host['aligned_spill'], 0)} "
            f"instructions per aligned pair, counted in the disassembly); the UEFI targets have "
            f"one calling convention and no such spills, hence the *x64 UEFI code* column (host "
            f"figure less the spills).\n")
        def both(name):
            v = host[name]
            return [f_int(v), f_int(None if v is None else v - host[name + "_spill"])]

        rows = [
            ["aligned alloc+free, 64 B @ 64 (C exports)", *both("aligned"), f_int(w4["lib_w"]),
             "60"],
            ["aligned alloc+free, 64 B @ 32", *both("aligned32"), f_int(ins("W1", "lib")), ""],
            ["aligned alloc+free, 64 B @ 8", *both("aligned8"), f_int(w5["lib_w"]), ""],
            ["aligned alloc+free via `GlobalAlloc` (Rust API, no FFI)", *both("global"), "",
             "60"],
            ["raw alloc+free (`pool_raw_alloc`/`pool_raw_free`)", *both("raw"),
             f_int(w5["libraw_w"] - w5["raw_w"]), ""],
            ["realloc in place (64 ↔ 56 B)", *both("realloc"), "", ""],
            ["naive wrapper alloc+free (for comparison)", *both("naive"),
             f_int(w5["naive_w"] - w5["same_w"]), ""],
        ]
        add(table(["operation", "host", "x64 UEFI code", "in OVMF (-icount)", "goal"], rows))
        add("")
        add("*In OVMF* = for the front, the warm W4/W5 pair (and W1's pair at Align 32) "
            "measured in firmware, harness loop and call included; for the raw path and the "
            "naive wrapper, their warm W5 pair minus the warm raw pair of the same request size "
            "(this OVMF clears every pool block on allocation and on free, about one "
            "instruction per byte under -icount, so the sizes must match).\n")
        add("Where the aligned pair's instructions go (self instructions per pair, host; "
            "`bench_host::*` and `bench_aligned` are the stubs and the loop, `pool_aligned_*` "
            "mostly the host-only spills):\n")
        rows = [[f"`{f}`", f"{c:.0f}"] for c, f in host["self"] if c >= 1]
        add(table(["function", "instructions"], rows))
        add("")
    else:
        add("Not measured: valgrind was not found (`scripts/setup.sh` installs it).\n")

    # ---- Code size ----
    add("## Code size\n")
    add("Bytes the library's archive adds to an image, from lld-link's `/lldmap` (input "
        "sections from the archive's members, by output section). The benchmark app references "
        "every export, so its rows are the whole C API; `bench/uefi/size_min.c` calls only "
        "`pool_init`, `pool_aligned_alloc` and `pool_aligned_free`.\n")
    rows = []
    for name, sz in (("X64 (x86_64-unknown-uefi)", size_x64), ("AArch64 (aarch64-unknown-uefi)", size_aa64)):
        if not sz:
            continue
        own, cb = sz["own"], sz["builtins"]
        rows.append([name, f_int(own.get(".text", 0)), f_int(own.get(".rdata", 0)),
                     f_int(own.get(".data", 0)), f_int(own.get(".bss", 0)),
                     f_int(sum(cb.values())), "8 192" if "X64" in name else ""])
    if size_min:
        own, cb = size_min["own"], size_min["builtins"]
        rows.append(["X64, only `pool_init` + `pool_aligned_alloc` + `pool_aligned_free`",
                     f_int(own.get(".text", 0)), f_int(own.get(".rdata", 0)),
                     f_int(own.get(".data", 0)), f_int(own.get(".bss", 0)),
                     f_int(sum(cb.values())), ""])
    add(table(["target", ".text", ".rdata", ".data", ".bss", "compiler_builtins (memcpy, memset)",
               "goal (.text)"], rows))
    add("")
    if size_x64:
        add("Largest functions (X64): " + ", ".join(
            f"`{f.split('::', 1)[-1]}` {s}" for s, f in size_x64["funcs"][:10]) + ".\n")

    # ---- Method ----
    add("## Method and reproduction\n")
    add("```sh\nscripts/bench.sh            # build; 3 OVMF + 1 OVMF IA32 + 1 AAVMF + 1 U-Boot boots under -icount, 2 OVMF under TCG; host; docs\n"
        "scripts/bench.sh --report   # regenerate the docs from build/bench/\n"
        "BENCH_UBOOT=0 scripts/bench.sh  # without the U-Boot boot (BENCH_IA32=0: without IA32)\n"
        "BENCH_FULL=1 scripts/bench.sh   # W6 with all 1 000 repetitions (slower)\n```\n")
    add("- Workloads (seeded xorshift64*, generated before anything is timed): W1 10 000 live "
        "64-byte blocks at Align 32, then all freed; W2 256 live 4 KiB blocks at Align 4 KiB; "
        "W3 5 000 live blocks, sizes log-uniform in 1..8192, alignments 8/16/32/64/128/4096 with "
        "weights 40/25/15/10/5/5, freed in shuffled order; W4/W5 200 000 alloc/free pairs of "
        "64 B at Align 64 / 8; W6 realloc growth 16 B → 1 MiB by 1.5x; W7 200 000 pairs of "
        "1536 B at Align 64 (the pool path). Before each workload the library gives its idle "
        "pages back (`pool_trim`), so each starts from the same map. W1–W3 repeat "
        f"{meta.get('w1_reps')}/{meta.get('w2_reps')}/{meta.get('w3_reps')} times for timing "
        "(memory and leak from the first repetition).")
    add("- Raw runs the same sizes with no alignment (the floor a caller needing only 8 bytes "
        "pays); naive runs `Size + max(Align, 8)`.")
    add("- Boots: " + ", ".join(f"{k} {v:.0f} s" for k, v in sorted(times.items())) + ". "
        "The three -icount images differ only in the order of the schemes (lib/naive/raw, "
        "naive/raw/lib, raw/lib/naive).")
    add(f"- Calibration: {tpi:.2f} rdtsc ticks per instruction under -icount (spread "
        f"{f_pct(spr(lambda b: b.tpi))}).")
    add("- OVMF here is a build with DEBUG memory clearing: pool blocks and freed pages are "
        "overwritten byte by byte, so page-level operations cost far more instructions than on "
        "a release firmware; the comparisons hold within it.")
    add("")
    with open(os.path.join(args.docs, "benchmarks.md"), "w") as f:
        f.write("\n".join(md).replace("\n\n\n", "\n\n"))

    # ---- Summary for the demo ----
    s = []
    s.append("uefi-pool-alloc benchmarks in OVMF (QEMU -icount, median of 3 boots; "
             "docs/benchmarks.md)")
    s.append(f"  {'firmware pages at the peak':<28}{'library':>8}{'naive':>8}{'raw':>8}"
             f"{'time lib/raw':>14}")
    for w, title in (("W1", "W1 10 000 x 64 B @ 32"), ("W2", "W2 256 x 4 KiB @ 4 KiB"),
                     ("W3", "W3 5 000 mixed")):
        s.append(f"  {title:<28}{f_int(pk[w]['lib']):>8}{f_int(pk[w]['naive']):>8}"
                 f"{f_int(pk[w]['raw']):>8}{ratio(w, 'lib', 'raw')[0]:>13.2f}x")
    s.append(f"  W4/W5 alloc+free pair, 64 B @ 64 / @ 8: library {f_int(w4['lib_w'])} / "
             f"{f_int(w5['lib_w'])} instructions, raw 64 B {f_int(w4['raw_w'])} "
             f"({r4_raw_w[0]:.2f}x / {r5_raw_w[0]:.2f}x);")
    s.append(f"    lone pair (the pool page empties): library {f_int(w4['lib_c'])}, raw "
             f"{f_int(w4['raw_c'])} ({r4_raw_c[0]:.3f}x)")
    s.append(f"  W6 realloc 16 B -> 1 MiB: {r6[0]:.2f}x raw per step; W7 1536 B @ 64 (pool "
             f"path): {r7_w[0]:.2f}x raw of the same request")
    if ia32:
        s.append(f"  IA32 (OVMF IA32): W1 {f_int(ia32.r('W1', 'lib')['peak_pages'])} pages vs raw "
                 f"{f_int(ia32.r('W1', 'raw')['peak_pages'])}; W4 pair "
                 f"{f_int(ia32.per_op_insns('W4', 'lib', 'warm'))} vs "
                 f"{f_int(ia32.per_op_insns('W4', 'raw', 'warm'))} instructions")
    if uboot:
        s.append(f"  U-Boot (AArch64): W1 {f_int(uboot.r('W1', 'lib')['peak_pages'])} pages vs raw "
                 f"{f_int(uboot.r('W1', 'raw')['peak_pages'])}; W4 pair "
                 f"{f_int(uboot.per_op_insns('W4', 'lib', 'warm'))} vs "
                 f"{f_int(uboot.per_op_insns('W4', 'raw', 'warm'))} instructions")
    if images:
        s.append(f"  8 images, W1 each (OVMF X64): shared state {f_bytes(images['shared']['rest_total'])} "
                 f"at rest vs {f_bytes(images['private']['rest_total'])} private; live "
                 f"{f_bytes(images['shared']['live_total'])} vs {f_bytes(images['private']['live_total'])}")
    line = "  library code:"
    if host:
        line += (f" {f_int(host['global'])} instructions per Rust alloc+free, "
                 f"{f_int(host['aligned'] - host['aligned_spill'])} per C pair (callgrind);")
    s.append(line)
    if lib_text is not None:
        s.append(f"    {f_int(lib_text)} B of .text in an X64 .efi"
                 + (f" ({f_int(min_text)} B for init + aligned alloc/free)" if min_text else ""))
    with open(os.path.join(args.docs, "benchmarks-summary.txt"), "w") as f:
        f.write("\n".join(s).replace("\u202f", " ") + "\n")


def images_figures(path):
    """The `bench images` lines of the one-allocator-per-boot boot, by mode, or None."""
    if not os.path.exists(path):
        return None
    figures = {"meta": {}}
    with open(path, errors="replace") as f:
        for raw in f.read().splitlines():
            tokens = raw.replace("\r", "").strip().split()
            if tokens[:2] == ["bench", "meta"]:
                figures["meta"] = keyvals(tokens[2:])
            elif tokens[:2] == ["bench", "images"]:
                values = keyvals(tokens[2:])
                figures[values.pop("mode")] = values
            elif tokens[:2] == ["bench", "done"] and keyvals(tokens[2:]).get("errors") != 0:
                sys.exit(f"report.py: {path} reported errors")
    return figures if "private" in figures and "shared" in figures else None


def res_sweep(boots, s, a, key):
    return median([b.sweep[(s, a)][key] for b in boots if (s, a) in b.sweep])


if __name__ == "__main__":
    main()
