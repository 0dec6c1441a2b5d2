//! The contract every backend must keep (`stringphone_testkit::backend`): the vectors,
//! the RFCs' test vectors, libsodium's verdicts.

stringphone_testkit::backend_conformance!(stringphone_rustcrypto::RustCrypto);
