//! One uncontended PostgreSQL advisory-lock cycle through the core, with no I/O:
//! build the machine (try_lock), deliver `locked`, the fence bump's token
//! (acquired), release, and the unlock's `unlocked`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use fencelock_core::advisory::{AdvisoryConfig, Input, Lock, LockArgs, Output, Reply, SqlValue};
use fencelock_core::{Machine, Millis, RequestId};

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

fn row(first: SqlValue) -> Reply {
    Reply::Row {
        values: vec![first, SqlValue::Int(4242)],
    }
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

fn cycle(config: &AdvisoryConfig) {
    let mut machine =
        Lock::new(config, LockArgs::new(Millis(1_000), "orders")).expect("valid config");
    let try_lock = drain(&mut machine);
    let fence = reply(
        &mut machine,
        1_001,
        try_lock,
        row(SqlValue::Text("locked".into())),
    );
    reply(&mut machine, 1_002, fence, row(SqlValue::Int(7)));
    machine
        .handle_input(Input::Release { now: Millis(1_100) })
        .expect("held");
    let unlock = drain(&mut machine);
    reply(
        &mut machine,
        1_101,
        unlock,
        row(SqlValue::Text("unlocked".into())),
    );
    assert!(machine.state().is_terminal());
    black_box(machine);
}

fn bench(c: &mut Criterion) {
    let config = AdvisoryConfig::new();
    c.bench_function("advisory_lock_uncontended_acquire_release_cycle", |b| {
        b.iter(|| cycle(&config));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
