//! The contract every trust store keeps (`stringphone_testkit::store`), on the two
//! stores of the core: the in-memory store (one handle, which keeps marks and the group
//! state) and the fixed-capacity one (which keeps neither, as a store that does not
//! outlive the process may).

mod memory {
    stringphone_testkit::store_conformance!(stringphone_core::MemoryTrustStore::new);
}

mod fixed {
    stringphone_testkit::store_conformance!(stringphone_core::FixedTrustStore::<4>::new);
}
