#![no_main]
//! `decode`: see `stringphone_fuzz_models::raw::check_decode`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stringphone_fuzz_models::raw::check_decode(data));
