//! The core crate's map (`crates/stringphone-core/doc/map.md`, the top of its docs, and
//! its copy `docs/map.md`) names, for each step of the protocol, the file and function
//! where it happens. A map that points at a function that moved is worse than none:
//! this test reads the map as any reader would and checks every place it names.
//!
//! The reading rule: in the map's text, a code span ending in `.rs` names a file under
//! `crates/stringphone-core/src/`; each code span after it that is a Rust path
//! (`receive_into`, `V2Message::parse`) names an item defined in that file (its last
//! segment, after `fn`, `trait`, `struct` or `enum`), until another span that is
//! neither resets the reading.

use std::fs;
use std::path::{Path, PathBuf};

/// The steps the map must give a row to (issue 16's list).
const STEPS: [&str; 9] = [
    "parse",
    "seal",
    "sign",
    "verify",
    "open",
    "discovery",
    "rotation",
    "replay",
    "storage",
];

/// The workspace's root (the kit lives in `crates/stringphone-testkit`; unpublished, so
/// this test always runs from a checkout).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn map() -> String {
    let path = root().join("crates/stringphone-core/doc/map.md");
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The code spans of `text`, in order.
fn code_spans(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

fn is_rust_path(span: &str) -> bool {
    !span.is_empty()
        && !span.starts_with(|c: char| c.is_ascii_digit())
        && span
            .split("::")
            .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_alphanumeric() || c == '_'))
}

/// Whether `source` defines an item called `name`.
fn defines(source: &str, name: &str) -> bool {
    ["fn", "trait", "struct", "enum"].iter().any(|kind| {
        let needle = format!("{kind} {name}");
        source.match_indices(&needle).any(|(at, _)| {
            let after = source[at + needle.len()..].chars().next();
            !matches!(after, Some(c) if c.is_alphanumeric() || c == '_')
        })
    })
}

/// Every (file, item) pair the map names.
fn places(map: &str) -> Vec<(String, String)> {
    let mut places = Vec::new();
    let mut file: Option<&str> = None;
    for span in code_spans(map) {
        if span.ends_with(".rs") {
            file = Some(span);
        } else if is_rust_path(span) {
            if let Some(f) = file {
                let item = span.rsplit("::").next().unwrap_or(span);
                places.push((f.to_string(), item.to_string()));
            }
        } else {
            file = None;
        }
    }
    places
}

#[test]
fn every_place_the_map_names_exists() {
    let src = root().join("crates/stringphone-core/src");
    let map = map();
    let places = places(&map);
    assert!(
        places.len() >= STEPS.len(),
        "the map names {} places",
        places.len()
    );
    let mut wrong = Vec::new();
    for (file, item) in &places {
        let path: &Path = &src.join(file);
        match fs::read_to_string(path) {
            Ok(source) if defines(&source, item) => {}
            Ok(_) => wrong.push(format!("{file} defines no `{item}`")),
            Err(e) => wrong.push(format!("{file}: {e}")),
        }
    }
    assert!(wrong.is_empty(), "the map is stale:\n{}", wrong.join("\n"));
    println!("{} places on the map, each where it says", places.len());
}

#[test]
fn every_step_has_its_row() {
    let map = map();
    // Each table row as (its first cell, the whole line).
    let rows: Vec<(&str, &str)> = map
        .lines()
        .filter_map(|line| {
            let first = line.strip_prefix('|')?.split('|').next()?;
            Some((first.trim(), line))
        })
        .collect();
    for step in STEPS {
        let (_, row) = rows
            .iter()
            .find(|(first, _)| *first == step)
            .unwrap_or_else(|| {
                panic!(
                    "no row for `{step}` (rows: {:?})",
                    rows.iter().map(|r| r.0).collect::<Vec<_>>()
                )
            });
        assert!(
            row.contains(".rs`"),
            "the row of `{step}` names no file: {row}"
        );
    }
}

#[test]
fn the_docs_folder_holds_the_same_map() {
    let copy = root().join("docs/map.md");
    let copy = fs::read_to_string(&copy).unwrap_or_else(|e| panic!("{}: {e}", copy.display()));
    assert_eq!(copy, map(), "docs/map.md differs from the core crate's map");
}
