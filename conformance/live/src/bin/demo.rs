//! Eight workers contend for one Redlock lock (five masters) that protects a
//! fenced counter in a sixth Redis: each holder reads the counter, increments it,
//! and writes it back with its fencing token.
//!
//! ```text
//! demo [--masters P1,P2,P3,P4,P5] [--resource P] [--acquisitions N] [--workers N]
//!      [--lock NAME] [--log PATH]
//! ```
//!
//! Without `--masters`/`--resource`, the first five ports of
//! `FENCELOCK_REDIS_PORTS` are the masters and the sixth is the resource (as
//! written by `servers.sh start-redis 6 DIR`). Exits non-zero if the invariant
//! breaks: overlapping holders, a non-increasing token, a rejected (stale)
//! write, or a final counter different from the number of acquisitions.
//!
//! `--lock NAME` fixes the lock name (the counter is `NAME-counter`) so workers
//! of other processes, in any language, can contend on the same lock and counter;
//! the final counter then also counts their writes, and the check across
//! processes is made from every process's `--log` (one `counter token` line per
//! write: sorted by counter, the global order of holders).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use fencelock_core::backoff::RetryPolicy;
use fencelock_core::redlock::RedlockConfig;
use fencelock_live::{AcquireError, Client, FencedResource, FencedWrite};

/// Bound on the whole run.
const RUN_LIMIT: Duration = Duration::from_secs(120);

struct Options {
    masters: Vec<u16>,
    resource: u16,
    acquisitions: usize,
    workers: usize,
    lock: Option<String>,
    log: Option<String>,
}

fn parse_ports(text: &str) -> Result<Vec<u16>, String> {
    text.split(',')
        .map(|p| p.trim().parse().map_err(|_| format!("bad port {p:?}")))
        .collect()
}

fn options() -> Result<Options, String> {
    let mut masters = None;
    let mut resource = None;
    let mut acquisitions = 200;
    let mut workers = 8;
    let mut lock = None;
    let mut log = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--masters" => masters = Some(parse_ports(&value()?)?),
            "--resource" => {
                resource = Some(
                    value()?
                        .parse()
                        .map_err(|_| "bad --resource port".to_string())?,
                );
            }
            "--acquisitions" => {
                acquisitions = value()?
                    .parse()
                    .map_err(|_| "bad --acquisitions".to_string())?;
            }
            "--workers" => workers = value()?.parse().map_err(|_| "bad --workers".to_string())?,
            "--lock" => lock = Some(value()?),
            "--log" => log = Some(value()?),
            "-h" | "--help" => return Err(
                "usage: demo [--masters P1,..,P5] [--resource P] [--acquisitions N] [--workers N] \
                 [--lock NAME] [--log PATH]"
                    .to_string(),
            ),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if masters.is_none() || resource.is_none() {
        let servers = fencelock_live::servers_from_env(6)?;
        masters.get_or_insert_with(|| servers.ports[..5].to_vec());
        resource.get_or_insert(servers.ports[5]);
    }
    let (Some(masters), Some(resource)) = (masters, resource) else {
        unreachable!("both filled above");
    };
    if masters.is_empty() || workers == 0 || acquisitions == 0 {
        return Err("need at least one master, one worker and one acquisition".to_string());
    }
    Ok(Options {
        masters,
        resource,
        acquisitions,
        workers,
        lock,
        log,
    })
}

#[derive(Default)]
struct Shared {
    in_critical_section: AtomicBool,
    overlaps: AtomicUsize,
    acquisitions: AtomicUsize,
    stale_writes_rejected: AtomicUsize,
    failed_acquires: AtomicUsize,
    /// (worker, token, acquire latency in ms, counter written), in acquisition order.
    log: Mutex<Vec<(usize, u64, f64, u64)>>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("demo: {message}");
            return ExitCode::from(2);
        }
    };
    let shared_lock = options.lock.is_some();
    let lock_name = options
        .lock
        .clone()
        .unwrap_or_else(|| format!("demo-{}", fencelock_live::random_seed() % 1_000_000));
    let resource_name = format!("{lock_name}-counter");
    let mut config = RedlockConfig::new(options.masters.len() as u32, 2_000);
    config.retry = RetryPolicy::fixed(10, 8).with_max_attempts(None);

    println!(
        "demo: {} workers, {} acquisitions, lock {lock_name:?} on masters {:?}, counter on port {}",
        options.workers, options.acquisitions, options.masters, options.resource
    );
    let shared = Arc::new(Shared::default());
    let started = Instant::now();
    let workers: Vec<_> = (0..options.workers)
        .map(|worker| {
            let shared = Arc::clone(&shared);
            let masters = options.masters.clone();
            let (config, lock_name, resource_name) =
                (config.clone(), lock_name.clone(), resource_name.clone());
            let (target, resource_port) = (options.acquisitions, options.resource);
            thread::spawn(move || -> Result<(), String> {
                let mut client = Client::connect(&masters);
                let mut resource = FencedResource::connect(resource_port, &resource_name)
                    .map_err(|e| format!("resource: {e}"))?;
                loop {
                    if started.elapsed() > RUN_LIMIT {
                        return Err(format!("worker {worker}: run limit reached"));
                    }
                    if shared.acquisitions.load(Ordering::SeqCst) >= target {
                        return Ok(());
                    }
                    let t0 = Instant::now();
                    let held = match client.acquire(&config, &[&lock_name], Some(Duration::from_secs(10))) {
                        Ok(held) => held,
                        Err(AcquireError::Failed { .. }) => {
                            shared.failed_acquires.fetch_add(1, Ordering::SeqCst);
                            continue;
                        }
                        Err(e) => return Err(format!("worker {worker}: {e}")),
                    };
                    let latency = t0.elapsed().as_secs_f64() * 1e3;
                    let token = held.token().ok_or("fencing is off")?;
                    if shared.in_critical_section.swap(true, Ordering::SeqCst) {
                        shared.overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    // Past the target, just let go (keeps the count exact).
                    let n = shared.acquisitions.load(Ordering::SeqCst);
                    if n < target {
                        let counter: u64 = resource
                            .read()
                            .map_err(|e| format!("read: {e}"))?
                            .map_or(Ok(0), |v| v.parse())
                            .map_err(|e| format!("counter: {e}"))?;
                        match resource.write(token, &(counter + 1).to_string()) {
                            Ok(FencedWrite::Accepted) => {}
                            Ok(FencedWrite::Rejected { highest }) => {
                                println!("worker {worker}: STALE write with token {token} rejected (highest {highest})");
                                shared.stale_writes_rejected.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => return Err(format!("write: {e}")),
                        }
                        shared
                            .log
                            .lock()
                            .map_err(|_| "log poisoned")?
                            .push((worker, token, latency, counter + 1));
                        shared.acquisitions.fetch_add(1, Ordering::SeqCst);
                        println!(
                            "#{:<4} worker {worker} token {token:<6} acquired in {latency:.2} ms ({} attempt(s))",
                            n + 1,
                            held.stats.attempts
                        );
                    }
                    shared.in_critical_section.store(false, Ordering::SeqCst);
                    client.release(held).map_err(|e| e.to_string())?;
                    // Some other work between two jobs, as a real worker would do;
                    // without it the releasing worker usually wins the next round.
                    thread::sleep(Duration::from_millis(3));
                }
            })
        })
        .collect();

    let mut worker_errors = Vec::new();
    for worker in workers {
        match worker.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => worker_errors.push(e),
            Err(_) => worker_errors.push("a worker panicked".to_string()),
        }
    }
    let elapsed = started.elapsed();

    let log = shared.log.lock().map(|l| l.clone()).unwrap_or_default();
    let acquisitions = log.len();
    let mut latencies: Vec<f64> = log.iter().map(|(_, _, l, _)| *l).collect();
    latencies.sort_by(f64::total_cmp);
    let tokens_increase = log.windows(2).all(|w| w[0].1 < w[1].1);
    let stale = shared.stale_writes_rejected.load(Ordering::SeqCst);
    let overlaps = shared.overlaps.load(Ordering::SeqCst);
    let counter: Option<usize> = FencedResource::connect(options.resource, &resource_name)
        .ok()
        .and_then(|mut r| r.read().ok().flatten())
        .and_then(|v| v.parse().ok());

    println!("--- summary ({:.1} s) ---", elapsed.as_secs_f64());
    println!("acquisitions: {acquisitions}");
    println!(
        "acquire latency: p50 {:.2} ms, p95 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.95),
        latencies.last().copied().unwrap_or(0.0)
    );
    println!(
        "failed acquires (deadline, retried): {}",
        shared.failed_acquires.load(Ordering::SeqCst)
    );
    println!("overlapping holders: {overlaps}");
    println!("tokens strictly increasing: {tokens_increase}");
    println!("stale writes rejected: {stale} (expected 0)");
    match counter {
        Some(counter) if shared_lock => {
            println!("final counter: {counter} (shared with other processes; checked across them)")
        }
        Some(counter) => println!(
            "final counter: {counter} == acquisitions {acquisitions}: {}",
            counter == acquisitions
        ),
        None => println!("final counter: unreadable"),
    }
    if let Some(path) = &options.log {
        let lines: String = log
            .iter()
            .map(|(_, token, _, counter)| format!("{counter} {token}\n"))
            .collect();
        if let Err(e) = std::fs::write(path, lines) {
            worker_errors.push(format!("--log {path}: {e}"));
        }
    }
    for e in &worker_errors {
        println!("error: {e}");
    }
    let ok = worker_errors.is_empty()
        && acquisitions == options.acquisitions
        && overlaps == 0
        && tokens_increase
        && stale == 0
        && (if shared_lock {
            counter.is_some_and(|c| c >= acquisitions)
        } else {
            counter == Some(acquisitions)
        });
    if ok {
        println!("invariant held");
        ExitCode::SUCCESS
    } else {
        println!("INVARIANT BROKEN");
        ExitCode::FAILURE
    }
}
