#![no_main]
//! `v2_structured`: valid v2 traffic, reordered, replayed and mutated field by
//! field, against a model of the receiver; see `stringphone_fuzz_models::v2_structured`.

use libfuzzer_sys::fuzz_target;
use stringphone_fuzz_models::v2_structured::{check, Scenario};

fuzz_target!(|scenario: Scenario| check(&scenario));
