#![no_main]
//! `v2`: every protocol v2 entry point; see `stringphone_fuzz_models::v2::check_v2`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stringphone_fuzz_models::v2::check_v2(data));
