//! How costs grow with the number of trusted participants (10, 100, 1,000, 10,000),
//! on the in-memory store and on SQLite (`stringphone-store-sqlite`), RustCrypto
//! backend, 64 B messages. Group `scale`:
//!
//! | function | value | what |
//! | --- | --- | --- |
//! | `STORE:classic_decode` | N | one classic message from one of 10 active senders, `decode_into` |
//! | `STORE:v2_decode` | N | the same in v2, steady state (each message fresh; marks stored as they fall due) |
//! | `STORE:add_participant` | N | `Topic::add_participant` of a new key with N trusted |
//! | `STORE:remove_participant` | N | `Topic::remove_participant` of it again |
//! | `STORE:rotate` | N | `Topic::rotate(None)`: a fresh key sealed to every member (the group state saved) |
//! | `STORE:accept_rekey` | N | a member's `Topic::accept_rekey` of that rotation |
//!
//! Group `durable_marks`: v2 decode amortised over 1,000 messages from each of 10
//! senders (a receiver instance decodes 10,000 messages, then stops cleanly and a new
//! one starts, outside the timing), 1,000 trusted, per store: `memory`, `sqlite-full`
//! (`synchronous=FULL`: an fsync per mark), `sqlite-normal` (`synchronous=NORMAL`).
//!
//! Group `gateway`: an inbox of 10,000 messages of 64 B, one from each of 10,000
//! trusted senders, decoded one by one (`decode_in_place`), as a batch on one core
//! (`decode_batch`) and as a batch on every core (`decode_batch_parallel`), classic
//! and v2 (steady state: the gateway has heard every sender before), against
//! libsodium's verify+open of the classic inbox, one by one on one core
//! (`libsodium:verify_open`, feature `libsodium`). Throughput is in messages.
//!
//! STORE is `memory`, `sqlite` (FULL), `sqlite-normal` or `file` (the text store,
//! `stringphone-store-file`, for comparison). A rotation the wire format refuses
//! (more than `MAX_MEMBERS`, 16,384, members) is printed and not measured. The sizes on the wire are written to `<target>/criterion/scale-sizes.json`
//! for `benches/scale_report.py`.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use stringphone_core::v2::{ProtocolVersion, TopicId};
use stringphone_core::{
    Backend, DecodeMode, Decoded, Identity, MemoryTrustStore, PublicKey, SigningSeed, Topic,
    TopicKey, TrustStore,
};
use stringphone_rustcrypto::RustCrypto;
use stringphone_store_sqlite::{Durability, SqliteTrustStore};

type B = RustCrypto;
/// A benchmark group of this file.
type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

const PARTICIPANTS: [usize; 4] = [10, 100, 1_000, 10_000];
const ACTIVE: usize = 10;
const GATEWAY: usize = 10_000;
const KEY: [u8; 32] = [0x17; 32];
const TOPIC: &[u8] = b"bench scale";
const PLAINTEXT: [u8; 64] = [0x42; 64];

fn seed(n: usize) -> SigningSeed {
    let mut s = [0x5c; 32];
    s[..8].copy_from_slice(&(n as u64).to_le_bytes());
    SigningSeed::from_bytes(s)
}

/// The public keys of participants 0..20,000 (the second half: keys to add).
fn public_keys() -> &'static [PublicKey] {
    static KEYS: OnceLock<Vec<PublicKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        (0..2 * GATEWAY)
            .map(|n| B::signing_key(&seed(n)).public_key())
            .collect()
    })
}

fn sender(n: usize, protocol: ProtocolVersion) -> Topic<B, MemoryTrustStore> {
    let mut t = Topic::<B, _>::new(seed(n), Some(TopicKey::from_bytes(KEY)));
    t.set_protocol(protocol);
    t.set_topic_id(TopicId::from_name(TOPIC)).unwrap();
    t
}

fn db_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sp-bench-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.db"));
    for suffix in ["", "-wal", "-shm", "-sender.lock"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
    path
}

#[derive(Clone, Copy, Debug)]
enum Store {
    Memory,
    Sqlite(Durability),
    /// `stringphone-store-file`, the text store the command used before.
    File,
}

impl Store {
    fn name(self) -> &'static str {
        match self {
            Store::Memory => "memory",
            Store::Sqlite(Durability::Full) => "sqlite",
            Store::Sqlite(Durability::Normal) => "sqlite-normal",
            Store::File => "file",
        }
    }
}

/// A participant (seed 1,000,000) trusting participants `0..n`, on `store`.
fn receiver_with<S: TrustStore>(store: S, protocol: ProtocolVersion) -> Topic<B, S> {
    let mut t = Topic::<B, S>::with_store(seed(1_000_000), Some(TopicKey::from_bytes(KEY)), store);
    t.set_protocol(protocol);
    t.set_topic_id(TopicId::from_name(TOPIC)).unwrap();
    t
}

fn memory_store(n: usize) -> MemoryTrustStore {
    let mut s = MemoryTrustStore::new();
    for k in &public_keys()[..n] {
        s.insert(stringphone_store_sqlite::participant_id(k), *k)
            .unwrap();
    }
    s
}

fn file_store(n: usize, name: &str) -> stringphone_store_file::FileTrustStore {
    let dir = db_path(name).with_extension("d");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The trust file written whole, as n inserts would leave it.
    let entries = public_keys()[..n]
        .iter()
        .map(|k| (stringphone_store_file::participant_id(k), *k))
        .collect();
    std::fs::write(
        dir.join(stringphone_store_file::FILE_NAME),
        stringphone_store_file::serialize(&entries),
    )
    .unwrap();
    stringphone_store_file::FileTrustStore::open(&dir).unwrap()
}

fn sqlite_store(n: usize, durability: Durability, name: &str) -> SqliteTrustStore {
    let mut s = SqliteTrustStore::open_with(db_path(name), durability).unwrap();
    s.insert_all(public_keys()[..n].iter().copied()).unwrap();
    s
}

/// Runs `body` with a receiver of `n` trusted on `store` (a generic body per store).
macro_rules! with_receiver {
    ($store:expr, $n:expr, $protocol:expr, $name:expr, |$r:ident| $body:expr) => {
        match $store {
            Store::Memory => {
                #[allow(unused_mut)]
                let mut $r = receiver_with(memory_store($n), $protocol);
                $body
            }
            Store::Sqlite(d) => {
                #[allow(unused_mut)]
                let mut $r = receiver_with(sqlite_store($n, d, $name), $protocol);
                $body
            }
            Store::File => {
                #[allow(unused_mut)]
                let mut $r = receiver_with(file_store($n, $name), $protocol);
                $body
            }
        }
    };
}

/// v2 messages from senders `0..ACTIVE`, round robin, made on demand (outside the
/// timing) and shared by every receiver (each consumes the stream from its start).
struct Feed {
    senders: Vec<Topic<B, MemoryTrustStore>>,
    made: Vec<Vec<u8>>,
}

impl Feed {
    fn new(count: usize) -> Self {
        Feed {
            senders: (0..count).map(|n| sender(n, ProtocolVersion::V2)).collect(),
            made: Vec::new(),
        }
    }
    fn upto(&mut self, n: usize) -> &[Vec<u8>] {
        while self.made.len() < n {
            let s = self.made.len() % self.senders.len();
            self.made.push(self.senders[s].encode(PLAINTEXT).unwrap());
        }
        &self.made[..n]
    }
}

fn decode_classic<S: TrustStore>(c: &mut Group<'_>, store: Store, n: usize, r: &mut Topic<B, S>) {
    let messages: Vec<Vec<u8>> = (0..ACTIVE)
        .map(|s| {
            sender(s, ProtocolVersion::Classic)
                .encode(PLAINTEXT)
                .unwrap()
        })
        .collect();
    let mut out = [0u8; 64];
    let mut i = 0;
    c.bench_function(
        BenchmarkId::new(format!("{}:classic_decode", store.name()), n),
        |b| {
            b.iter(|| {
                i = (i + 1) % ACTIVE;
                r.decode_into(black_box(&messages[i]), DecodeMode::Strict, &mut out)
                    .unwrap();
            })
        },
    );
}

fn decode_v2<S: TrustStore>(
    c: &mut Group<'_>,
    store: Store,
    n: usize,
    r: &mut Topic<B, S>,
    feed: &mut Feed,
) {
    let mut out = [0u8; 64];
    let mut cursor = 0;
    c.bench_function(
        BenchmarkId::new(format!("{}:v2_decode", store.name()), n),
        |b| {
            b.iter_custom(|iters| {
                let messages = feed.upto(cursor + iters as usize);
                let started = Instant::now();
                for m in &messages[cursor..] {
                    r.decode_into(black_box(m), DecodeMode::Strict, &mut out)
                        .unwrap();
                }
                let elapsed = started.elapsed();
                cursor += iters as usize;
                elapsed
            })
        },
    );
}

fn add_remove<S: TrustStore>(c: &mut Group<'_>, store: Store, n: usize, r: &mut Topic<B, S>) {
    let fresh = &public_keys()[GATEWAY..];
    let mut next = 0;
    c.bench_function(
        BenchmarkId::new(format!("{}:add_participant", store.name()), n),
        |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let key = fresh[next % fresh.len()];
                    next += 1;
                    let started = Instant::now();
                    let id = r.add_participant(black_box(key)).unwrap();
                    timed += started.elapsed();
                    r.remove_participant(&id).unwrap();
                }
                timed
            })
        },
    );
    c.bench_function(
        BenchmarkId::new(format!("{}:remove_participant", store.name()), n),
        |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let key = fresh[next % fresh.len()];
                    next += 1;
                    let id = r.add_participant(key).unwrap();
                    let started = Instant::now();
                    r.remove_participant(black_box(&id)).unwrap();
                    timed += started.elapsed();
                }
                timed
            })
        },
    );
}

/// Sizes on the wire, by what and N, for the report.
static SIZES: std::sync::Mutex<Vec<(String, usize, usize)>> = std::sync::Mutex::new(Vec::new());

fn rotate<S: TrustStore>(
    c: &mut Group<'_>,
    store: Store,
    n: usize,
    admin: &mut Topic<B, S>,
    member: &mut Topic<B, MemoryTrustStore>,
) {
    match admin.rotate(None) {
        Ok(rekey) => {
            SIZES.lock().unwrap().push(("rekey".into(), n, rekey.len()));
            member.accept_rekey(&rekey).unwrap();
        }
        Err(e) => {
            println!(
                "scale: {} rotate to {n} members: refused ({e}); not measured",
                store.name()
            );
            return;
        }
    }
    c.bench_function(
        BenchmarkId::new(format!("{}:rotate", store.name()), n),
        |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    let rekey = admin.rotate(None).unwrap();
                    timed += started.elapsed();
                    member.accept_rekey(&rekey).unwrap();
                }
                timed
            })
        },
    );
    c.bench_function(
        BenchmarkId::new(format!("{}:accept_rekey", store.name()), n),
        |b| {
            b.iter_custom(|iters| {
                let mut timed = Duration::ZERO;
                for _ in 0..iters {
                    let rekey = admin.rotate(None).unwrap();
                    let started = Instant::now();
                    member.accept_rekey(black_box(&rekey)).unwrap();
                    timed += started.elapsed();
                }
                timed
            })
        },
    );
}

fn scale(c: &mut Criterion) {
    let mut group = c.benchmark_group("scale");
    group.sample_size(20);
    let mut feed = Feed::new(ACTIVE);
    // The member that accepts the rotations: participant 0 (trusted at every N).
    for store in [Store::Memory, Store::Sqlite(Durability::Full), Store::File] {
        // The decode rows of every N first, one after the other: the rows whose
        // ratio is a target are timed within a minute of each other, not minutes
        // apart with rotations in between (this machine drifts by 10 % over minutes).
        for n in PARTICIPANTS {
            let name = format!("{}-{n}", store.name());
            with_receiver!(store, n, ProtocolVersion::Both, &name, |r| {
                decode_classic(&mut group, store, n, &mut r);
            });
            let name = format!("{}-{n}-v2", store.name());
            with_receiver!(store, n, ProtocolVersion::V2, &name, |r| {
                decode_v2(&mut group, store, n, &mut r, &mut feed);
            });
        }
        for n in PARTICIPANTS {
            let name = format!("{}-{n}-members", store.name());
            with_receiver!(store, n, ProtocolVersion::V2, &name, |r| {
                add_remove(&mut group, store, n, &mut r);
            });
            let name = format!("{}-{n}-admin", store.name());
            with_receiver!(store, n, ProtocolVersion::V2, &name, |admin| {
                let mut member = sender(0, ProtocolVersion::V2);
                member.add_admin(admin.public_key()).unwrap();
                rotate(&mut group, store, n, &mut admin, &mut member);
            });
        }
    }
    group.finish();

    // The sizes of what adding and removing a participant puts on the wire: a v2
    // introduction and its reply (the same at every N), and a rotation to the others.
    let mut newcomer = Topic::<B, MemoryTrustStore>::new(seed(GATEWAY + 1), None);
    newcomer.set_protocol(ProtocolVersion::V2);
    newcomer.set_topic_id(TopicId::from_name(TOPIC)).unwrap();
    let mut admin = receiver_with(memory_store(10), ProtocolVersion::V2);
    let intro = newcomer.construct_intro().unwrap();
    admin.add_participant(newcomer.public_key()).unwrap();
    let reply = admin.construct_reply(&intro).unwrap();
    {
        let mut sizes = SIZES.lock().unwrap();
        sizes.push(("intro".into(), 0, intro.len()));
        sizes.push(("reply".into(), 0, reply.len()));
    }
    write_sizes();
}

fn write_sizes() {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            // benches run from the package directory; the workspace target is above it.
            std::env::current_dir().unwrap().join("../target")
        });
    let dir = target.join("criterion");
    let _ = std::fs::create_dir_all(&dir);
    let sizes = SIZES.lock().unwrap();
    let body: Vec<String> = sizes
        .iter()
        .map(|(what, n, len)| format!("  {{\"what\": \"{what}\", \"n\": {n}, \"bytes\": {len}}}"))
        .collect();
    let _ = std::fs::write(
        dir.join("scale-sizes.json"),
        format!("[\n{}\n]\n", body.join(",\n")),
    );
}

/// Decodes 1,000 messages from each of 10 senders per receiver instance.
fn durable_marks(c: &mut Criterion) {
    const PER_SENDER: usize = 1_000;
    const INSTANCE: usize = PER_SENDER * ACTIVE;
    let mut group = c.benchmark_group("durable_marks");
    group.sample_size(10);
    let mut feed = Feed::new(ACTIVE);
    for store in [
        Store::Memory,
        Store::Sqlite(Durability::Full),
        Store::Sqlite(Durability::Normal),
    ] {
        let name = format!("marks-{}", store.name());
        with_receiver!(store, 1_000, ProtocolVersion::V2, &name, |r| {
            let mut cursor = 0;
            let mut in_instance = 0;
            let mut out = [0u8; 64];
            let mut instance = Some(r);
            let label = match store {
                Store::Sqlite(Durability::Full) => "sqlite-full",
                other => other.name(),
            };
            group.throughput(Throughput::Elements(1));
            group.bench_function(BenchmarkId::new(label, PER_SENDER), |b| {
                b.iter_custom(|iters| {
                    let messages = feed.upto(cursor + iters as usize);
                    let mut timed = Duration::ZERO;
                    let mut started = Instant::now();
                    for m in &messages[cursor..] {
                        if in_instance == INSTANCE {
                            // A clean stop and a new instance on the same store.
                            timed += started.elapsed();
                            let mut old = instance.take().unwrap();
                            old.save_replay_marks().unwrap();
                            instance =
                                Some(receiver_with(old.into_trust_store(), ProtocolVersion::V2));
                            in_instance = 0;
                            started = Instant::now();
                        }
                        instance
                            .as_mut()
                            .unwrap()
                            .decode_into(black_box(m), DecodeMode::Strict, &mut out)
                            .unwrap();
                        in_instance += 1;
                    }
                    timed += started.elapsed();
                    cursor += iters as usize;
                    timed
                })
            });
        });
    }
    group.finish();
}

/// The gateway's senders and their messages: one classic inbox, and v2 inboxes made on
/// demand (every receiver consumes them from the first).
struct Gateway {
    senders: Vec<Topic<B, MemoryTrustStore>>,
    classic: Vec<Vec<u8>>,
    v2_rounds: Vec<Vec<Vec<u8>>>,
}

impl Gateway {
    fn new() -> Self {
        let mut senders: Vec<_> = (0..GATEWAY)
            .map(|n| sender(n, ProtocolVersion::Both))
            .collect();
        let classic = senders
            .iter_mut()
            .map(|s| {
                s.set_protocol(ProtocolVersion::Classic);
                let m = s.encode(PLAINTEXT).unwrap();
                s.set_protocol(ProtocolVersion::V2);
                m
            })
            .collect();
        Gateway {
            senders,
            classic,
            v2_rounds: Vec::new(),
        }
    }
    fn round(&mut self, r: usize) -> &[Vec<u8>] {
        while self.v2_rounds.len() <= r {
            let round = self
                .senders
                .iter_mut()
                .map(|s| s.encode(PLAINTEXT).unwrap())
                .collect();
            self.v2_rounds.push(round);
        }
        &self.v2_rounds[r]
    }
}

fn check_all(results: &[Result<Decoded<&mut [u8]>, stringphone_core::Error>]) {
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(Decoded::Message { verified: true, .. }))));
}

fn gateway(c: &mut Criterion) {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("gateway: {GATEWAY} senders, decode_batch_parallel on {threads} threads");
    let mut g = Gateway::new();
    let mut group = c.benchmark_group("gateway");
    group.sample_size(10);
    group.throughput(Throughput::Elements(GATEWAY as u64));
    #[cfg(feature = "libsodium")]
    gateway_libsodium(&mut group, &g);
    for store in [Store::Memory, Store::Sqlite(Durability::Normal)] {
        let name = format!("gateway-{}", store.name());
        with_receiver!(store, GATEWAY, ProtocolVersion::Both, &name, |r| {
            gateway_classic(&mut group, store, &mut r, &g, threads);
            gateway_v2(&mut group, store, &mut r, &mut g, threads);
        });
    }
    group.finish();
}

/// How the gateway decodes an inbox: named, with the threads of
/// `decode_batch_parallel` (0: one by one, 1: `decode_batch`). SQLite runs the
/// parallel one only.
fn gateway_variants(store: Store, threads: usize) -> Vec<(&'static str, usize)> {
    [("one_by_one", 0), ("batch", 1), ("parallel", threads)]
        .into_iter()
        .filter(|(how, _)| !matches!(store, Store::Sqlite(_)) || *how == "parallel")
        .collect()
}

/// Decodes `inbox` as variant `t` of [`gateway_variants`] says, every message a
/// verified one.
fn decode_inbox<S: TrustStore>(r: &mut Topic<B, S>, inbox: &mut [Vec<u8>], t: usize) {
    match t {
        0 => {
            for m in inbox {
                r.decode_in_place(m, DecodeMode::Strict).unwrap();
            }
        }
        1 => check_all(&r.decode_batch(inbox, DecodeMode::Strict)),
        _ => check_all(&r.decode_batch_parallel(inbox, DecodeMode::Strict, t)),
    }
}

/// Libsodium's verify+open of the classic inbox, one by one on one core.
#[cfg(feature = "libsodium")]
fn gateway_libsodium(group: &mut Group<'_>, g: &Gateway) {
    use stringphone_benches::sodium;
    sodium::init();
    let keys = &public_keys()[..GATEWAY];
    let mut out = [0u8; 64];
    group.bench_function(BenchmarkId::new("libsodium:verify_open", GATEWAY), |b| {
        b.iter(|| {
            for (w, key) in g.classic.iter().zip(keys) {
                let sig: &[u8; 64] = w[1..65].try_into().unwrap();
                assert!(sodium::verify(key.as_bytes(), &w[65..], sig));
                let nonce: &[u8; 24] = w[81..105].try_into().unwrap();
                let tag: &[u8; 16] = w[105..121].try_into().unwrap();
                assert!(sodium::open(&KEY, nonce, tag, &w[121..], &mut out));
            }
        })
    });
}

/// The classic inbox, the same every time, copied outside the timing.
fn gateway_classic<S: TrustStore>(
    group: &mut Group<'_>,
    store: Store,
    r: &mut Topic<B, S>,
    g: &Gateway,
    threads: usize,
) {
    let classic = g.classic.clone();
    for (how, t) in gateway_variants(store, threads) {
        group.bench_function(
            BenchmarkId::new(format!("{}:classic_{how}", store.name()), GATEWAY),
            |b| {
                b.iter_batched(
                    || classic.clone(),
                    |mut inbox| decode_inbox(r, &mut inbox, t),
                    BatchSize::PerIteration,
                )
            },
        );
    }
}

/// v2 in steady state: the gateway heard every sender once before (outside the
/// timing); each iteration a fresh round.
fn gateway_v2<S: TrustStore>(
    group: &mut Group<'_>,
    store: Store,
    r: &mut Topic<B, S>,
    g: &mut Gateway,
    threads: usize,
) {
    let mut first = g.round(0).to_vec();
    check_all(&r.decode_batch(&mut first, DecodeMode::Strict));
    let mut next_round = 1;
    for (how, t) in gateway_variants(store, threads) {
        group.bench_function(
            BenchmarkId::new(format!("{}:v2_{how}", store.name()), GATEWAY),
            |b| {
                b.iter_custom(|iters| {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        let mut inbox = g.round(next_round).to_vec();
                        next_round += 1;
                        let started = Instant::now();
                        decode_inbox(r, &mut inbox, t);
                        timed += started.elapsed();
                    }
                    timed
                })
            },
        );
    }
}

criterion_group!(benches, scale, durable_marks, gateway);
criterion_main!(benches);
