#![no_main]
//! `structured`: valid messages of each type, edited field by field; see
//! `stringphone_fuzz_models::structured`.

use libfuzzer_sys::fuzz_target;
use stringphone_fuzz_models::structured::{check, Scenario};

fuzz_target!(|scenario: Scenario| check(&scenario));
