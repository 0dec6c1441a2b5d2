//! The contract every trust store keeps (`stringphone_testkit::store`), on the
//! in-memory store: one handle, which keeps marks and the group state.

use stringphone_core::MemoryTrustStore;

stringphone_testkit::store_conformance!(MemoryTrustStore::new);
