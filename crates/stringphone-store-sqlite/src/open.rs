//! Opening a database: creating it privately, telling ours from a foreign file,
//! migrating its schema, configuring the connection, and checking what it holds.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use crate::error::{classify, SqliteStoreError};
use crate::marks::new_writer_token;
use crate::{Durability, SqliteTrustStore, APPLICATION_ID, BUSY_TIMEOUT, SCHEMA_VERSION};

/// The migrations, in order: `MIGRATIONS[v]` takes a database from schema version `v`
/// to `v + 1`. Each runs in one transaction with the version update.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 0 -> 1: trust, replay marks, group state.
    "CREATE TABLE trust (
        id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 16),
        key BLOB NOT NULL CHECK (length(key) = 32)
     ) WITHOUT ROWID;
     -- slot: empty for this identity's own counter, else the sender's 16-byte id.
     -- mark: 8 bytes big-endian (marks use the whole u64 range); writer: the token of
     -- the handle that wrote it.
     CREATE TABLE marks (
        slot BLOB NOT NULL PRIMARY KEY CHECK (length(slot) IN (0, 16)),
        mark BLOB NOT NULL CHECK (length(mark) = 8),
        writer INTEGER NOT NULL
     ) WITHOUT ROWID;
     CREATE TABLE group_state (
        one INTEGER NOT NULL PRIMARY KEY CHECK (one = 1),
        state BLOB NOT NULL,
        sha256 BLOB NOT NULL CHECK (length(sha256) = 32)
     );",
];

const _: () = assert!(MIGRATIONS.len() == SCHEMA_VERSION as usize);

impl SqliteTrustStore {
    /// Opens the database at `path` with [`Durability::Full`], creating it (and its
    /// directory) if missing. See [`open_with`](Self::open_with).
    ///
    /// ```
    /// use stringphone_store_sqlite::SqliteTrustStore;
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-open-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let store = SqliteTrustStore::open(dir.join("state.db"))?;
    /// assert!(store.entries()?.is_empty());
    /// assert!(dir.join("state.db").exists());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, SqliteStoreError> {
        Self::open_with(path, Durability::Full)
    }

    /// Opens the database at `path`, creating it if missing (the directory with mode
    /// 0700, the file with mode 0600), with commits as durable as `durability` says.
    ///
    /// Refuses, writing nothing: a file that is not an SQLite database or is damaged
    /// ([`SqliteStoreError::Corrupt`]; SQLite's `quick_check` runs on every open),
    /// another program's database ([`SqliteStoreError::Foreign`]), one from a newer
    /// version of this crate ([`SqliteStoreError::NewerSchema`]). A database of an
    /// older schema version is migrated, one transaction per version.
    ///
    /// ```
    /// use stringphone_store_sqlite::{Durability, SqliteTrustStore};
    /// let dir = std::env::temp_dir().join(format!("sp-sqlite-doc-openw-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let store = SqliteTrustStore::open_with(dir.join("state.db"), Durability::Full)?;
    /// assert_eq!(store.path(), dir.join("state.db"));
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// # Ok::<(), stringphone_store_sqlite::SqliteStoreError>(())
    /// ```
    pub fn open_with(
        path: impl Into<PathBuf>,
        durability: Durability,
    ) -> Result<Self, SqliteStoreError> {
        let path = path.into();
        create_private_file(&path)?;
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| classify(&path, "open the database", e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| classify(&path, "set the busy timeout", e))?;
        let mut store = SqliteTrustStore {
            conn,
            path,
            durability,
            writer: new_writer_token(),
            raised_from: BTreeMap::new(),
            lease: None,
            own_seen: Cell::new(None),
        };
        store.identify_or_create()?;
        store.migrate()?;
        store.configure()?;
        store.check()?;
        Ok(store)
    }

    /// Reads the header (nothing is written before it is known to be ours); creates
    /// the schema in a fresh, empty database.
    pub(crate) fn identify_or_create(&mut self) -> Result<(), SqliteStoreError> {
        if !self.is_blank()? {
            return self.ours();
        }
        // A blank database: WAL first (it cannot change inside a transaction), then the
        // header's id and the schema in one transaction, so a crash leaves a blank
        // database, which is created again next time.
        self.set_wal()?;
        let path = self.path.clone();
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| classify(&path, "create the database", e))?;
        if !is_blank(&tx, &path)? {
            // Another process created it meanwhile.
            drop(tx);
            return self.ours();
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID)
            .and_then(|()| {
                tx.execute_batch("CREATE TABLE stringphone_schema (version INTEGER NOT NULL);")
            })
            .and_then(|()| {
                tx.execute(
                    "INSERT INTO stringphone_schema (version) VALUES (?1)",
                    [SCHEMA_VERSION],
                )
            })
            .and_then(|_| MIGRATIONS.iter().try_for_each(|sql| tx.execute_batch(sql)))
            .and_then(|()| tx.commit())
            .map_err(|e| classify(&path, "create the database", e))
    }

    pub(crate) fn is_blank(&self) -> Result<bool, SqliteStoreError> {
        is_blank(&self.conn, &self.path)
    }

    pub(crate) fn ours(&self) -> Result<(), SqliteStoreError> {
        let application_id = application_id(&self.conn, &self.path)?;
        if application_id == APPLICATION_ID {
            Ok(())
        } else {
            Err(SqliteStoreError::Foreign {
                path: self.path.clone(),
                application_id,
            })
        }
    }

    pub(crate) fn set_wal(&self) -> Result<(), SqliteStoreError> {
        let mode: String = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| classify(&self.path, "switch to WAL mode", e))?;
        if mode.eq_ignore_ascii_case("wal") {
            Ok(())
        } else {
            Err(SqliteStoreError::Sqlite {
                action: "switch to WAL mode",
                path: self.path.clone(),
                source: rusqlite::Error::InvalidParameterName(format!(
                    "journal_mode stayed {mode}"
                )),
            })
        }
    }

    /// The schema version stored.
    pub(crate) fn stored_version(conn: &Connection, path: &Path) -> Result<u32, SqliteStoreError> {
        let tables: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'stringphone_schema'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| classify(path, "read the schema version", e))?;
        if tables != 1 {
            return Err(SqliteStoreError::Corrupt {
                path: path.to_path_buf(),
                reason: "its schema version table is missing".into(),
            });
        }
        let versions: Vec<i64> = conn
            .prepare("SELECT version FROM stringphone_schema")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(|e| classify(path, "read the schema version", e))?;
        match versions.as_slice() {
            [v] => u32::try_from(*v).map_err(|_| SqliteStoreError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("schema version {v} is not a version"),
            }),
            _ => Err(SqliteStoreError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("{} schema version rows instead of one", versions.len()),
            }),
        }
    }

    /// Applies the migrations from the stored version up to [`SCHEMA_VERSION`], one
    /// transaction each; refuses a newer database.
    pub(crate) fn migrate(&mut self) -> Result<(), SqliteStoreError> {
        loop {
            let version = Self::stored_version(&self.conn, &self.path)?;
            if version > SCHEMA_VERSION {
                return Err(SqliteStoreError::NewerSchema {
                    path: self.path.clone(),
                    found: version,
                    supported: SCHEMA_VERSION,
                });
            }
            if version == SCHEMA_VERSION {
                return Ok(());
            }
            let path = self.path.clone();
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| classify(&path, "migrate the schema", e))?;
            // Another process may have migrated meanwhile: read again under the lock.
            if Self::stored_version(&tx, &path)? != version {
                continue;
            }
            tx.execute_batch(MIGRATIONS[version as usize])
                .and_then(|()| {
                    tx.execute("UPDATE stringphone_schema SET version = ?1", [version + 1])
                })
                .and_then(|_| tx.commit())
                .map_err(|e| classify(&path, "migrate the schema", e))?;
        }
    }

    /// Per-connection settings, and WAL for a database that is not in it.
    pub(crate) fn configure(&self) -> Result<(), SqliteStoreError> {
        let mode: String = self
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .map_err(|e| classify(&self.path, "read the journal mode", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            self.set_wal()?;
        }
        self.conn
            .pragma_update(None, "synchronous", self.durability.pragma())
            .and_then(|()| self.conn.pragma_update(None, "secure_delete", "ON"))
            .map_err(|e| classify(&self.path, "configure the connection", e))
    }

    /// SQLite's own check of the file's structure, then ours of the rows.
    pub(crate) fn check(&self) -> Result<(), SqliteStoreError> {
        let verdicts: Vec<String> = self
            .conn
            .prepare("PRAGMA quick_check")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .map_err(|e| classify(&self.path, "check the database", e))?;
        if verdicts != ["ok"] {
            return Err(SqliteStoreError::Corrupt {
                path: self.path.clone(),
                reason: format!("SQLite's check: {}", verdicts.join("; ")),
            });
        }
        self.entries()?;
        self.marks()?;
        self.group_state()?;
        Ok(())
    }
}

/// The `application_id` in the database's header (read, not written: this is how
/// an open decides whether the file is ours).
pub(crate) fn application_id(conn: &Connection, path: &Path) -> Result<i32, SqliteStoreError> {
    conn.pragma_query_value(None, "application_id", |r| r.get::<_, i64>(0))
        .map(|id| id as i32)
        .map_err(|e| classify(path, "read the database header", e))
}

/// Whether the database holds nothing at all: no page, or (after WAL mode was set on a
/// new file) a header without an application id and no schema object. Anything else
/// is someone's data, ours or not.
pub(crate) fn is_blank(conn: &Connection, path: &Path) -> Result<bool, SqliteStoreError> {
    let err = |e| classify(path, "read the database header", e);
    let pages: i64 = conn
        .pragma_query_value(None, "page_count", |r| r.get(0))
        .map_err(err)?;
    if pages == 0 {
        return Ok(true);
    }
    let objects: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(err)?;
    Ok(objects == 0 && application_id(conn, path)? == 0)
}

/// Creates the database's directory (mode 0700) and an empty file (mode 0600) if
/// missing, so that SQLite, which gives its `-wal` and `-shm` files the database's
/// mode, never makes them readable by others.
pub(crate) fn create_private_file(path: &Path) -> Result<(), SqliteStoreError> {
    let io = |action, p: &Path| {
        let p = p.to_path_buf();
        move |source| SqliteStoreError::Io {
            action,
            path: p,
            source,
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(io("create directory", dir))?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io("create", path)(e)),
    }
}
