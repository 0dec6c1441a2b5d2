//! The kit's own pieces: the vector loaders refuse what would make a test read
//! nothing, the key oracle matches arithmetic done elsewhere, and the tally counts
//! wrong lengths as refusals.

use curve25519_dalek::edwards::CompressedEdwardsY;
use stringphone_testkit::backend::{key_y, tally, Verdict};
use stringphone_testkit::vectors::{parse_classic, parse_edge_cases, EdgeCase};

#[test]
fn an_edge_file_missing_empty_or_malformed_is_refused() {
    let good = r#"{"cases":[{"set":"s","id":"0","description":"d","public_key":"00",
        "message":"","signature":"00","libsodium_accepts":false}]}"#;
    assert_eq!(parse_edge_cases(good).unwrap().len(), 1);
    assert!(parse_edge_cases("").unwrap_err().starts_with("not JSON"));
    assert_eq!(parse_edge_cases("{}").unwrap_err(), "no `cases` array");
    assert_eq!(
        parse_edge_cases(r#"{"cases":{}}"#).unwrap_err(),
        "`cases` is not an array"
    );
    assert_eq!(
        parse_edge_cases(r#"{"cases":[]}"#).unwrap_err(),
        "`cases` is empty"
    );
    let no_verdict = good.replace(r#","libsodium_accepts":false"#, "");
    assert_eq!(
        parse_edge_cases(&no_verdict).unwrap_err(),
        "case 0: field `libsodium_accepts` is missing"
    );
    let bad_hex = good.replace(r#""public_key":"00""#, r#""public_key":"0g""#);
    assert!(parse_edge_cases(&bad_hex)
        .unwrap_err()
        .starts_with("case 0: field `public_key`"));
}

#[test]
fn a_classic_file_with_a_missing_or_empty_section_is_refused() {
    let full = r#"{"simple":[{}],"intro":[{}],"reply":[{}],"invalid":[{}]}"#;
    assert!(parse_classic(full).is_ok());
    let empty = r#"{"simple":[],"intro":[{}],"reply":[{}],"invalid":[{}]}"#;
    assert_eq!(
        parse_classic(empty).unwrap_err(),
        "section `simple` is empty"
    );
    let missing = r#"{"simple":[{}],"intro":[{}],"reply":[{}]}"#;
    assert_eq!(
        parse_classic(missing).unwrap_err(),
        "section `invalid` is missing"
    );
    assert!(parse_classic("not json").is_err());
}

/// Whether `y` (0..64, sign bit clear) is the y of a curve point, i.e. whether
/// `(y^2 - 1) / (d y^2 + 1)` is a square mod p: bit `y` of this mask. Computed
/// independently of the Rust code, with Python's big integers:
/// `pow(u * pow(v, p - 2, p) % p, (p - 1) // 2, p) in (0, 1)`.
const SMALL_Y_ON_CURVE: u64 = 0xf7d9_1dab_7fad_c67b;

#[test]
fn the_key_oracle_matches_independent_arithmetic() {
    for y in 0..64u8 {
        let on_curve = SMALL_Y_ON_CURVE >> y & 1 == 1;
        for sign in [false, true] {
            let decompresses = CompressedEdwardsY(key_y(y, sign)).decompress().is_some();
            assert_eq!(decompresses, on_curve, "y = {y}, sign {sign}");
        }
    }
    assert_eq!(SMALL_Y_ON_CURVE.count_zeros(), 21);
}

#[test]
fn wrong_lengths_are_refused_and_counted() {
    let case = |pk: usize, sig: usize| EdgeCase {
        set: "t".into(),
        id: "0".into(),
        description: String::new(),
        public_key: vec![0; pk],
        message: vec![],
        signature: vec![0; sig],
        libsodium_accepts: false,
    };
    let cases = [case(32, 63), case(31, 64), case(32, 65), case(32, 0)];
    assert!(cases.iter().all(|c| c.sized().is_none()));
    assert!(case(32, 64).sized().is_some());
    let verdicts = [Verdict::WrongLength; 4];
    let rows = tally(&cases, &verdicts);
    let total = &rows.last().unwrap().1;
    assert_eq!(
        (total.cases, total.refused, total.wrong_length, total.agree),
        (4, 4, 4, 4)
    );
}
