//! The contract every trust store keeps (`stringphone_testkit::store`), on a state
//! directory: trust, marks and group state, durable and shared between handles.

use stringphone_store_file::FileTrustStore;
use stringphone_testkit::store::StorePlace;
use stringphone_testkit::TempDir;

/// A state directory, removed when dropped.
struct Dir(TempDir);

impl StorePlace for Dir {
    type Store = FileTrustStore;
    fn open(&self) -> Result<FileTrustStore, String> {
        FileTrustStore::open(self.0.path()).map_err(|e| e.to_string())
    }
}

stringphone_testkit::store_conformance!(persistent: || Dir(TempDir::new("file-conformance")));
