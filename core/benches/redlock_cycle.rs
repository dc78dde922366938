//! One full 5-node Redlock cycle through the core, with no I/O: build the machine
//! (5 acquire commands), deliver a quorum of grants, release, deliver a quorum of
//! release confirmations. DESIGN.md's budget: < 2 us per cycle.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use fencelock_core::redlock::{
    AcquireArgs, Command, Input, NodeReply, Output, Redlock, RedlockConfig,
};
use fencelock_core::{Machine, Millis, RequestId};

/// Drains the machine, returning the request ids of the commands it emitted.
fn drain(machine: &mut Redlock, reqs: &mut Vec<RequestId>) {
    reqs.clear();
    while let Some(output) = machine.poll_output() {
        if let Output::Command(Command::Eval(eval)) = output {
            reqs.push(eval.req);
        }
        black_box(());
    }
}

fn cycle(config: &RedlockConfig, resources: &[String], reqs: &mut Vec<RequestId>) {
    let args = AcquireArgs::new(
        Millis(1_000),
        resources.to_vec(),
        "3f1c2a9e-5b7d-4e8f-a1b2-c3d4e5f60718".into(),
    );
    let mut machine = Redlock::new(config, args).expect("valid config");
    drain(&mut machine, reqs);
    let grants = [reqs[0], reqs[1], reqs[2]];
    for (i, req) in grants.into_iter().enumerate() {
        let input = Input::Reply {
            now: Millis(1_001 + i as u64),
            req,
            node: None,
            result: NodeReply::Int { value: 42 },
        };
        machine.handle_input(input).expect("valid reply");
        drain(&mut machine, reqs);
    }
    machine
        .handle_input(Input::Release { now: Millis(1_100) })
        .expect("held");
    drain(&mut machine, reqs);
    let releases = [reqs[0], reqs[1], reqs[2]];
    for (i, req) in releases.into_iter().enumerate() {
        let input = Input::Reply {
            now: Millis(1_101 + i as u64),
            req,
            node: None,
            result: NodeReply::Int { value: 1 },
        };
        machine.handle_input(input).expect("valid reply");
        drain(&mut machine, reqs);
    }
    assert!(machine.state().is_terminal());
    black_box(machine);
}

fn bench(c: &mut Criterion) {
    let config = RedlockConfig::new(5, 10_000);
    let resources = vec![String::from("orders:42")];
    let mut reqs = Vec::with_capacity(8);
    c.bench_function("redlock_5_node_acquire_release_cycle", |b| {
        b.iter(|| cycle(&config, &resources, &mut reqs));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
