#![no_main]
//! `verify_agreement`: every backend's verifier and an independent implementation
//! of libsodium's rule give one verdict; see `stringphone_fuzz_models::agreement`.

use libfuzzer_sys::fuzz_target;
use stringphone_fuzz_models::agreement::{check, Case};

fuzz_target!(|case: Case| check(&case));
