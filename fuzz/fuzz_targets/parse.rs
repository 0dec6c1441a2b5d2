#![no_main]
//! `parse`: see `stringphone_fuzz_models::raw::check_parse`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stringphone_fuzz_models::raw::check_parse(data));
