#!/usr/bin/env python3
"""Prints the table of medians and ratios from criterion's output.

Reads every ``<target>/criterion/**/new/benchmark.json`` (and the ``estimates.json``
beside it) written by ``cargo bench -p stringphone-benches`` and prints, in Markdown:

- the hot path per backend and size: encode next to sign + seal, decode next to
  verify (under the rule) + open, each as a ratio ("protocol / bare"), and next to
  libsodium's same primitives when the run had them ("/ libsodium");
- the rule's price (verify under the rule / plain verify);
- batch decoding against decoding one by one;
- parsing and discovery;
- protocol v2 next to classic and libsodium's classic (group ``v2``);
- the targets of issues 5 and 7, each marked as held or missed with its figure.

Usage: python3 benches/report.py [TARGET_DIR]
TARGET_DIR defaults to $CARGO_TARGET_DIR, else ./target. Python 3.11 stdlib only.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

SIZES = [0, 64, 1024, 16384, 65536]


def load(target: Path) -> dict[tuple[str, str, str], float]:
    """(group, function, value) -> median in nanoseconds."""
    root = target / "criterion"
    if not root.is_dir():
        sys.exit(f"no criterion output under {root}: run cargo bench first")
    medians: dict[tuple[str, str, str], float] = {}
    for bench in root.glob("**/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        estimates = json.loads((bench.parent / "estimates.json").read_text())
        key = (meta["group_id"], meta.get("function_id") or "", meta.get("value_str") or "")
        medians[key] = estimates["median"]["point_estimate"]
    if not medians:
        sys.exit(f"no benchmark results under {root}")
    return medians


def size_label(size: int) -> str:
    if size >= 1024:
        return f"{size // 1024} KiB"
    return f"{size} B"


def us(ns: float | None) -> str:
    if ns is None:
        return "–"
    v = ns / 1000
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "–"
    return f"{a / b:.3f}"


class Report:
    def __init__(self, medians: dict[tuple[str, str, str], float]):
        self.m = medians
        self.backends = sorted(
            {f.split(":")[0] for (_, f, _) in medians if ":" in f} - {"libsodium"}
        )
        self.has_sodium = any(f.startswith("libsodium:") for (_, f, _) in medians)
        self.raw_targets: list[tuple[str, float | None, float]] = []
        self.v2_targets: list[tuple[str, float | None, float]] = []

    def get(self, group: str, function: str, value: object = "") -> float | None:
        return self.m.get((group, function, str(value)))

    @staticmethod
    def add(*xs: float | None) -> float | None:
        return None if any(x is None for x in xs) else sum(xs)  # type: ignore[arg-type]

    def target(self, name: str, value: float | None, limit: float) -> None:
        self.raw_targets.append((name, value, limit))

    # Per direction: the criterion group (also the protocol call's name), the table's
    # title, the two bare primitives (function, column label), libsodium's row and the
    # issue's limit for the protocol against it at 64 B.
    HOT_PATH = (
        ("encode", "encode", ("sign", "sign"), ("seal", "seal"), "sign+secretbox", 1.05),
        ("decode", "decode, strict", ("verify", "verify (rule)"), ("open", "open"), "verify+open", 0.85),
    )

    def hot_path(self) -> None:
        for b in self.backends:
            for op, title, (first, first_label), (second, second_label), sodium_fn, sodium_limit in self.HOT_PATH:
                bare_label = f"{first}+{second}"
                sodium_cols = f" libsodium {sodium_fn} | / libsodium |" if self.has_sodium else ""
                print(f"\n### {b}: {title} (µs, median)\n")
                print(f"| size | {op}_into | {op} (Vec) | {first_label} | {second_label} | {bare_label} | {op} / bare |{sodium_cols}")
                print("|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if self.has_sodium else ""))
                for s in SIZES:
                    into = self.get(op, f"{b}:{op}_into", s)
                    vec = self.get(op, f"{b}:{op}", s)
                    one = self.get(op, f"{b}:{first}", s)
                    two = self.get(op, f"{b}:{second}", s)
                    bare = self.add(one, two)
                    row = f"| {size_label(s)} | {us(into)} | {us(vec)} | {us(one)} | {us(two)} | {us(bare)} | {ratio(into, bare)} |"
                    sod = self.get(op, f"libsodium:{sodium_fn}", s)
                    if self.has_sodium:
                        row += f" {us(sod)} | {ratio(into, sod)} |"
                    print(row)
                    if b == "rustcrypto":
                        if s == 64:
                            self.target(f"{op} / ({bare_label}) at 64 B", self.ratio_f(into, bare), 1.05)
                            self.target(f"{op} / libsodium {sodium_fn} at 64 B", self.ratio_f(into, sod), sodium_limit)
                        if s == 65536:
                            self.target(f"{op} / ({bare_label}) at 64 KiB", self.ratio_f(into, bare), 1.02)

    @staticmethod
    def ratio_f(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None or b == 0 else a / b

    def primitives(self) -> None:
        print("\n### Bare primitives (µs, median)\n")
        impls = self.backends + (["libsodium"] if self.has_sodium else [])
        names = {
            "sign": ("encode", "sign"),
            "seal": ("encode", "seal"),
            "verify (rule)": ("decode", "verify"),
            "verify (plain)": ("decode", "verify_plain"),
            "open": ("decode", "open"),
        }
        sodium_names = {
            "sign": "sign",
            "seal": "secretbox",
            "verify (rule)": "verify",
            "open": "open",
        }
        print("| primitive | size | " + " | ".join(impls) + " |")
        print("|---|---:|" + "---:|" * len(impls))
        for label, (group, fn) in names.items():
            for s in SIZES:
                cells = []
                for i in impls:
                    if i == "libsodium":
                        sn = sodium_names.get(label)
                        cells.append(us(self.get(group, f"libsodium:{sn}", s)) if sn else "–")
                    else:
                        cells.append(us(self.get(group, f"{i}:{fn}", s)))
                print(f"| {label} | {size_label(s)} | " + " | ".join(cells) + " |")
        print("\nThe rule's price (verify under the rule / plain verify of the same key):\n")
        for b in self.backends:
            rs = [ratio(self.get("decode", f"{b}:verify", s), self.get("decode", f"{b}:verify_plain", s)) for s in SIZES]
            print(f"- {b}: " + ", ".join(f"{size_label(s)} {r}" for s, r in zip(SIZES, rs)))
        if self.has_sodium:
            print("\n64 KiB, this project / libsodium:\n")
            for b in self.backends:
                parts = []
                for label, group, fn, sfn in [
                    ("encode", "encode", "encode_into", "sign+secretbox"),
                    ("decode", "decode", "decode_into", "verify+open"),
                    ("sign", "encode", "sign", "sign"),
                    ("seal", "encode", "seal", "secretbox"),
                    ("verify", "decode", "verify", "verify"),
                    ("open", "decode", "open", "open"),
                ]:
                    parts.append(f"{label} {ratio(self.get(group, f'{b}:{fn}', 65536), self.get(group, f'libsodium:{sfn}', 65536))}")
                print(f"- {b}: " + ", ".join(parts))

    def batch(self) -> None:
        rows = []
        for b in self.backends:
            batch = self.get("batch", f"{b}:decode_batch", 64)
            one = self.get("batch", f"{b}:decode_one_by_one", 64)
            vb = self.get("batch", f"{b}:verify_batch", 64)
            vo = self.get("batch", f"{b}:verify_one_by_one", 64)
            if batch is None and one is None:
                continue
            rows.append(f"| {b} | {us(batch)} | {us(one)} | {ratio(batch, one)} | {us(vb)} | {us(vo)} | {ratio(vb, vo)} |")
            if b == "rustcrypto":
                self.target("batch decode / one by one, 64 × 64 B from 64 senders", self.ratio_f(batch, one), 0.55)
        if rows:
            print("\n### Batch: 64 messages of 64 B from 64 senders (µs for all 64, median)\n")
            print("| backend | decode_batch | one by one | ratio | bare verify_batch | bare verify × 64 | ratio |")
            print("|---|---:|---:|---:|---:|---:|---:|")
            print("\n".join(rows))

    def message(self) -> None:
        ops = ["parse_simple_64", "parse_intro", "construct_intro", "construct_reply", "parse_reply"]
        print("\n### Parsing and discovery (µs, median)\n")
        print("| operation | " + " | ".join(self.backends) + " |")
        print("|---|" + "---:|" * len(self.backends))
        for op in ops:
            cells = []
            for b in self.backends:
                v = self.get("message", f"{b}:{op}")
                cells.append(f"{v:.0f} ns" if v is not None and v < 1000 else us(v))
            print(f"| {op} | " + " | ".join(cells) + " |")

    def v2(self) -> None:
        """Group `v2` (benches/v2.rs): v2 next to classic and libsodium's classic."""
        if not any(g == "v2" for (g, _, _) in self.m):
            return
        print("\n### Protocol v2 next to classic (µs, median; group `v2`)\n")
        cols = (["libsodium classic"] if self.has_sodium else []) + [
            f"{b} {fmt}" for b in self.backends for fmt in ("classic", "v2")
        ]
        for op, sodium_fn in (("encode", "sign_secretbox"), ("decode", "verify_open")):
            print(f"\n{op}:\n")
            print("| size | " + " | ".join(cols) + " |")
            print("|---:|" + "---:|" * len(cols))
            for s in SIZES:
                cells = [us(self.get("v2", f"libsodium:{sodium_fn}", s))] if self.has_sodium else []
                for b in self.backends:
                    for fmt in ("classic", "v2"):
                        cells.append(us(self.get("v2", f"{b}:{fmt}_{op}", s)))
                print(f"| {size_label(s)} | " + " | ".join(cells) + " |")
        for b in self.backends:
            for op, sodium_fn, speedup in (("encode", "sign_secretbox", 3.0), ("decode", "verify_open", 2.0)):
                v2_big = self.get("v2", f"{b}:v2_{op}", 65536)
                sod_big = self.get("v2", f"libsodium:{sodium_fn}", 65536)
                # "at least N x faster" is v2 / libsodium <= 1/N.
                self.v2_targets.append(
                    (f"{b}: v2 {op} / libsodium classic at 64 KiB", self.ratio_f(v2_big, sod_big), round(1 / speedup, 3))
                )
                small = self.get("v2", f"{b}:v2_{op}", 64)
                self.v2_targets.append(
                    (f"{b}: v2 {op} / {b} classic at 64 B", self.ratio_f(small, self.get("v2", f"{b}:classic_{op}", 64)), 1.0)
                )
                self.v2_targets.append(
                    (f"{b}: v2 {op} / libsodium classic at 64 B", self.ratio_f(small, self.get("v2", f"libsodium:{sodium_fn}", 64)), 1.0)
                )

    def summary(self) -> None:
        for title, targets in (
            ("Targets of the hot path (RustCrypto, same run)", [(n, self.fmt(v, l), self.holds(v, l)) for n, v, l in self.raw_targets]),
            ("Targets of protocol v2 (per backend, same run)", [(n, self.fmt(v, l), self.holds(v, l)) for n, v, l in self.v2_targets]),
        ):
            if all(value == "not measured" for _, value, _ in targets):
                continue
            print(f"\n### {title}\n")
            print("| target | measured | holds |")
            print("|---|---:|:---:|")
            for name, value, ok in targets:
                mark = "–" if ok is None else ok if isinstance(ok, str) else ("yes" if ok else "**no**")
                print(f"| {name} | {value} | {mark} |")

    @staticmethod
    def fmt(value: float | None, limit: float) -> str:
        return "not measured" if value is None else f"{value:.3f} (limit {limit})"

    @staticmethod
    def holds(value: float | None, limit: float) -> bool | str | None:
        if value is None:
            return None
        if value <= limit:
            return True
        # "No slower than" (limit 1.0) between two rows that differ by less than a run's
        # spread is a tie, not a miss: say so instead of rounding it either way.
        if limit == 1.0 and value <= 1.02:
            return "tie (within 2 %)"
        return False


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CARGO_TARGET_DIR", "target"))
    r = Report(load(target))
    r.hot_path()
    r.batch()
    r.primitives()
    r.message()
    r.v2()
    r.summary()


if __name__ == "__main__":
    main()
