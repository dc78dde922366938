//! Property tests for the etcd machines and the JSON-gateway codec: random
//! replies of any kind (right, wrong, malformed, late, duplicate, unknown) at
//! random times never panic, and the machines keep their promises.

use fencelock_core::etcd::{
    Command, Election, ElectionArgs, ErrorKind, EtcdConfig, Event, EventKind, Input, KeyValue,
    LeaseId, Mutex, MutexArgs, ObserveArgs, Observer, OpResponse, Output, Reply, WaitMode,
    WatchEvent,
};
use fencelock_core::{Machine, Millis, RequestId};
use proptest::prelude::*;

const KEY: &str = "p/694d3a2bca4c4806";

fn arb_kv() -> impl Strategy<Value = KeyValue> {
    (
        prop_oneof![Just(KEY.to_string()), Just("p/1".to_string()), ".{0,4}"],
        0u64..20,
        prop_oneof![
            Just(None),
            Just(Some(LeaseId(7_587_862_243_934_128_390))),
            Just(Some(LeaseId(3)))
        ],
    )
        .prop_map(|(key, rev, lease)| {
            let mut kv = KeyValue::new(key, rev);
            kv.lease = lease;
            kv
        })
}

fn arb_kvs() -> impl Strategy<Value = Vec<KeyValue>> {
    prop::collection::vec(arb_kv(), 0..3)
}

fn arb_reply() -> impl Strategy<Value = Reply> {
    let op = prop_oneof![
        arb_kvs().prop_map(|kvs| OpResponse::Range { kvs }),
        Just(OpResponse::Put),
        (0u64..3).prop_map(|deleted| OpResponse::DeleteRange { deleted }),
    ];
    prop_oneof![
        (
            prop_oneof![
                Just(0u64),
                Just(7_587_862_243_934_128_390),
                Just(u64::MAX),
                1u64..5
            ],
            0u64..30
        )
            .prop_map(|(lease, ttl)| Reply::LeaseGranted {
                lease: LeaseId(lease),
                ttl
            }),
        (0u64..30).prop_map(|ttl| Reply::LeaseKeptAlive { ttl }),
        Just(Reply::LeaseRevoked),
        (any::<bool>(), 0u64..20, prop::collection::vec(op, 0..3)).prop_map(
            |(succeeded, revision, responses)| Reply::Txn {
                succeeded,
                revision,
                responses
            }
        ),
        (0u64..20, arb_kvs()).prop_map(|(revision, kvs)| Reply::Range { revision, kvs }),
        (
            0u64..20,
            prop::collection::vec((any::<bool>(), arb_kv()), 0..2)
        )
            .prop_map(|(revision, events)| Reply::Watch {
                revision,
                events: events
                    .into_iter()
                    .map(|(delete, kv)| {
                        let kind = if delete {
                            EventKind::Delete
                        } else {
                            EventKind::Put
                        };
                        serde_json::from_value::<WatchEvent>(serde_json::json!({
                            "type": if kind == EventKind::Delete { "delete" } else { "put" },
                            "kv": serde_json::to_value(&kv).unwrap(),
                        }))
                        .unwrap()
                    })
                    .collect(),
            }),
        (0u64..20).prop_map(|compact_revision| Reply::WatchCompacted { compact_revision }),
        Just(Reply::WatchCanceled {
            reason: String::new()
        }),
        prop_oneof![
            Just(ErrorKind::Timeout),
            Just(ErrorKind::Connection),
            Just(ErrorKind::Server),
            Just(ErrorKind::LeaseNotFound),
            Just(ErrorKind::Protocol),
        ]
        .prop_map(|kind| Reply::error(kind, "x")),
    ]
}

#[derive(Clone, Debug)]
enum Step {
    /// Reply to the n-th request id issued so far (wrapping), or to an id never issued.
    Reply {
        pick: usize,
        bogus: bool,
        dt: u64,
        reply: Reply,
    },
    Timeout {
        dt: u64,
    },
    Release {
        dt: u64,
    },
    Proclaim {
        dt: u64,
    },
    Backwards,
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (any::<usize>(), prop::bool::weighted(0.05), 0u64..4_000, arb_reply())
            .prop_map(|(pick, bogus, dt, reply)| Step::Reply { pick, bogus, dt, reply }),
        3 => (0u64..6_000).prop_map(|dt| Step::Timeout { dt }),
        1 => (0u64..3_000).prop_map(|dt| Step::Release { dt }),
        1 => (0u64..3_000).prop_map(|dt| Step::Proclaim { dt }),
        1 => Just(Step::Backwards),
    ]
}

fn config(poll: bool) -> EtcdConfig {
    let mut config = EtcdConfig::new(10);
    config.request_timeout = Some(500);
    if poll {
        config.wait = WaitMode::Poll { interval: 300 };
    }
    config
}

/// Drives `machine` through `steps`, checking the contract after every input.
fn drive<M: Machine<Input = Input, Output = Output>>(
    mut machine: M,
    steps: Vec<Step>,
    state: impl Fn(&M) -> &'static str,
) {
    let mut now = 1_000u64;
    let mut issued: Vec<RequestId> = Vec::new();
    let mut acquired = 0;
    let mut terminal = 0;
    let mut lost = false;
    let mut collect = |machine: &mut M, issued: &mut Vec<RequestId>| {
        while let Some(output) = machine.poll_output() {
            match output {
                Output::Command(command) => {
                    if let Some(req) = command.req() {
                        issued.push(req);
                    }
                    if let Command::CancelWatch { watch } = command {
                        assert!(issued.contains(&watch), "cancel of an unknown watch");
                    }
                }
                Output::Event(event) => match event {
                    Event::Acquired { lock, .. } => {
                        assert!(!lost, "acquired after lost");
                        assert!(lock.valid_until > lock.acquired_at, "no validity left");
                        acquired += 1;
                    }
                    Event::Lost { .. } => lost = true,
                    Event::AcquireFailed { .. }
                    | Event::Released { .. }
                    | Event::ObserveFailed { .. } => terminal += 1,
                    _ => {}
                },
                _ => {}
            }
        }
        assert!(acquired <= 1, "acquired twice");
        assert!(terminal <= 1, "two terminal events");
    };
    collect(&mut machine, &mut issued);
    for step in steps {
        let before = (state(&machine), machine.poll_timeout());
        let input = match step {
            Step::Reply {
                pick,
                bogus,
                dt,
                reply,
            } => {
                now += dt;
                let req = if bogus || issued.is_empty() {
                    RequestId(10_000 + pick as u64 % 10)
                } else {
                    issued[pick % issued.len()]
                };
                Input::Reply {
                    now: Millis(now),
                    req,
                    result: reply,
                }
            }
            Step::Timeout { dt } => {
                now += dt;
                Input::Timeout { now: Millis(now) }
            }
            Step::Release { dt } => {
                now += dt;
                Input::Release { now: Millis(now) }
            }
            Step::Proclaim { dt } => {
                now += dt;
                Input::Proclaim {
                    now: Millis(now),
                    value: "v".into(),
                }
            }
            Step::Backwards => Input::Timeout {
                now: Millis(now.saturating_sub(1).max(1)),
            },
        };
        match machine.handle_input(input) {
            Ok(()) => collect(&mut machine, &mut issued),
            Err(_) => {
                // A rejected input changes nothing and says nothing.
                assert_eq!(before, (state(&machine), machine.poll_timeout()));
                assert!(machine.poll_output().is_none());
            }
        }
        // The machine always asks for a timer while it still waits for something.
        if !matches!(state(&machine), "released" | "failed" | "done" | "lost") {
            assert!(
                machine.poll_timeout().is_some(),
                "stalled in {}",
                state(&machine)
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn mutex_never_panics_and_keeps_its_promises(
        poll in any::<bool>(), try_lock in any::<bool>(), steps in prop::collection::vec(arb_step(), 0..40)
    ) {
        let mut args = MutexArgs::new(Millis(1_000), "p").with_timeout(20_000);
        args.try_lock = try_lock;
        let machine = Mutex::new(&config(poll), args).unwrap();
        drive(machine, steps, |m| m.state().name());
    }

    #[test]
    fn election_never_panics_and_keeps_its_promises(
        poll in any::<bool>(), steps in prop::collection::vec(arb_step(), 0..40)
    ) {
        let machine = Election::new(&config(poll), ElectionArgs::new(Millis(1_000), "p", "v0")).unwrap();
        drive(machine, steps, |m| m.state().name());
    }

    #[test]
    fn observer_never_panics(
        poll in any::<bool>(), follow in any::<bool>(), steps in prop::collection::vec(arb_step(), 0..40)
    ) {
        let mut args = ObserveArgs::leader(Millis(1_000), "p");
        args.follow = follow;
        let machine = Observer::new(&config(poll), args).unwrap();
        drive(machine, steps, |m| m.state().name());
    }

    #[test]
    fn gateway_decoder_never_panics_on_arbitrary_bodies(body in prop::collection::vec(any::<u8>(), 0..200)) {
        use fencelock_core::wire::etcd_gateway::{decode, decode_watch_line};
        let commands = [
            Command::LeaseGrant { req: RequestId(1), ttl: 10 },
            Command::LeaseKeepAlive { req: RequestId(1), lease: LeaseId(5) },
            Command::LeaseRevoke { req: RequestId(1), lease: LeaseId(5) },
            Command::Range { req: RequestId(1), range: fencelock_core::etcd::RangeRequest::under("p") },
        ];
        for command in &commands {
            let _ = decode(command, &body);
        }
        let _ = decode_watch_line(&body);
    }

    #[test]
    fn gateway_decoder_never_panics_on_json_shaped_bodies(
        revision in prop_oneof![Just("\"2\"".to_string()), Just("\"x\"".to_string()), Just("-1".to_string()),
                                Just("1e3".to_string()), Just("\"99999999999999999999999\"".to_string()), Just("null".to_string())],
        lease in prop_oneof![Just("\"7\"".to_string()), Just("\"18446744073709551616\"".to_string()),
                             Just("[]".to_string()), Just("{}".to_string())],
        key in prop_oneof![Just("\"YQ==\"".to_string()), Just("\"%%%\"".to_string()), Just("7".to_string())],
    ) {
        use fencelock_core::wire::etcd_gateway::decode;
        let body = format!(
            "{{\"header\":{{\"revision\":{revision}}},\"succeeded\":true,\"kvs\":[{{\"key\":{key},\"lease\":{lease}}}],\
              \"responses\":[{{\"response_range\":{{\"kvs\":[{{\"key\":{key},\"create_revision\":{revision}}}]}}}}],\
              \"ID\":{lease},\"TTL\":{revision},\"result\":{{\"TTL\":{revision}}}}}"
        );
        let commands = [
            Command::LeaseGrant { req: RequestId(1), ttl: 10 },
            Command::LeaseKeepAlive { req: RequestId(1), lease: LeaseId(5) },
            Command::Range { req: RequestId(1), range: fencelock_core::etcd::RangeRequest::under("p") },
            Command::Txn { req: RequestId(1), compare: [].into(), success: [].into(), failure: [].into() },
        ];
        for command in &commands {
            let _ = decode(command, body.as_bytes());
        }
    }
}
