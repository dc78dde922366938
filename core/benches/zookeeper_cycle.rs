//! One uncontended ZooKeeper lock cycle through the core, with no I/O: build the
//! machine (create), deliver the create's reply (with its stat), the children
//! listing (ours is the lowest: acquired), release, and the delete's reply.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use fencelock_core::zookeeper::{
    Input, Lock, LockArgs, Output, Reply, SessionId, Stat, ZooKeeperConfig,
};
use fencelock_core::{Machine, Millis, RequestId};

const SESSION: u64 = 72_057_831_385_464_832;
const GUID: &str = "e3a1c2f0-2b7d-4c55-9a1e-0f6b8d2c4e17";

/// Drains the machine, returning the request id of the last command it emitted.
fn drain(machine: &mut Lock) -> RequestId {
    let mut last = RequestId(0);
    while let Some(output) = machine.poll_output() {
        if let Output::Command(command) = &output {
            last = command.req();
        }
        black_box(output);
    }
    last
}

fn reply(machine: &mut Lock, now: u64, req: RequestId, result: Reply) -> RequestId {
    let input = Input::Reply {
        now: Millis(now),
        req,
        result,
    };
    machine.handle_input(input).expect("valid reply");
    drain(machine)
}

fn cycle(config: &ZooKeeperConfig, node: &str, name: &str) {
    let args = LockArgs::new(
        Millis(1_000),
        "/locks/orders",
        GUID,
        SessionId(SESSION),
        10_000,
    );
    let mut machine = Lock::new(config, args).expect("valid config");
    let create = drain(&mut machine);
    let created = Reply::Created {
        path: node.to_owned(),
        stat: Some(Stat::new(4_294_967_301, SESSION)),
    };
    let list = reply(&mut machine, 1_001, create, created);
    let children = Reply::Children {
        children: vec![name.to_owned()],
    };
    reply(&mut machine, 1_002, list, children);
    machine
        .handle_input(Input::Release { now: Millis(1_100) })
        .expect("held");
    let delete = drain(&mut machine);
    reply(&mut machine, 1_101, delete, Reply::Ok);
    assert!(machine.state().is_terminal());
    black_box(machine);
}

fn bench(c: &mut Criterion) {
    let config = ZooKeeperConfig::new();
    let name = format!("{GUID}-lock-0000000003");
    let node = format!("/locks/orders/{name}");
    c.bench_function("zookeeper_lock_uncontended_acquire_release_cycle", |b| {
        b.iter(|| cycle(&config, &node, &name));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
