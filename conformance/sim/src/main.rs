//! `fencelock-sim`: runs the deterministic simulator from the command line.
//!
//! ```text
//! fencelock-sim [--kind redlock|etcd] [--profile P[,P..]] [--seeds N] [--etcd-seeds N]
//!               [--first S] [--jobs J] [--check]
//! fencelock-sim --profile P --seed S [--trace] [--vector C:K | --vector culprit]
//! fencelock-sim --list
//! ```

use std::process::ExitCode;
use std::time::Instant;

use fencelock_sim::profile::{Backend, Check, Plant, Profile};
use fencelock_sim::world::{describe, Options};
use fencelock_sim::{run_profile, run_seed, vector, Summary};

const USAGE: &str = "\
usage:
  fencelock-sim [--kind redlock|etcd] [--profile P[,P..]] [--seeds N] [--etcd-seeds N]
                [--first S] [--jobs J] [--check]
      run N seeds (default 1000) of each profile (default: all, or all of one
      --kind; etcd profiles are named etcd-*) and print a table; --etcd-seeds runs
      a different number of seeds for the etcd profiles; --check exits 1 if a
      checker fires where the profile does not allow it, or a profile's known
      failure never shows
  fencelock-sim --profile P --seed S [--trace] [--vector C:K|culprit]
      replay one seed: its plan and findings, its trace, or client C's cycle K
      (or the lease of the first finding) as a conformance vector (JSON on stdout)
  fencelock-sim [--profile P] --plant BUG [...]
      plant a bug (in P, or in the bug's own profile) to show its checker fires
  fencelock-sim --list
      the profiles, the bugs that can be planted, and what they do";

struct Args {
    profiles: Vec<Profile>,
    seeds: u64,
    etcd_seeds: Option<u64>,
    first: u64,
    jobs: usize,
    check: bool,
    seed: Option<u64>,
    trace: bool,
    vector: Option<String>,
    list: bool,
}

fn parse() -> Result<Args, String> {
    let mut args = Args {
        profiles: Profile::all(),
        seeds: 1_000,
        etcd_seeds: None,
        first: 0,
        jobs: 1,
        check: false,
        seed: None,
        trace: false,
        vector: None,
        list: false,
    };
    let mut it = std::env::args().skip(1);
    let number = |v: Option<String>, what: &str| -> Result<u64, String> {
        v.ok_or(format!("{what} needs a value"))?
            .parse()
            .map_err(|_| format!("{what} needs a number"))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--profile" | "--profiles" => {
                let names = it.next().ok_or("--profile needs a value")?;
                args.profiles = names
                    .split(',')
                    .map(|n| Profile::named(n).ok_or(format!("unknown profile {n:?} (see --list)")))
                    .collect::<Result<_, _>>()?;
            }
            "--kind" => {
                let kind = it.next().ok_or("--kind needs redlock or etcd")?;
                let backend = [Backend::Redlock, Backend::Etcd]
                    .into_iter()
                    .find(|b| b.name() == kind)
                    .ok_or(format!("unknown kind {kind:?} (redlock or etcd)"))?;
                args.profiles = Profile::of(backend);
            }
            "--seeds" => args.seeds = number(it.next(), "--seeds")?,
            "--etcd-seeds" => args.etcd_seeds = Some(number(it.next(), "--etcd-seeds")?),
            "--first" => args.first = number(it.next(), "--first")?,
            "--jobs" => args.jobs = number(it.next(), "--jobs")? as usize,
            "--seed" => args.seed = Some(number(it.next(), "--seed")?),
            "--check" => args.check = true,
            "--trace" => args.trace = true,
            "--vector" => args.vector = Some(it.next().ok_or("--vector needs C:K or culprit")?),
            "--list" => args.list = true,
            "--plant" => {
                let name = it.next().ok_or("--plant needs a bug name")?;
                let bug =
                    Plant::named(&name).ok_or(format!("unknown bug {name:?} (see --list)"))?;
                let base = if args.profiles.len() == 1 {
                    args.profiles.remove(0)
                } else {
                    Profile::named(bug.base().0).expect("base profile")
                };
                args.profiles = vec![base.plant(bug)];
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn cell(summary: &Summary, check: Check) -> String {
    let i = Check::ALL.iter().position(|c| *c == check).unwrap_or(0);
    match summary.fired[i] {
        0 => String::from("0"),
        seeds => format!("{seeds} ({})", summary.counts[i]),
    }
}

fn table(summaries: &[Summary]) {
    println!(
        "| profile | seeds | lock cycles | acquired | (a) fencing | (b) mutex | (c) liveness | token regress | stale accepted | contract | write-backs / acq | slowest liveness | cycles/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in summaries {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.1} ms | {:.0} |",
            s.profile,
            s.seeds,
            s.cycles,
            s.acquired,
            cell(s, Check::Fencing),
            cell(s, Check::Mutex),
            cell(s, Check::Liveness),
            cell(s, Check::Regression),
            cell(s, Check::StaleAccepted),
            cell(s, Check::Contract),
            s.fence_commands as f64 / s.acquired.max(1) as f64,
            s.slowest_liveness as f64 / 1_000.0,
            s.cycles_per_second()
        );
    }
}

/// What only the etcd profiles measure: the commands a lock cycle costs, and
/// watch answers that woke a waiter although its predecessor was still there.
fn etcd_table(summaries: &[Summary], profiles: &[Profile]) {
    let etcd: Vec<_> = summaries
        .iter()
        .zip(profiles)
        .filter(|(_, p)| p.backend == Backend::Etcd)
        .map(|(s, _)| s)
        .collect();
    if etcd.is_empty() {
        return;
    }
    println!("\n| etcd profile | commands / cycle | watch answers without a delete | per cycle |");
    println!("|---|---:|---:|---:|");
    for s in etcd {
        let cycles = s.cycles.max(1) as f64;
        println!(
            "| {} | {:.1} | {} | {:.2} |",
            s.profile,
            s.requests as f64 / cycles,
            s.idle_wakeups,
            s.idle_wakeups as f64 / cycles
        );
    }
}

fn one_seed(args: &Args, seed: u64) -> ExitCode {
    let profile = &args.profiles[0];
    let quiet = args.vector.is_some();
    let first = run_seed(profile, seed, &Options::default());
    let target = match args.vector.as_deref() {
        None => None,
        Some("culprit") => first.report.culprit,
        Some(spec) => {
            let parsed = spec
                .split_once(':')
                .and_then(|(c, k)| Some((c.parse().ok()?, k.parse().ok()?)));
            if parsed.is_none() {
                eprintln!("--vector wants CLIENT:CYCLE (e.g. 2:5) or culprit");
                return ExitCode::from(2);
            }
            parsed
        }
    };
    let options = Options {
        trace: args.trace,
        vector: target,
    };
    let run = run_seed(profile, seed, &options);
    let text = format!("{:#?}\n{}", run.plan, describe(&run.report));
    if quiet {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    if let Some(trace) = &run.trace {
        for line in trace {
            if quiet {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
        }
    }
    if let Some((c, k)) = target {
        let description = match profile.backend {
            Backend::Redlock => format!(
                "Simulated: profile {} seed {seed}, client {c} cycle {k} ({} nodes, ttl {} ms), every input and output of its Redlock machine",
                profile.name, run.plan.nodes, run.plan.ttl
            ),
            Backend::Etcd => format!(
                "Simulated: profile {} seed {seed}, client {c} cycle {k} (lease ttl {} ms as granted), every input and output of its {} machine",
                profile.name, run.plan.ttl, run.machine
            ),
        };
        match vector::build(run.machine, &description, &run.record) {
            Some(v) => println!("{}", serde_json::to_string_pretty(&v).expect("json")),
            None => {
                eprintln!("client {c} has no cycle {k} in this run");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("{problem}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.list {
        for p in Profile::all() {
            let kind = if p.keeps_assumptions {
                "keeps the assumptions"
            } else {
                "breaks an assumption"
            };
            println!("{:<30} {kind}: {}\n{:<30} {}", p.name, p.about, "", p.why);
        }
        println!();
        for bug in Plant::ALL {
            let (base, check) = bug.base();
            println!(
                "--plant {:<28} in {base}, caught by {}",
                bug.name(),
                check.name()
            );
        }
        return ExitCode::SUCCESS;
    }
    if let Some(seed) = args.seed {
        return one_seed(&args, seed);
    }
    let started = Instant::now();
    let mut summaries = Vec::new();
    let mut problems = Vec::new();
    for profile in &args.profiles {
        let seeds = match profile.backend {
            Backend::Etcd => args.etcd_seeds.unwrap_or(args.seeds),
            Backend::Redlock => args.seeds,
        };
        let summary = run_profile(profile, args.first, seeds, args.jobs);
        problems.extend(summary.unexpected(profile));
        summaries.push(summary);
    }
    table(&summaries);
    etcd_table(&summaries, &args.profiles);
    let total: u64 = summaries.iter().map(|s| s.seeds).sum();
    let cycles: u64 = summaries.iter().map(|s| s.cycles).sum();
    let busy: f64 = summaries.iter().map(|s| s.busy.as_secs_f64()).sum();
    println!(
        "\n{total} seeds, {cycles} lock cycles in {:.1} s wall ({:.0} cycles per CPU-second, {} job(s))",
        started.elapsed().as_secs_f64(),
        cycles as f64 / busy.max(1e-9),
        args.jobs
    );
    for (summary, profile) in summaries.iter().zip(&args.profiles) {
        if summary.failures.is_empty() {
            continue;
        }
        let verdict = if profile.keeps_assumptions {
            "UNEXPECTED"
        } else {
            "expected"
        };
        println!("\n{} ({verdict}: {})", profile.name, profile.why);
        for (check, report) in &summary.failures {
            println!("  {} in seed {}:", check.name(), report.seed);
            for line in report.findings.iter().take(2) {
                println!("    {line}");
            }
            println!(
                "    replay: cargo run --release -p fencelock-sim -- --profile {} --seed {} --trace",
                profile.name, report.seed
            );
            if let Some((c, k)) = report.culprit.filter(|(_, k)| *k > 0) {
                println!(
                    "    vector: cargo run --release -p fencelock-sim -- --profile {} --seed {} --vector {c}:{k}",
                    profile.name, report.seed
                );
            }
        }
    }
    if args.check {
        if problems.is_empty() {
            println!("\ncheck: every profile behaved as documented");
        } else {
            for problem in &problems {
                println!("check failed: {problem}");
            }
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}
