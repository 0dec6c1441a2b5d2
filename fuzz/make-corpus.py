#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target from the test vectors in vectors/.

    python3 fuzz/make-corpus.py [--out fuzz/corpus]

Reads vectors/classic.json and ed25519-edge.json (or the files named by
STRINGPHONE_VECTORS and STRINGPHONE_ED25519_VECTORS, as the tests do). The corpus
is generated, never committed (/fuzz/corpus is git-ignored). Standard library only.

- parse, decode, discovery: every wire message in classic.json (simple messages of
  up to 4 KiB; the 64 KiB and 100 KiB ones would only raise libFuzzer's max_len),
  plus a copy of a simple message carrying the decode receiver's own id.
- verify_agreement: every ed25519-edge.json case as `Case::Raw` in `arbitrary`'s
  encoding (4 bytes of variant index 0, key, signature, then the message as the
  last field: each byte preceded by a 0x01 "one more" flag), plus each simple
  vector's key, signature and signed part.
- v2: `0xff` followed by 0..3, the four valid v2 messages the target edits, and
  the classic messages.
- structured: a few byte strings of each shape; `arbitrary` turns any bytes into a
  case, so these only start the fuzzer on both scenarios.
- v2_structured: a `Traffic` case for each prelude
  (crates/stringphone-fuzz-models/src/v2_structured.rs), with and without the
  receiver's key and with a grace period of 0, and a few `Discovery` cases; `arbitrary` reads integers little-endian and picks variant
  `(u32 * count) >> 32`.
- v2_topics: a case for each of its preludes
  (crates/stringphone-fuzz-models/src/v2_topics.rs), with and without the
  receivers' key and with a grace period of 0.
"""

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MAX_SEED = 4096
# The decode target's receiver is reply[0]'s joiner
# (crates/stringphone-fuzz-models/src/raw.rs).
OWN_ID_FROM = ("reply", 0, "joiner_id")


def vectors_path(env, name):
    named = os.environ.get(env)
    return Path(named) if named else ROOT / "vectors" / name


def write(directory, data):
    directory.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    (directory / name).write_bytes(data)


def take_rest_bytes(data):
    """A `Vec<u8>` that is the last field, as `arbitrary` 1.4+ reads it."""
    return b"".join(b"\x01" + bytes([b]) for b in data)


def variant(index, count):
    """The 4 bytes `arbitrary` reads as the tag of variant `index` of `count`."""
    return (-(-index * 2**32 // count)).to_bytes(4, "little")


# crates/stringphone-fuzz-models/src/v2_structured.rs: `Scenario` has 2 variants,
# `Prelude` 14.
V2S_SCENARIOS = 2
V2S_PRELUDES = 14


def v2_structured_seeds():
    seeds = []
    for prelude in range(V2S_PRELUDES):
        for has_key, grace in ((1, b"\x00"), (0, b"\x00"), (1, b"\x01\x00")):
            # prelude, receiver_has_key, grace (Option<u8>), starts (5 x None), seed,
            # then no actions of the fuzzer's own.
            seeds.append(
                variant(0, V2S_SCENARIOS)
                + variant(prelude, V2S_PRELUDES)
                + bytes([has_key])
                + grace
                + b"\x00" * 5
                + b"\x07"
                + b"\x00"
            )
    for fill in (b"\x00", b"\x01", b"\x41", b"\xff"):
        seeds.append(variant(1, V2S_SCENARIOS) + fill * 200)
    return seeds


# crates/stringphone-fuzz-models/src/v2_topics.rs: `TopicsPrelude` has 5 variants.
V2T_PRELUDES = 5


def v2_topics_seeds():
    seeds = []
    for prelude in range(V2T_PRELUDES):
        for has_key, grace in ((1, b"\x00"), (0, b"\x00"), (1, b"\x01\x00")):
            # prelude, receiver_has_key, grace, starts (5 x None), seed, no steps.
            seeds.append(
                variant(prelude, V2T_PRELUDES)
                + bytes([has_key])
                + grace
                + b"\x00" * 5
                + b"\x07"
                + b"\x00"
            )
    return seeds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "corpus")
    args = parser.parse_args()

    classic = json.loads(vectors_path("STRINGPHONE_VECTORS", "classic.json").read_text())
    edge = json.loads(
        vectors_path("STRINGPHONE_ED25519_VECTORS", "ed25519-edge.json").read_text()
    )
    h = bytes.fromhex

    wire = []
    for e in classic["simple"]:
        wire.append(h(e["message"]))
    for e in classic["intro"]:
        wire.append(h(e["message"]))
    for e in classic["reply"]:
        wire.append(h(e["intro"]))
        wire.append(h(e["message"]))
    for e in classic["invalid"]:
        wire.append(h(e["message"]))
    # An echo of our own message: the decode receiver's id as the sender id.
    section, index, field = OWN_ID_FROM
    own_id = h(classic[section][index][field])
    echo = bytearray(h(classic["simple"][1]["message"]))
    echo[65:81] = own_id
    wire.append(bytes(echo))
    wire = [w for w in wire if len(w) <= MAX_SEED]

    for target in ("parse", "decode", "discovery"):
        for w in wire:
            write(args.out / target, w)

    agreement = args.out / "verify_agreement"
    raw = b"\x00\x00\x00\x00"
    for case in edge["cases"]:
        key, sig, msg = h(case["public_key"]), h(case["signature"]), h(case["message"])
        if len(key) == 32 and len(sig) == 64:
            write(agreement, raw + key + sig + take_rest_bytes(msg))
    for e in classic["simple"]:
        m = h(e["message"])
        if len(m) <= MAX_SEED // 2:
            signed = take_rest_bytes(m[65:])
            write(agreement, raw + h(e["sender_public_key"]) + m[1:65] + signed)

    # v2: the four unedited templates (0xff, which), then the classic messages.
    v2 = args.out / "v2"
    for which in range(4):
        write(v2, bytes([0xFF, which]))
    for w in wire:
        write(v2, w)

    for seed in v2_structured_seeds():
        write(args.out / "v2_structured", seed)
    for seed in v2_topics_seeds():
        write(args.out / "v2_topics", seed)

    structured = args.out / "structured"
    for variant in (b"\x00\x00\x00\x00", b"\xff\xff\xff\xff"):
        for fill in (b"\x00", b"\x01", b"\x41"):
            write(structured, variant + fill * 160)

    counts = {d.name: len(list(d.iterdir())) for d in sorted(args.out.iterdir()) if d.is_dir()}
    print(f"seed corpus in {args.out}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
