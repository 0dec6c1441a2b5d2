//! The key ratios of `benches/scale.rs`, measured in pairs on a machine others share:
//! the two sides of each ratio run in alternating slices (A B, B A, A B, ...), each
//! slice a few tens of milliseconds, and the ratio reported is the median of the
//! per-round ratios, so load that comes and goes hits both sides alike.
//!
//! ```sh
//! cargo run --profile bench -p stringphone-benches --features libsodium --bin scale_ratios [ROUNDS]
//! ```
//!
//! `SCALE_RATIOS=decode,lookup,marks,gateway` (any of them) runs only those sections.
//!
//! Ratios (RustCrypto backend, 64 B messages):
//! - decode with 10,000 trusted participants / with 10 (classic and v2; memory and
//!   SQLite), target ≤ 1.10;
//! - v2 decode with durable marks on SQLite / on memory, amortised over 1,000 messages
//!   from each of 10 senders (a receiver instance decodes 10,000, stops cleanly, a new
//!   one starts), `synchronous=FULL` and `NORMAL`, target ≤ 1.10;
//! - libsodium verify+open one by one on one core / `decode_batch_parallel` on every
//!   core, for an inbox of 10,000 messages from 10,000 senders (classic; and v2 in
//!   steady state), target ≥ 4.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use stringphone_core::v2::{ProtocolVersion, TopicId};
use stringphone_core::{
    Backend, DecodeMode, Identity, MemoryTrustStore, PublicKey, SigningSeed, Topic, TopicKey,
    TrustStore,
};
use stringphone_rustcrypto::RustCrypto;
use stringphone_store_sqlite::{Durability, SqliteTrustStore};

type B = RustCrypto;
const KEY: [u8; 32] = [0x17; 32];
const TOPIC: &[u8] = b"bench scale";
const PLAINTEXT: [u8; 64] = [0x42; 64];
const ACTIVE: usize = 10;
const GATEWAY: usize = 10_000;

fn seed(n: usize) -> SigningSeed {
    let mut s = [0x5c; 32];
    s[..8].copy_from_slice(&(n as u64).to_le_bytes());
    SigningSeed::from_bytes(s)
}

fn topic<S: TrustStore>(seed: SigningSeed, store: S, protocol: ProtocolVersion) -> Topic<B, S> {
    let mut t = Topic::<B, S>::with_store(seed, Some(TopicKey::from_bytes(KEY)), store);
    t.set_protocol(protocol);
    t.set_topic_id(TopicId::from_name(TOPIC)).unwrap();
    t
}

fn db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sp-ratios-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}.db"))
}

fn memory(keys: &[PublicKey]) -> MemoryTrustStore {
    let mut s = MemoryTrustStore::new();
    for k in keys {
        s.insert(stringphone_store_sqlite::participant_id(k), *k)
            .unwrap();
    }
    s
}

fn sqlite(keys: &[PublicKey], durability: Durability, name: &str) -> SqliteTrustStore {
    let mut s = SqliteTrustStore::open_with(db(name), durability).unwrap();
    s.insert_all(keys.iter().copied()).unwrap();
    s
}

/// One side of a ratio: runs one slice of `ops` operations and returns its time.
type Side<'a> = Box<dyn FnMut() -> Duration + 'a>;

/// Runs `a` and `b` in alternating order for `rounds` rounds; prints and returns the
/// median time per op of each side and the median of the per-round ratios `b / a`.
fn pair(name: &str, ops: usize, rounds: usize, mut a: Side<'_>, mut b: Side<'_>) -> f64 {
    // One slice each to warm up.
    a();
    b();
    let (mut ta, mut tb, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        let (da, db) = if r % 2 == 0 {
            let da = a();
            (da, b())
        } else {
            let db = b();
            (a(), db)
        };
        ta.push(da.as_secs_f64());
        tb.push(db.as_secs_f64());
        ratios.push(db.as_secs_f64() / da.as_secs_f64());
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|x, y| x.partial_cmp(y).unwrap());
        v[v.len() / 2]
    };
    let (ma, mb, mr) = (med(&mut ta), med(&mut tb), med(&mut ratios));
    let spread = (ratios[rounds / 4], ratios[rounds * 3 / 4]);
    println!(
        "{name}: {:.2} µs vs {:.2} µs per op; ratio {mr:.3} (median of {rounds} rounds, \
         interquartile {:.3}..{:.3})",
        ma / ops as f64 * 1e6,
        mb / ops as f64 * 1e6,
        spread.0,
        spread.1
    );
    mr
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// v2 messages from senders `0..ACTIVE`, round robin, made on demand.
struct Feed {
    senders: Vec<Topic<B, MemoryTrustStore>>,
    made: Vec<Vec<u8>>,
}

impl Feed {
    fn new() -> Self {
        Feed {
            senders: (0..ACTIVE)
                .map(|n| topic(seed(n), MemoryTrustStore::new(), ProtocolVersion::V2))
                .collect(),
            made: Vec::new(),
        }
    }
    fn get(&mut self, i: usize) -> &[u8] {
        while self.made.len() <= i {
            let s = self.made.len() % ACTIVE;
            self.made.push(self.senders[s].encode(PLAINTEXT).unwrap());
        }
        &self.made[i]
    }
}

/// A v2 receiver decoding the feed from its start, `ops` messages a slice; with
/// `restart`, a clean stop and a new instance every 1,000 messages per sender
/// (outside the timing).
fn v2_side<'a, S: TrustStore + 'a>(
    receiver: Topic<B, S>,
    feed: &'a std::cell::RefCell<Feed>,
    ops: usize,
    restart: bool,
) -> Side<'a> {
    let mut receiver = Some(receiver);
    let mut cursor = 0;
    let mut in_instance = 0;
    Box::new(move || {
        // Make the slice's messages first.
        let mut feed = feed.borrow_mut();
        feed.get(cursor + ops);
        let mut out = [0u8; 64];
        let mut timed = Duration::ZERO;
        let mut started = Instant::now();
        for i in cursor..cursor + ops {
            if restart && in_instance == 1_000 * ACTIVE {
                timed += started.elapsed();
                let mut old = receiver.take().unwrap();
                old.save_replay_marks().unwrap();
                receiver = Some(topic(
                    seed(1_000_000),
                    old.into_trust_store(),
                    ProtocolVersion::V2,
                ));
                in_instance = 0;
                started = Instant::now();
            }
            receiver
                .as_mut()
                .unwrap()
                .decode_into(black_box(&feed.made[i]), DecodeMode::Strict, &mut out)
                .unwrap();
            in_instance += 1;
        }
        timed += started.elapsed();
        cursor += ops;
        timed
    })
}

fn classic_side<'a, S: TrustStore + 'a>(mut receiver: Topic<B, S>, ops: usize) -> Side<'a> {
    let messages: Vec<Vec<u8>> = (0..ACTIVE)
        .map(|s| {
            topic(seed(s), MemoryTrustStore::new(), ProtocolVersion::Classic)
                .encode(PLAINTEXT)
                .unwrap()
        })
        .collect();
    Box::new(move || {
        let mut out = [0u8; 64];
        let started = Instant::now();
        for i in 0..ops {
            receiver
                .decode_into(
                    black_box(&messages[i % ACTIVE]),
                    DecodeMode::Strict,
                    &mut out,
                )
                .unwrap();
        }
        started.elapsed()
    })
}

#[cfg(feature = "libsodium")]
fn all_ok(results: &[Result<stringphone_core::Decoded<&mut [u8]>, stringphone_core::Error>]) {
    assert!(results.iter().all(|r| matches!(
        r,
        Ok(stringphone_core::Decoded::Message { verified: true, .. })
    )));
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(21);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "scale_ratios: {rounds} rounds a ratio; load average at start {}",
        load()
    );
    let keys: Vec<PublicKey> = (0..GATEWAY)
        .map(|n| B::signing_key(&seed(n)).public_key())
        .collect();
    // SCALE_RATIOS=decode,lookup,marks,gateway (any of them) runs only those.
    let only = std::env::var("SCALE_RATIOS").unwrap_or_default();
    let wanted = |section: &str| only.is_empty() || only.split(',').any(|s| s == section);
    if wanted("decode") {
        decode_ratios(&keys, rounds);
    }
    if wanted("lookup") {
        lookup_ratio(&keys, rounds);
    }
    if wanted("marks") {
        marks_ratios(&keys, rounds);
    }
    // The gateway: libsodium one by one vs every core.
    if wanted("gateway") {
        gateway(&keys, rounds, threads);
    }
    println!("load average at the end {}", load());
    let _ = std::fs::remove_dir_all(db("x").parent().unwrap());
}

/// Our identity: the receiver's seed.
fn me() -> SigningSeed {
    seed(1_000_000)
}

/// A receiver decoding `ops` messages a slice in `protocol`: the v2 feed from its
/// start, or the classic messages of the active senders.
fn decode_side<'a, S: TrustStore + 'a>(
    r: Topic<B, S>,
    protocol: ProtocolVersion,
    feed: &'a std::cell::RefCell<Feed>,
    ops: usize,
) -> Side<'a> {
    match protocol {
        ProtocolVersion::V2 => v2_side(r, feed, ops, false),
        _ => classic_side(r, ops),
    }
}

/// Decode against 10 and 10,000 trusted, classic and v2, on memory and on SQLite.
fn decode_ratios(keys: &[PublicKey], rounds: usize) {
    let ops = 400;
    for (fmt_name, protocol) in [
        ("classic", ProtocolVersion::Classic),
        ("v2", ProtocolVersion::V2),
    ] {
        let feed_a = std::cell::RefCell::new(Feed::new());
        let feed_b = std::cell::RefCell::new(Feed::new());
        let side = |n: usize, feed| -> Side<'_> {
            decode_side(
                topic(me(), memory(&keys[..n]), protocol),
                protocol,
                feed,
                ops,
            )
        };
        pair(
            &format!("decode {fmt_name}, memory, 10,000 trusted / 10"),
            ops,
            rounds,
            side(10, &feed_a),
            side(GATEWAY, &feed_b),
        );
        let side = |n: usize, feed, name: &str| -> Side<'_> {
            let store = sqlite(&keys[..n], Durability::Full, name);
            decode_side(topic(me(), store, protocol), protocol, feed, ops)
        };
        let (feed_a, feed_b) = (
            std::cell::RefCell::new(Feed::new()),
            std::cell::RefCell::new(Feed::new()),
        );
        pair(
            &format!("decode {fmt_name}, SQLite FULL, 10,000 trusted / 10"),
            ops,
            rounds,
            side(10, &feed_a, &format!("{fmt_name}-10")),
            side(GATEWAY, &feed_b, &format!("{fmt_name}-10000")),
        );
    }
}

/// Where SQLite's share goes: one trust lookup (what every decode asks the store).
fn lookup_ratio(keys: &[PublicKey], rounds: usize) {
    let ops = 2_000;
    let probe: Vec<_> = keys[..1000]
        .iter()
        .map(stringphone_store_sqlite::participant_id)
        .collect();
    let lookups = |store: Box<dyn Fn(&stringphone_core::ParticipantId) -> bool>| -> Side<'_> {
        let probe = probe.clone();
        Box::new(move || {
            let started = Instant::now();
            for i in 0..ops {
                assert!(store(black_box(&probe[i % probe.len()])));
            }
            started.elapsed()
        })
    };
    let mem = memory(&keys[..1000]);
    let sql = sqlite(&keys[..1000], Durability::Full, "lookups");
    pair(
        "one trust lookup (TrustStore::get), SQLite / memory, 1,000 trusted",
        ops,
        rounds,
        lookups(Box::new(move |id| mem.get(id).unwrap().is_some())),
        lookups(Box::new(move |id| sql.get(id).unwrap().is_some())),
    );
}

/// Durable marks, amortised: slices of 2,000 messages, instances of 10,000.
fn marks_ratios(keys: &[PublicKey], rounds: usize) {
    let ops = 2_000;
    for durability in [Durability::Full, Durability::Normal] {
        let feed_a = std::cell::RefCell::new(Feed::new());
        let feed_b = std::cell::RefCell::new(Feed::new());
        let a = v2_side(
            topic(me(), memory(&keys[..1000]), ProtocolVersion::V2),
            &feed_a,
            ops,
            true,
        );
        let b = v2_side(
            topic(
                me(),
                sqlite(&keys[..1000], durability, &format!("marks-{durability:?}")),
                ProtocolVersion::V2,
            ),
            &feed_b,
            ops,
            true,
        );
        pair(
            &format!("v2 decode, durable marks amortised over 1,000 per sender, SQLite synchronous={durability:?} / memory"),
            ops,
            rounds,
            a,
            b,
        );
    }
}

#[cfg(not(feature = "libsodium"))]
fn gateway(_: &[PublicKey], _: usize, _: usize) {
    println!("gateway: needs --features libsodium");
}

/// A side that decodes a whole inbox a slice: `inbox` makes it (outside the timing),
/// `decode` is timed.
#[cfg(feature = "libsodium")]
fn inbox_side<'a>(
    mut inbox: impl FnMut() -> Vec<Vec<u8>> + 'a,
    mut decode: impl FnMut(&mut [Vec<u8>]) + 'a,
) -> Side<'a> {
    Box::new(move || {
        let mut inbox = inbox();
        let started = Instant::now();
        decode(&mut inbox);
        started.elapsed()
    })
}

/// Libsodium's verify+open of the classic inbox `classic` (signed by `keys`), one by
/// one on one core.
#[cfg(feature = "libsodium")]
fn libsodium_side<'a>(classic: &'a [Vec<u8>], keys: &'a [PublicKey]) -> Side<'a> {
    use stringphone_benches::sodium;
    Box::new(move || {
        let mut out = [0u8; 64];
        let started = Instant::now();
        for (w, key) in classic.iter().zip(keys) {
            let sig: &[u8; 64] = w[1..65].try_into().unwrap();
            assert!(sodium::verify(key.as_bytes(), &w[65..], sig));
            let nonce: &[u8; 24] = w[81..105].try_into().unwrap();
            let tag: &[u8; 16] = w[105..121].try_into().unwrap();
            assert!(sodium::open(&KEY, nonce, tag, &w[121..], &mut out));
        }
        started.elapsed()
    })
}

/// One gateway ratio over `rounds` rounds: `r` decodes each inbox `inbox` makes with
/// `decode_batch_parallel` on `threads` threads (1: on this one, as `decode_batch`),
/// against libsodium's verify+open of `classic` (signed by `keys`) one by one.
#[cfg(feature = "libsodium")]
fn gateway_pair<S: TrustStore>(
    name: &str,
    rounds: usize,
    threads: usize,
    classic: &[Vec<u8>],
    keys: &[PublicKey],
    inbox: impl FnMut() -> Vec<Vec<u8>>,
    r: &mut Topic<B, S>,
) {
    pair(
        name,
        GATEWAY,
        rounds,
        libsodium_side(classic, keys),
        inbox_side(inbox, |inbox| {
            all_ok(&r.decode_batch_parallel(inbox, DecodeMode::Strict, threads))
        }),
    );
}

#[cfg(feature = "libsodium")]
fn gateway(keys: &[PublicKey], rounds: usize, threads: usize) {
    stringphone_benches::sodium::init();
    let mut senders: Vec<_> = (0..GATEWAY)
        .map(|n| topic(seed(n), MemoryTrustStore::new(), ProtocolVersion::Classic))
        .collect();
    let classic: Vec<Vec<u8>> = senders
        .iter_mut()
        .map(|s| s.encode(PLAINTEXT).unwrap())
        .collect();
    let mut r = topic(me(), memory(keys), ProtocolVersion::Both);
    gateway_pair(
        &format!("gateway classic, 10,000 senders: decode_batch_parallel on {threads} threads / libsodium verify+open one by one (the speed-up is 1 / this)"),
        rounds,
        threads,
        &classic,
        keys,
        || classic.clone(),
        &mut r,
    );
    let mut rs = topic(
        me(),
        sqlite(keys, Durability::Normal, "gateway-classic"),
        ProtocolVersion::Both,
    );
    gateway_pair(
        &format!("gateway classic on SQLite (NORMAL), 10,000 senders: decode_batch_parallel on {threads} threads / libsodium verify+open one by one"),
        rounds,
        threads,
        &classic,
        keys,
        || classic.clone(),
        &mut rs,
    );
    let mut r1 = topic(me(), memory(keys), ProtocolVersion::Both);
    gateway_pair(
        "gateway classic, 10,000 senders: decode_batch on 1 core / libsodium verify+open one by one",
        rounds,
        1,
        &classic,
        keys,
        || classic.clone(),
        &mut r1,
    );
    gateway_v2(keys, rounds, threads, senders, &classic);
}

/// v2: every sender heard once before; each round a fresh inbox, made outside.
#[cfg(feature = "libsodium")]
fn gateway_v2(
    keys: &[PublicKey],
    rounds: usize,
    threads: usize,
    mut senders: Vec<Topic<B, MemoryTrustStore>>,
    classic: &[Vec<u8>],
) {
    for s in &mut senders {
        s.set_protocol(ProtocolVersion::V2);
        s.set_topic_id(TopicId::from_name(TOPIC)).unwrap();
    }
    let mut fresh = || -> Vec<Vec<u8>> {
        senders
            .iter_mut()
            .map(|s| s.encode(PLAINTEXT).unwrap())
            .collect()
    };
    let mut rv = topic(me(), memory(keys), ProtocolVersion::Both);
    all_ok(&rv.decode_batch(&mut fresh(), DecodeMode::Strict));
    gateway_pair(
        &format!("gateway v2 (steady state), 10,000 senders: decode_batch_parallel on {threads} threads / libsodium classic verify+open one by one"),
        rounds,
        threads,
        classic,
        keys,
        &mut fresh,
        &mut rv,
    );
    let mut rs = topic(
        me(),
        sqlite(keys, Durability::Normal, "gateway-v2"),
        ProtocolVersion::Both,
    );
    all_ok(&rs.decode_batch(&mut fresh(), DecodeMode::Strict));
    gateway_pair(
        &format!("gateway v2 (steady state) on SQLite (NORMAL), 10,000 senders: decode_batch_parallel on {threads} threads / libsodium classic verify+open one by one"),
        rounds,
        threads,
        classic,
        keys,
        &mut fresh,
        &mut rs,
    );
    gateway_pair(
        "gateway v2 (steady state), 10,000 senders: decode_batch on 1 core / libsodium classic verify+open one by one",
        rounds,
        1,
        classic,
        keys,
        &mut fresh,
        &mut rv,
    );
}
