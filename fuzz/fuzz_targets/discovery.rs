#![no_main]
//! `discovery`: see `stringphone_fuzz_models::raw::check_discovery`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stringphone_fuzz_models::raw::check_discovery(data));
