#![no_main]
//! `v2_topics`: participant 0 in two topics and bytes relayed between them; see
//! `stringphone_fuzz_models::v2_topics`.

use libfuzzer_sys::fuzz_target;
use stringphone_fuzz_models::v2_topics::{check, TopicsCase};

fuzz_target!(|case: TopicsCase| check(&case));
