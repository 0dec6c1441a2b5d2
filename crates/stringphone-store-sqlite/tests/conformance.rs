//! The contract every trust store keeps (`stringphone_testkit::store`), on a database:
//! trust, marks and group state, durable and shared between handles.

use stringphone_store_sqlite::SqliteTrustStore;
use stringphone_testkit::store::StorePlace;
use stringphone_testkit::TempDir;

/// A directory holding the database, removed when dropped.
struct Database(TempDir);

impl StorePlace for Database {
    type Store = SqliteTrustStore;
    fn open(&self) -> Result<SqliteTrustStore, String> {
        SqliteTrustStore::open(self.0.join("state.db")).map_err(|e| e.to_string())
    }
}

stringphone_testkit::store_conformance!(persistent: || Database(TempDir::new("sqlite-conformance")));
