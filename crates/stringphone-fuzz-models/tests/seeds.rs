//! Every model on a fixed set of inputs, on stable Rust, in the ordinary test run.
//!
//! Each target's model (the check its cargo-fuzz target runs, on the bytes that
//! target gets) runs on inputs drawn from the test RNG with a seed fixed per target,
//! so every run checks the same inputs and a failure replays. The raw-bytes targets
//! also get the classic vectors' messages with a few bytes changed, and `v2` its own
//! valid messages edited (inputs starting with `0xff`), so that they get past the
//! parsers. The models assert every verdict they predict: a wrong answer of the
//! library fails here, and the failing input is printed, to keep under
//! `tests/regressions/TARGET/`.

use rand_core::RngCore;
use stringphone_fuzz_models::{Target, TARGETS};
use stringphone_testkit::TestRng;

/// Inputs per target.
const INPUTS: usize = 300;
/// The longest random input, in bytes.
const LONGEST: usize = 1024;

/// The fixed random source of one target's inputs.
fn rng(target: &str) -> TestRng {
    TestRng::seeded_by(&[b"stringphone-fuzz-models seeds", target.as_bytes()])
}

/// A number below `n`, from the stream.
fn below(rng: &mut TestRng, n: usize) -> usize {
    rng.next_u32() as usize % n
}

/// Random bytes, a third of them short: `arbitrary` fills what runs short with zeros
/// and first choices, the cases (all-zero keys, empty lists) long inputs rarely make.
fn random_bytes(rng: &mut TestRng) -> Vec<u8> {
    let longest = if below(rng, 3) == 0 { 64 } else { LONGEST };
    let mut input = vec![0u8; below(rng, longest + 1)];
    rng.fill_bytes(&mut input);
    input
}

/// `message` with one to four bytes set to random values.
fn edited(rng: &mut TestRng, message: &[u8]) -> Vec<u8> {
    let mut input = message.to_vec();
    if !input.is_empty() {
        for _ in 0..=below(rng, 4) {
            let at = below(rng, input.len());
            input[at] = rng.next_u32() as u8;
        }
    }
    input
}

/// Every wire message of the classic vectors (the targets' seed corpus).
fn vector_messages() -> Vec<Vec<u8>> {
    let v = stringphone_testkit::vectors::load_classic().expect("the classic vectors");
    let mut out = Vec::new();
    for section in stringphone_testkit::vectors::CLASSIC_SECTIONS {
        for entry in v[section].as_array().expect("a section") {
            for field in ["message", "intro"] {
                if let Some(hex) = entry[field].as_str() {
                    out.push(stringphone_testkit::vectors::unhex(hex).expect("hex"));
                }
            }
        }
    }
    assert!(!out.is_empty(), "no vector messages");
    out
}

/// The inputs of `target`: random bytes, and for half of them (on the targets that
/// read raw messages) what gets past their parsers.
fn inputs(target: &str) -> Vec<Vec<u8>> {
    let mut rng = rng(target);
    let vectors = vector_messages();
    (0..INPUTS)
        .map(|i| match target {
            "parse" | "decode" | "discovery" if i % 2 == 1 => {
                let m = &vectors[below(&mut rng, vectors.len())];
                edited(&mut rng, m)
            }
            "v2" if i % 2 == 1 => {
                let mut input = random_bytes(&mut rng);
                input.insert(0, 0xff);
                input
            }
            _ => random_bytes(&mut rng),
        })
        .collect()
}

/// Runs `target`'s model on its inputs; fails with the first input it fails on.
/// At least `least_run` of them must make an input of the target (not skipped).
fn run(target: &str, least_run: usize) {
    let check: Target = TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .expect("a target of that name")
        .1;
    let mut ran = 0;
    for (i, input) in inputs(target).iter().enumerate() {
        match std::panic::catch_unwind(|| check(input)) {
            Ok(made) => ran += usize::from(made),
            Err(_) => panic!(
                "{target}: the model fails on input {i} (keep it as \
                 tests/regressions/{target}/NAME): {}",
                hex(input)
            ),
        }
    }
    println!("{target}: {ran} of {INPUTS} inputs checked");
    assert!(ran >= least_run, "{target}: only {ran} inputs made a case");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn parse() {
    run("parse", INPUTS);
}

#[test]
fn decode() {
    run("decode", INPUTS);
}

#[test]
fn discovery() {
    run("discovery", INPUTS);
}

#[test]
fn structured() {
    run("structured", INPUTS * 9 / 10);
}

#[test]
fn verify_agreement() {
    run("verify_agreement", INPUTS * 9 / 10);
}

#[test]
fn v2() {
    run("v2", INPUTS);
}

#[test]
fn v2_structured() {
    run("v2_structured", INPUTS * 9 / 10);
}

#[test]
fn v2_topics() {
    run("v2_topics", INPUTS * 9 / 10);
}

/// Every target has its test above.
#[test]
fn every_target_is_seeded() {
    let source = include_str!("seeds.rs");
    for (name, _) in TARGETS {
        assert!(
            source.contains(&format!("run(\"{name}\"")),
            "no seeded test runs {name}"
        );
    }
}
