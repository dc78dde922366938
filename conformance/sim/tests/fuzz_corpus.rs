//! Replays every file of the cargo-fuzz corpora (`fuzz/corpus/<target>/`)
//! through the same harnesses the fuzz targets call, on stable Rust.

use std::path::Path;

fn replay(target: &str, harness: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    for path in &files {
        let data = std::fs::read(path).unwrap();
        let result = std::panic::catch_unwind(|| harness(&data));
        assert!(result.is_ok(), "{target}: {} fails", path.display());
    }
    files.len()
}

#[test]
fn redlock_inputs_corpus() {
    let n = replay("redlock_inputs", fencelock_sim::fuzz::redlock_inputs);
    assert!(n > 0, "empty corpus");
    println!("redlock_inputs: {n} inputs");
}

#[test]
fn resp_decode_corpus() {
    let n = replay("resp_decode", fencelock_sim::fuzz::resp_decode);
    assert!(n > 0, "empty corpus");
    println!("resp_decode: {n} inputs");
}

#[test]
fn machine_inputs_corpus() {
    let n = replay("machine_inputs", fencelock_sim::fuzz::machine_inputs);
    assert!(n > 0, "empty corpus");
    println!("machine_inputs: {n} inputs");
}

#[test]
fn etcd_gateway_decode_corpus() {
    let n = replay(
        "etcd_gateway_decode",
        fencelock_sim::fuzz::etcd_gateway_decode,
    );
    assert!(n > 0, "empty corpus");
    println!("etcd_gateway_decode: {n} inputs");
}

#[test]
fn json_codecs_corpus() {
    let n = replay("json_codecs", fencelock_sim::fuzz::json_codecs);
    assert!(n > 0, "empty corpus");
    println!("json_codecs: {n} inputs");
}
