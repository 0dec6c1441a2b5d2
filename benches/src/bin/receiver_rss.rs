//! The resident memory of a v2 receiver that has heard from 10,000 senders, read from
//! `/proc/self/status` (Linux).
//!
//! ```sh
//! cargo run --release -p stringphone-benches --bin receiver_rss [memory|sqlite] [SENDERS]
//! ```
//!
//! The messages are made first by this program run as a child process and written to
//! a file, so the senders' own memory never counts; the measuring process reads them
//! (and the senders' public keys), then prints its resident set after each step:
//! loaded, receiver built (all senders trusted), one message decoded from every sender
//! (each sender's replay window, derived key and mark), a second one from every sender.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use stringphone_core::v2::{ProtocolVersion, TopicId};
use stringphone_core::{
    DecodeMode, MemoryTrustStore, PublicKey, SigningSeed, Topic, TopicKey, TrustStore,
};
use stringphone_rustcrypto::RustCrypto;
use stringphone_store_sqlite::SqliteTrustStore;

const KEY: [u8; 32] = [0x17; 32];
const TOPIC: &[u8] = b"bench rss";
const ROUNDS: usize = 2;

fn seed(n: usize) -> SigningSeed {
    let mut s = [0x5c; 32];
    s[..8].copy_from_slice(&(n as u64).to_le_bytes());
    SigningSeed::from_bytes(s)
}

fn topic<S: TrustStore>(seed: SigningSeed, store: S) -> Topic<RustCrypto, S> {
    let mut t = Topic::<RustCrypto, S>::with_store(seed, Some(TopicKey::from_bytes(KEY)), store);
    t.set_protocol(ProtocolVersion::V2);
    t.set_topic_id(TopicId::from_name(TOPIC)).unwrap();
    t
}

/// `(VmRSS, VmHWM)` in KiB.
fn status() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Writes every sender's public key, then `ROUNDS` messages from each, length-prefixed.
fn generate(senders: usize, path: &Path) {
    let mut out = Vec::new();
    let mut topics: Vec<_> = (0..senders)
        .map(|n| topic(seed(n), MemoryTrustStore::new()))
        .collect();
    for t in &topics {
        out.extend_from_slice(t.public_key().as_bytes());
    }
    for _ in 0..ROUNDS {
        for t in &mut topics {
            let m = t.encode([0x42; 64]).unwrap();
            out.extend_from_slice(&(m.len() as u32).to_be_bytes());
            out.extend_from_slice(&m);
        }
    }
    std::fs::write(path, out).unwrap();
}

fn measure(store: &str, senders: usize, path: &Path) {
    // Everything is read into one buffer that lives to the end, and nothing is freed
    // before the receiver is built: freed memory stays resident in the allocator and
    // would hide what the receiver takes.
    let bytes = std::fs::read(path).unwrap();
    let (keys, mut rest) = bytes.split_at(32 * senders);
    let keys: Vec<PublicKey> = keys
        .chunks_exact(32)
        .map(|k| PublicKey::from_bytes(k.try_into().unwrap()))
        .collect();
    let mut messages: Vec<&[u8]> = Vec::with_capacity(ROUNDS * senders);
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        messages.push(&tail[..len]);
        rest = &tail[len..];
    }
    let report = |step: &str, base: u64| {
        let (rss, hwm) = status();
        println!(
            "{step:<44} VmRSS {rss:>7} KiB  VmHWM {hwm:>7} KiB  (+{:>6} KiB, {:>5} B per sender)",
            rss.saturating_sub(base),
            rss.saturating_sub(base) * 1024 / senders as u64
        );
        rss
    };
    let base = report("messages and keys loaded", 0);
    match store {
        "sqlite" => {
            let db = path.with_extension("db");
            let mut s = SqliteTrustStore::open(&db).unwrap();
            s.insert_all(keys.iter().copied()).unwrap();
            run(topic(seed(1_000_000), s), &messages, senders, base, &report);
            for suffix in ["", "-wal", "-shm", "-sender.lock"] {
                let mut p = db.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(PathBuf::from(p));
            }
        }
        _ => {
            let mut s = MemoryTrustStore::new();
            for k in &keys {
                s.insert(stringphone_store_sqlite::participant_id(k), *k)
                    .unwrap();
            }
            run(topic(seed(1_000_000), s), &messages, senders, base, &report);
        }
    }
}

fn run<S: TrustStore>(
    mut receiver: Topic<RustCrypto, S>,
    messages: &[&[u8]],
    senders: usize,
    base: u64,
    report: &dyn Fn(&str, u64) -> u64,
) {
    report(&format!("receiver built, {senders} trusted"), base);
    let mut out = [0u8; 64];
    for (round, chunk) in messages.chunks(senders).enumerate() {
        for m in chunk {
            receiver
                .decode_into(m, DecodeMode::Strict, &mut out)
                .unwrap();
        }
        report(
            &format!("heard message {} from every sender", round + 1),
            base,
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let store = args.get(1).map_or("memory", String::as_str).to_string();
    let senders: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    if let Ok(path) = std::env::var("SP_RSS_MESSAGES") {
        measure(&store, senders, Path::new(&path));
        return;
    }
    let path = std::env::temp_dir().join(format!("sp-rss-{}.messages", std::process::id()));
    generate(senders, &path);
    println!("receiver_rss: {store} store, {senders} senders, v2, 64 B messages, RustCrypto");
    let status = Command::new(std::env::current_exe().unwrap())
        .args([&store, &senders.to_string()])
        .env("SP_RSS_MESSAGES", &path)
        .status()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(status.success());
}
