//! Every machine (Redlock, etcd, ZooKeeper, PostgreSQL): a conformance vector's
//! inputs, mutated by arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    fencelock_sim::fuzz::machine_inputs(data);
});
