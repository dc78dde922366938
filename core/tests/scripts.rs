//! Every host sends the same scripts: the SHA1 constants must match the sources.

use fencelock_core::fence::{REDIS_FENCED_SET, REDIS_FENCED_SET_SHA1};
use fencelock_core::redlock::Script;
use sha1::{Digest, Sha1};

fn sha1_hex(text: &str) -> String {
    Sha1::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn redlock_script_sha1s_match_their_sources() {
    for script in Script::ALL {
        assert_eq!(
            script.sha1(),
            sha1_hex(script.source()),
            "SHA1 of the {} script",
            script.name()
        );
    }
}

#[test]
fn fenced_set_sha1_matches_its_source() {
    assert_eq!(REDIS_FENCED_SET_SHA1, sha1_hex(REDIS_FENCED_SET));
}

#[test]
fn scripts_are_distinct_and_named() {
    let names: Vec<&str> = Script::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(names, ["acquire", "extend", "release", "fence"]);
    let mut shas: Vec<&str> = Script::ALL.iter().map(|s| s.sha1()).collect();
    shas.dedup();
    assert_eq!(shas.len(), 4);
}
