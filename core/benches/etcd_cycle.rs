//! One uncontended etcd mutex cycle through the core, with no I/O: build the
//! machine (lease grant), deliver the grant, the acquire txn's reply (we are the
//! owner: acquired), release, the guarded delete's reply and the revoke's reply.
//! Budget: < 2 us per cycle.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use fencelock_core::etcd::{
    Command, EtcdConfig, Input, KeyValue, LeaseId, Mutex, MutexArgs, OpResponse, Output, Reply,
};
use fencelock_core::{Machine, Millis, RequestId};

const LEASE: LeaseId = LeaseId(7_587_862_243_934_128_390);

/// Drains the machine, returning the request id of the last command it emitted.
fn drain(machine: &mut Mutex) -> RequestId {
    let mut last = RequestId(0);
    while let Some(output) = machine.poll_output() {
        if let Output::Command(command) = &output {
            if let Some(req) = command.req() {
                if !matches!(command, Command::LeaseKeepAlive { .. }) {
                    last = req;
                }
            }
        }
        black_box(output);
    }
    last
}

fn reply(machine: &mut Mutex, now: u64, req: RequestId, result: Reply) -> RequestId {
    let input = Input::Reply {
        now: Millis(now),
        req,
        result,
    };
    machine.handle_input(input).expect("valid reply");
    drain(machine)
}

fn cycle(config: &EtcdConfig, owner: &KeyValue) {
    let mut machine =
        Mutex::new(config, MutexArgs::new(Millis(1_000), "orders")).expect("valid config");
    let grant = drain(&mut machine);
    let granted = Reply::LeaseGranted {
        lease: LEASE,
        ttl: 10,
    };
    let txn = reply(&mut machine, 1_001, grant, granted);
    let acquired = Reply::Txn {
        succeeded: true,
        revision: 42,
        responses: vec![
            OpResponse::Put,
            OpResponse::Range {
                kvs: vec![owner.clone()],
            },
        ],
    };
    reply(&mut machine, 1_002, txn, acquired);
    machine
        .handle_input(Input::Release { now: Millis(1_100) })
        .expect("held");
    let delete = drain(&mut machine);
    let deleted = Reply::Txn {
        succeeded: true,
        revision: 43,
        responses: vec![OpResponse::DeleteRange { deleted: 1 }],
    };
    let revoke = reply(&mut machine, 1_101, delete, deleted);
    reply(&mut machine, 1_102, revoke, Reply::LeaseRevoked);
    assert!(machine.state().is_terminal());
    black_box(machine);
}

fn bench(c: &mut Criterion) {
    let config = EtcdConfig::new(10);
    let owner = KeyValue::new(format!("orders/{}", LEASE.hex()), 42).with_lease(LEASE);
    c.bench_function("etcd_mutex_uncontended_acquire_release_cycle", |b| {
        b.iter(|| cycle(&config, &owner));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
