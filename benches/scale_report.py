#!/usr/bin/env python3
"""Tables and curves of how stringphone's costs grow with the number of participants.

Reads criterion's output of ``benches/scale.rs`` (groups ``scale``, ``durable_marks``,
``gateway``) under ``<target>/criterion`` and ``<target>/criterion/scale-sizes.json``
(the sizes on the wire the bench wrote), prints the Markdown tables of
``benches/README.md`` ("Scale") with the targets of issue 13, and draws the curves
(cost against participants, log scales, one line per store) into an SVG.

Usage: python3 benches/scale_report.py [TARGET_DIR] [SVG_OUT]
TARGET_DIR defaults to $CARGO_TARGET_DIR, else ./target; SVG_OUT to
benches/results/scale.svg. Python 3 standard library only.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

NS = [10, 100, 1000, 10000]


def load(target: Path) -> dict[tuple[str, str, str], float]:
    """(group, function, value) -> median in nanoseconds."""
    root = target / "criterion"
    medians: dict[tuple[str, str, str], float] = {}
    for bench in root.glob("**/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        if meta["group_id"] not in ("scale", "durable_marks", "gateway"):
            continue
        est = json.loads((bench.parent / "estimates.json").read_text())
        key = (meta["group_id"], meta.get("function_id") or "", meta.get("value_str") or "")
        medians[key] = est["median"]["point_estimate"]
    if not medians:
        sys.exit(f"no scale results under {root}: run cargo bench --bench scale first")
    return medians


def fmt(ns: float | None, unit: str = "us") -> str:
    if ns is None:
        return "–"
    v = ns / (1000 if unit == "us" else 1_000_000)
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def held(ok: bool) -> str:
    return "held" if ok else "**missed**"


def growth(values: list[float | None]) -> str:
    """How a series grows from N=10 to its last N: the exponent of N."""
    pts = [(n, v) for n, v in zip(NS, values) if v]
    if len(pts) < 2:
        return "–"
    (n0, v0), (n1, v1) = pts[0], pts[-1]
    k = math.log(v1 / v0) / math.log(n1 / n0)
    if abs(k) < 0.1:
        return f"flat (x{v1 / v0:.2f} from {n0} to {n1})"
    return f"~N^{k:.2f} (x{v1 / v0:.1f} from {n0} to {n1})"


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CARGO_TARGET_DIR", "target"))
    svg_out = Path(sys.argv[2] if len(sys.argv) > 2 else "benches/results/scale.svg")
    m = load(target)
    sizes_path = target / "criterion" / "scale-sizes.json"
    sizes = json.loads(sizes_path.read_text()) if sizes_path.exists() else []
    size = {(s["what"], s["n"]): s["bytes"] for s in sizes}

    def get(group: str, function: str, value: object) -> float | None:
        return m.get((group, function, str(value)))

    stores = [("memory", "memory"), ("sqlite", "SQLite (FULL)"), ("file", "text files (store-file)")]
    print("## Decode of one 64 B message against trusted participants (µs, median)\n")
    print("| store | format | " + " | ".join(f"N = {n:,}" for n in NS) + " | 10,000 / 10 | target ≤ 1.10 |")
    print("|---|---|" + "---:|" * len(NS) + "---:|---|")
    for store, label in stores:
        for fmt_name in ("classic", "v2"):
            row = [get("scale", f"{store}:{fmt_name}_decode", n) for n in NS]
            r = row[-1] / row[0] if row[0] and row[-1] else None
            print(
                f"| {label} | {fmt_name} | " + " | ".join(fmt(v) for v in row)
                + f" | {r:.3f} | {held(r is not None and r <= 1.10)} |" if r else " | – | – |"
            )

    print("\n## v2 decode with durable marks, amortised over 1,000 messages from each of 10 senders (µs per message, median)\n")
    print("| store | fsync policy | µs / message | / memory | target ≤ 1.10 |")
    print("|---|---|---:|---:|---|")
    mem = get("durable_marks", "memory", 1000)
    for fn, label, policy in [
        ("memory", "memory", "–"),
        ("sqlite-full", "SQLite", "synchronous=FULL (fsync per mark write)"),
        ("sqlite-normal", "SQLite", "synchronous=NORMAL (fsync at checkpoints)"),
    ]:
        v = get("durable_marks", fn, 1000)
        r = v / mem if v and mem else None
        verdict = "–" if fn == "memory" or r is None else held(r <= 1.10)
        print(f"| {label} | {policy} | {fmt(v)} | {r:.3f} | {verdict} |" if r else f"| {label} | {policy} | {fmt(v)} | – | – |")

    print("\n## Adding and removing a participant, rotating to all members\n")
    print("| operation | store | " + " | ".join(f"N = {n:,}" for n in NS) + " | growth |")
    print("|---|---|" + "---:|" * len(NS) + "---|")
    for op, unit in [("add_participant", "us"), ("remove_participant", "us"), ("rotate", "ms"), ("accept_rekey", "us")]:
        for store, label in stores:
            row = [get("scale", f"{store}:{op}", n) for n in NS]
            print(f"| {op} ({'ms' if unit == 'ms' else 'µs'}) | {label} | " + " | ".join(fmt(v, unit) for v in row) + f" | {growth(row)} |")
    rekey = [size.get(("rekey", n)) for n in NS]
    print("| rekey on the wire (bytes) | – | " + " | ".join(f"{v:,}" if v else "refused" for v in rekey) + " | 64 B per member |")
    if ("intro", 0) in size:
        print(f"\nOn the wire, adding a participant takes its v2 introduction ({size[('intro', 0)]} B) and "
              f"the reply ({size[('reply', 0)]} B), whatever N; removing one takes the trust change "
              "(nothing on the wire) and, to take the key away, a rotation to the others (the rekey row).")

    print("\n## Gateway: an inbox of 10,000 messages of 64 B from 10,000 senders\n")
    print("| how | store | ms per inbox | µs / message | messages/s | libsodium one by one / this | target ≥ 4 |")
    print("|---|---|---:|---:|---:|---:|---|")
    sodium = get("gateway", "libsodium:verify_open", 10000)
    rows = [("libsodium:verify_open", "libsodium verify+open, one by one, 1 core (classic)", "–")]
    for fmt_name in ("classic", "v2"):
        for how, what in [("one_by_one", "decode_in_place one by one, 1 core"), ("batch", "decode_batch, 1 core"), ("parallel", "decode_batch_parallel, every core")]:
            rows.append((f"memory:{fmt_name}_{how}", f"{fmt_name}: {what}", "memory"))
        rows.append((f"sqlite-normal:{fmt_name}_parallel", f"{fmt_name}: decode_batch_parallel, every core", "SQLite (NORMAL)"))
    for fn, what, store in rows:
        v = get("gateway", fn, 10000)
        if v is None:
            continue
        r = sodium / v if sodium else None
        target_col = held(r >= 4) if r and "parallel" in fn else "–"
        print(f"| {what} | {store} | {fmt(v, 'ms')} | {v / 10000 / 1000:.2f} | {10000 / (v / 1e9):,.0f} | "
              + (f"{r:.2f}" if r else "–") + f" | {target_col} |")

    draw(svg_out, get, size)
    print(f"\n(curves: {svg_out})")


# ----- the SVG ----------------------------------------------------------------------------

COLORS = {"memory": "#1f77b4", "sqlite": "#d62728", "file": "#2ca02c"}


def draw(path: Path, get, size) -> None:
    panels = [
        ("Decode of one 64 B message (µs)", [
            ("memory, classic", "memory", "", [get("scale", "memory:classic_decode", n) for n in NS], 1e3),
            ("memory, v2", "memory", "6 3", [get("scale", "memory:v2_decode", n) for n in NS], 1e3),
            ("SQLite, classic", "sqlite", "", [get("scale", "sqlite:classic_decode", n) for n in NS], 1e3),
            ("SQLite, v2", "sqlite", "6 3", [get("scale", "sqlite:v2_decode", n) for n in NS], 1e3),
            ("text files, classic", "file", "", [get("scale", "file:classic_decode", n) for n in NS], 1e3),
            ("text files, v2", "file", "6 3", [get("scale", "file:v2_decode", n) for n in NS], 1e3),
        ]),
        ("Add / remove a participant (µs)", [
            ("memory, add", "memory", "", [get("scale", "memory:add_participant", n) for n in NS], 1e3),
            ("memory, remove", "memory", "6 3", [get("scale", "memory:remove_participant", n) for n in NS], 1e3),
            ("SQLite, add", "sqlite", "", [get("scale", "sqlite:add_participant", n) for n in NS], 1e3),
            ("SQLite, remove", "sqlite", "6 3", [get("scale", "sqlite:remove_participant", n) for n in NS], 1e3),
            ("text files, add", "file", "", [get("scale", "file:add_participant", n) for n in NS], 1e3),
            ("text files, remove", "file", "6 3", [get("scale", "file:remove_participant", n) for n in NS], 1e3),
        ]),
        ("Rotation to all members (ms; KB on the wire)", [
            ("memory, rotate", "memory", "", [get("scale", "memory:rotate", n) for n in NS], 1e6),
            ("SQLite, rotate", "sqlite", "", [get("scale", "sqlite:rotate", n) for n in NS], 1e6),
            ("text files, rotate", "file", "", [get("scale", "file:rotate", n) for n in NS], 1e6),
            ("rekey size (KB)", "#555555", "2 3", [size.get(("rekey", n)) for n in NS], 1e3),
        ]),
    ]
    w, h, pad = 340, 260, 56
    width = len(panels) * w + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h + 150}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{h + 150}" fill="white"/>']
    for i, (title, series) in enumerate(panels):
        x0 = 10 + i * w
        out += panel(x0, 10, w - 10, h, pad, title, series)
    out.append(f'<text x="10" y="{h + 140}" fill="#555">participants (log scale); '
               'values log scale; missing points: not measured (rotation to 10,000 is refused '
               'by the wire format, MAX_MEMBERS = 1,024)</text>')
    out.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n")


def panel(x0, y0, w, h, pad, title, series):
    values = [v / div for _, _, _, vs, div in series for v in vs if v]
    if not values:
        return []
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    if hi <= lo:
        hi = lo * 10
    left, top, right, bottom = x0 + pad, y0 + 24, x0 + w - 8, y0 + h - 30

    def px(n):
        return left + (math.log10(n) - 1) / 3 * (right - left)

    def py(v):
        return bottom - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * (bottom - top)

    out = [f'<text x="{x0 + 8}" y="{y0 + 12}" font-weight="bold">{title}</text>',
           f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="none" stroke="#999"/>']
    for n in NS:
        out.append(f'<line x1="{px(n):.1f}" y1="{top}" x2="{px(n):.1f}" y2="{bottom}" stroke="#eee"/>')
        out.append(f'<text x="{px(n):.1f}" y="{bottom + 14}" text-anchor="middle">{n:,}</text>')
    d = lo
    while d <= hi * 1.0001:
        out.append(f'<line x1="{left}" y1="{py(d):.1f}" x2="{right}" y2="{py(d):.1f}" stroke="#eee"/>')
        label = f"{d:g}" if d < 1e5 else f"{d:.0e}"
        out.append(f'<text x="{left - 4}" y="{py(d) + 4:.1f}" text-anchor="end">{label}</text>')
        d *= 10
    for j, (label, color, dash, vs, div) in enumerate(series):
        color = COLORS.get(color, color)
        pts = [(px(n), py(v / div)) for n, v in zip(NS, vs) if v]
        if pts:
            path = " ".join(f"{'M' if k == 0 else 'L'}{x:.1f},{y:.1f}" for k, (x, y) in enumerate(pts))
            out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"'
                       + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
            for x, y in pts:
                out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>')
        ly = bottom + 30 + j * 14
        out.append(f'<line x1="{left}" y1="{ly - 4}" x2="{left + 24}" y2="{ly - 4}" stroke="{color}" '
                   f'stroke-width="2"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        out.append(f'<text x="{left + 30}" y="{ly}">{label}</text>')
    return out


if __name__ == "__main__":
    main()
