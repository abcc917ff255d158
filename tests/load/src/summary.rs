//! `BENCHMARKS.md`, generated from the JSON reports of a `make bench` run.

use std::{fmt::Write as _, path::Path};

use anyhow::Context;

use crate::{
    machine::Machine,
    report::{Kind, Report, ms, ms_or_dash, percent},
    server_time::Bucket,
};

/// Report name of the reserve run through the gateway.
pub const RESERVE_GATEWAY: &str = "reserve-gateway";
/// Report name of the reserve run straight at booking.
pub const RESERVE_DIRECT: &str = "reserve-direct";
/// Report name of the queued flash sale through the gateway.
pub const QUEUED_GATEWAY: &str = "queued-gateway";
/// Report name of the fixed-body HTTP ceiling.
pub const CEILING_HTTP: &str = "ceiling-http";
/// Report name of the redis-benchmark ceiling.
pub const CEILING_REDIS: &str = "ceiling-redis";

/// The headline target: rate, seconds, p99 in ms, error rate.
pub const TARGET: (f64, f64, f64, f64) = (10_000.0, 60.0, 50.0, 0.001);

/// Reads every `*.json` report in `dir`, in the standard order and then by name.
pub fn read_reports(dir: &Path) -> anyhow::Result<Vec<Report>> {
    let mut reports = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            reports.push(Report::read(&path)?);
        }
    }
    let rank = |name: &str| {
        [
            RESERVE_GATEWAY,
            RESERVE_DIRECT,
            QUEUED_GATEWAY,
            CEILING_HTTP,
            CEILING_REDIS,
        ]
        .iter()
        .position(|n| *n == name)
        .unwrap_or(usize::MAX)
    };
    reports.sort_by(|a, b| rank(&a.name).cmp(&rank(&b.name)).then(a.name.cmp(&b.name)));
    Ok(reports)
}

fn what(report: &Report) -> &'static str {
    match report.kind {
        Kind::Scenario => "reserve (POST, open loop)",
        Kind::Queued => "join, wait for admission, reserve with the pass (open-loop joins)",
        Kind::HttpCeiling => "fixed body (GET, open loop)",
        Kind::RedisCeiling => "reserve function (FCALL, closed loop)",
    }
}

fn find<'a>(reports: &'a [Report], name: &str) -> Option<&'a Report> {
    reports.iter().find(|r| r.name == name)
}

fn seconds_of(report: &Report) -> f64 {
    report
        .plan
        .as_ref()
        .map_or(report.stats.elapsed_seconds, |p| p.profile.seconds())
}

/// Whether the gateway run meets the headline target, criterion by criterion.
pub fn target_verdict(report: &Report) -> (bool, Vec<(String, bool)>) {
    let (rate, seconds, p99, errors) = TARGET;
    let s = &report.stats;
    let criteria = vec![
        (
            format!(
                "offered ≥ {rate:.0} req/s for ≥ {seconds:.0} s (offered {:.0} req/s for {:.0} s)",
                s.offered_rps,
                seconds_of(report)
            ),
            s.offered_rps >= rate && seconds_of(report) >= seconds,
        ),
        (
            format!(
                "achieved ≥ {:.0} answers/s (achieved {})",
                rate * 0.99,
                s.achieved_rps
            ),
            s.achieved_rps >= rate * 0.99,
        ),
        (
            format!("p99 < {p99:.0} ms (p99 {})", ms(s.latency.p99)),
            s.latency.p99 < p99,
        ),
        {
            let server = report.server.as_ref();
            let seen = server.map_or_else(
                || "not read".to_owned(),
                |t| format!("{} requests, p99 in {}", t.requests, bucket_or_dash(t.p99)),
            );
            (
                format!("server p99 within {p99:.0} ms by its own histogram ({seen})"),
                server.and_then(|t| t.p99_at_most(p99)) == Some(true),
            )
        },
        (
            format!(
                "error rate < {} ({})",
                percent(errors),
                percent(s.error_rate)
            ),
            s.error_rate < errors,
        ),
        (
            format!("audit PASS ({})", report.audit_verdict()),
            report.audit.as_ref().is_some_and(|a| a.passed),
        ),
    ];
    (criteria.iter().all(|(_, ok)| *ok), criteria)
}

fn bucket_or_dash(bucket: Option<Bucket>) -> String {
    bucket.map_or_else(|| "–".to_owned(), |b| b.to_string())
}

fn ratio(md: &mut String, label: &str, a: Option<&Report>, b: Option<&Report>) {
    if let (Some(a), Some(b)) = (a, b)
        && b.stats.achieved_rps > 0.0
    {
        let _ = writeln!(
            md,
            "| {label} | {} / {} | {:.2} |",
            a.stats.achieved_rps,
            b.stats.achieved_rps,
            a.stats.achieved_rps / b.stats.achieved_rps
        );
    }
}

/// The whole document. `results` is the reports' folder relative to the document (for links);
/// `stack` the bench stack's settings and `notes` the hand-kept history, when present.
pub fn render(
    reports: &[Report],
    machine: &Machine,
    results: &str,
    stack: Option<&str>,
    notes: Option<&str>,
) -> String {
    let mut md = String::from("# Benchmarks\n\n");
    md.push_str("Generated by `make bench` (`loadgen summary`) from the JSON reports in ");
    let _ = writeln!(
        md,
        "`{results}/`; nothing here is typed by hand: rerun `make bench` to refresh it.\n"
    );
    md.push_str(
        "```sh\nmake bench                                   # BENCH_SECONDS=60 BENCH_RATE=10000 by default\nBENCH_SECONDS=5 BENCH_RATE=1000 make bench   # a short run that proves the harness\n```\n\n",
    );
    md.push_str("| variable | default | meaning |\n|---|---|---|\n");
    for (name, default, meaning) in [
        (
            "BENCH_SECONDS",
            "60",
            "seconds of each reserve run and of the HTTP ceiling",
        ),
        ("BENCH_RATE", "10000", "offered reserve requests per second"),
        (
            "BENCH_BUYERS",
            "1000",
            "buyers made through auth (kept in `.dev/bench/buyers.json` while their tokens live)",
        ),
        (
            "BENCH_CEILING_RATE",
            "8 × BENCH_RATE, at least 80000",
            "offered rate of the fixed-body HTTP ceiling",
        ),
        (
            "BENCH_REDIS_REQUESTS",
            "200000",
            "reserve-function calls redis-benchmark makes",
        ),
        ("BENCH_REDIS_CLIENTS", "50", "redis-benchmark connections"),
        (
            "BENCH_QUEUE_BUYERS",
            "BENCH_BUYERS",
            "buyers of the queued flash sale (it has half as many seats)",
        ),
        (
            "BENCH_QUEUE_RATE",
            "500",
            "admissions per second of the queued sale",
        ),
        (
            "BENCH_QUEUE_MAX_ACTIVE",
            "200",
            "buyers admitted but not yet reserved at once in the queued sale",
        ),
        (
            "BENCH_THREADS",
            "1",
            "threads of the load tool (one runs the schedule and the requests)",
        ),
        (
            "BENCH_WARMUP_SECONDS",
            "5",
            "seconds of unreported reserves through the gateway, on a sale of their own, before the runs",
        ),
        (
            "BENCH_MAX_IN_FLIGHT",
            "rate / 4, 256–4096",
            "requests in flight before arrivals are shed (and counted as errors)",
        ),
        (
            "BENCH_PGO",
            "1",
            "profile-guided release builds (scripts/pgo.sh); 0: plain release builds",
        ),
        (
            "BENCH_BIN_DIR",
            "unset: build them",
            "run the binaries in this directory instead of building them",
        ),
    ] {
        let _ = writeln!(md, "| `{name}` | {default} | {meaning} |");
    }
    let _ = writeln!(md, "\n## Machine\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    let _ = writeln!(md, "| CPU | {} |", machine.cpu);
    let _ = writeln!(
        md,
        "| cores | {} logical CPUs in /proc/cpuinfo, nproc {} |",
        machine.logical_cpus, machine.nproc
    );
    let _ = writeln!(
        md,
        "| memory | {} GiB total, {} GiB available at the end of the run |",
        machine.memory_total_gib, machine.memory_available_gib
    );
    let _ = writeln!(md, "| kernel | {} |", machine.kernel);
    let _ = writeln!(
        md,
        "\nEverything ran on this one machine over loopback and shared its {} CPUs: the load tool \
         (`loadgen`), the gateway, booking, auth (idle while measuring), Redis, PostgreSQL and the \
         tansu broker — so every figure includes the cost of generating the load.",
        machine.nproc
    );
    let _ = writeln!(md, "\n## Results\n");
    md.push_str("| run | what | offered | achieved/s | p50 | p90 | p99 | p99.9 | max | server p99 | error rate | audit |\n");
    md.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in reports {
        let s = &r.stats;
        let l = &s.latency;
        let _ = writeln!(
            md,
            "| [{name}]({results}/{name}.md) | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            what(r),
            r.load,
            s.achieved_rps,
            ms(l.p50),
            ms_or_dash(l.p90),
            ms(l.p99),
            ms_or_dash(l.p999),
            ms(l.max),
            bucket_or_dash(r.server.as_ref().and_then(|t| t.p99)),
            if r.kind == Kind::RedisCeiling {
                "–".to_owned()
            } else {
                percent(s.error_rate)
            },
            r.audit_verdict(),
            name = r.name,
        );
    }
    md.push_str(
        "\nLatency is measured from each request's intended send time to its whole answer, so \
         queueing in the load tool or the server is included (no coordinated omission); timed-out \
         requests count with the time they were given up at. Errors are everything but successes \
         and the refusals a scenario expects: 5xx, unexpected 4xx, timeouts, broken connections \
         and arrivals shed at the in-flight limit. The server p99 is the server's own: the bucket \
         of its `http_request_duration_seconds` histogram (read from its `/metrics` before and \
         after the run) that holds the 99th percentile of the run's requests, from the request \
         read to the answer handed back, without the load tool's queueing or the sockets.\n",
    );
    let gateway = find(reports, RESERVE_GATEWAY);
    let direct = find(reports, RESERVE_DIRECT);
    let http = find(reports, CEILING_HTTP);
    let redis = find(reports, CEILING_REDIS);
    let mut ratios = String::new();
    ratio(
        &mut ratios,
        "reserve via gateway ÷ reserve direct",
        gateway,
        direct,
    );
    ratio(
        &mut ratios,
        "reserve direct ÷ fixed-body HTTP ceiling",
        direct,
        http,
    );
    ratio(
        &mut ratios,
        "reserve via gateway ÷ fixed-body HTTP ceiling",
        gateway,
        http,
    );
    ratio(
        &mut ratios,
        "reserve direct ÷ Redis reserve-function ceiling",
        direct,
        redis,
    );
    ratio(
        &mut ratios,
        "reserve via gateway ÷ Redis reserve-function ceiling",
        gateway,
        redis,
    );
    if !ratios.is_empty() {
        let _ = writeln!(md, "\n## Against this machine's ceilings\n");
        md.push_str("| ratio | answers/s | |\n|---|---|---|\n");
        md.push_str(&ratios);
        md.push_str(
            "\nThe reserve runs are open loop: one that keeps up achieves the rate it was offered, \
             not its maximum, so a ratio well below 1 says there was headroom only when the \
             reserve run met its rate; the ceilings are offered more than the machine answers \
             and show what it can.\n",
        );
    }
    for r in reports.iter().filter(|r| r.kind == Kind::Queued) {
        let Some(queue) = &r.queue else { continue };
        let _ = writeln!(
            md,
            "\n## Queued flash sale: {}\n\nBuyers join the sale's queue (those before opening are shuffled at opening), \
             wait for their admission by {}, and reserve with the single-use pass it hands them; \
             buyers told the sale sold out leave. The first admitted buyer and every tenth after \
             it first try to reserve without the pass, which must be refused.\n",
            r.name,
            queue.wait.name()
        );
        md.push_str("| | |\n|---|---|\n");
        md.push_str(&queue.markdown());
    }
    if let Some(gateway) = gateway {
        let (met, criteria) = target_verdict(gateway);
        let _ = writeln!(
            md,
            "\n## Target: ≥ 10,000 reserves/s for 60 s through the gateway, p99 < 50 ms (at the load tool and at the server), errors < 0.1 %, audit PASS\n\n**{}** in this run:\n",
            if met { "MET" } else { "NOT MET" }
        );
        for (criterion, ok) in criteria {
            let _ = writeln!(md, "- {} {criterion}", if ok { "✓" } else { "✗" });
        }
    }
    let _ = writeln!(md, "\n## Runs\n");
    for r in reports {
        let _ = writeln!(md, "### {}\n", r.name);
        let _ = writeln!(md, "- target: `{}`", r.target);
        if let Some(plan) = &r.plan {
            let _ = writeln!(md, "- {} ({} buyers)", plan.sale.describe(), plan.buyers);
        }
        if let Some(settings) = &r.settings {
            let _ = writeln!(
                md,
                "- load tool: {} thread(s), in-flight limit {}, timeout {} ms, {} warm connections",
                settings.threads,
                settings.max_in_flight,
                settings.timeout_ms,
                settings.warm_connections
            );
        }
        if let Some(lag) = &r.stats.send_lag {
            let _ = writeln!(
                md,
                "- load tool lateness: p99 {}, max {}",
                ms(lag.p99),
                ms(lag.max)
            );
        }
        let outcomes: Vec<String> = r
            .stats
            .ok
            .iter()
            .chain(&r.stats.rejected)
            .chain(&r.stats.errors)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(md, "- outcomes: {}", outcomes.join(", "));
        if let Some(audit) = &r.audit {
            let _ = writeln!(md, "- audit **{}**:", audit.verdict());
            for c in &audit.checks {
                let _ = writeln!(
                    md,
                    "  - {} {}: {}",
                    if c.passed { "PASS" } else { "FAIL" },
                    c.name,
                    c.detail
                );
            }
        }
        for note in &r.notes {
            let _ = writeln!(md, "- {note}");
        }
        let _ = writeln!(md, "- command: `{}`", r.command);
        if !r.stats.timeline.is_empty() {
            let _ = writeln!(
                md,
                "\n![{} latency and throughput]({results}/{}.svg)",
                r.name, r.name
            );
        }
        md.push('\n');
    }
    if let Some(stack) = stack {
        let _ = writeln!(md, "## The benchmark stack\n\n```\n{}\n```\n", stack.trim());
    }
    if let Some(notes) = notes {
        let _ = writeln!(md, "## What each change bought\n\n{}\n", notes.trim());
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        audit::{AuditReport, Check},
        server_time::ServerTiming,
        stats::{Latency, RunStats},
    };

    fn report(name: &str, kind: Kind, rps: f64, p99: f64, passed: Option<bool>) -> Report {
        Report {
            name: name.into(),
            kind,
            target: "t".into(),
            command: format!("loadgen {name}"),
            started_at: "2026-01-01T00:00:00Z".into(),
            load: format!("{rps} req/s for 60 s"),
            plan: None,
            settings: None,
            stats: RunStats {
                scheduled: 600_000,
                offered_rps: rps,
                achieved_rps: rps,
                elapsed_seconds: 60.0,
                latency: Latency {
                    count: 600_000,
                    p50: 2.0,
                    p90: Some(5.0),
                    p99,
                    p999: Some(p99 * 2.0),
                    max: 100.0,
                    mean: 3.0,
                },
                ..RunStats::default()
            },
            server: Some(timing(Bucket {
                above_ms: 25.0,
                at_most_ms: Some(50.0),
            })),
            queue: None,
            audit: passed.map(|passed| AuditReport {
                passed,
                checks: vec![Check {
                    name: "balanced".into(),
                    passed,
                    detail: "z1 0+1+0=1".into(),
                }],
            }),
            notes: vec![],
        }
    }

    fn timing(p99: Bucket) -> ServerTiming {
        ServerTiming {
            metrics: "http://127.0.0.1:18080/metrics".into(),
            route: "/{*path}".into(),
            method: "POST".into(),
            requests: 600_000,
            p50: Some(Bucket {
                above_ms: 1.0,
                at_most_ms: Some(2.5),
            }),
            p99: Some(p99),
            p999: None,
        }
    }

    fn machine() -> Machine {
        Machine {
            cpu: "Test CPU".into(),
            logical_cpus: 2,
            nproc: 2,
            memory_total_gib: 24.0,
            memory_available_gib: 20.0,
            kernel: "6.1".into(),
        }
    }

    #[test]
    fn the_document_has_the_machine_the_runs_the_ratios_and_the_target_verdict() {
        let reports = vec![
            report(RESERVE_GATEWAY, Kind::Scenario, 10_000.0, 40.0, Some(true)),
            report(RESERVE_DIRECT, Kind::Scenario, 10_000.0, 20.0, Some(true)),
            report(CEILING_HTTP, Kind::HttpCeiling, 40_000.0, 9.0, None),
            report(CEILING_REDIS, Kind::RedisCeiling, 50_000.0, 1.0, None),
        ];
        let md = render(
            &reports,
            &machine(),
            "tests/load/results",
            Some("STACK"),
            None,
        );
        assert!(md.contains("| CPU | Test CPU |"));
        assert!(md.contains("[reserve-gateway](tests/load/results/reserve-gateway.md)"));
        assert!(md.contains("| reserve via gateway ÷ reserve direct | 10000 / 10000 | 1.00 |"));
        assert!(md.contains("| reserve direct ÷ fixed-body HTTP ceiling | 10000 / 40000 | 0.25 |"));
        assert!(md.contains(
            "| reserve via gateway ÷ Redis reserve-function ceiling | 10000 / 50000 | 0.20 |"
        ));
        assert!(md.contains("**MET** in this run"), "{md}");
        assert!(md.contains("STACK"));
        assert!(!md.contains("What each change bought"));
    }

    #[test]
    fn a_queued_run_gets_its_own_section_with_the_queue_figures() {
        let mut queued = report(QUEUED_GATEWAY, Kind::Queued, 500.0, 30.0, Some(true));
        queued.queue = Some(crate::queued::QueueReport {
            wait: crate::scenario::WaitMode::Sse,
            buyers: 1000,
            joined: 1000,
            pre_queue: 1000,
            admitted: 500,
            reserved: 500,
            told_sold_out: 500,
            left: 500,
            probes: 50,
            probes_refused: 50,
            position_updates: 4000,
            admitted_by_queue: 500,
            admission_per_second: 500,
            first_batch: 100,
            measured_admission_rate: Some(480.0),
            admission_span: Some((400, 0.83)),
            waited: Latency::default(),
        });
        let reports = vec![
            report(RESERVE_GATEWAY, Kind::Scenario, 10_000.0, 40.0, Some(true)),
            queued,
        ];
        let md = render(&reports, &machine(), "r", None, None);
        assert!(md.contains("## Queued flash sale: queued-gateway"), "{md}");
        assert!(md.contains(
            "| admission | 500/s configured, up to a second's worth at once; 500 admitted: 100 in the first batch, then 400 in 0.8 s |"
        ));
        assert!(md.contains("join, wait for admission, reserve with the pass"));
    }

    #[test]
    fn the_target_is_not_met_when_any_criterion_fails() {
        let slow = report(RESERVE_GATEWAY, Kind::Scenario, 10_000.0, 75.0, Some(true));
        let (met, criteria) = target_verdict(&slow);
        assert!(!met);
        assert_eq!(
            criteria.iter().filter(|(_, ok)| !ok).count(),
            1,
            "{criteria:?}"
        );
        let failed_audit = report(RESERVE_GATEWAY, Kind::Scenario, 10_000.0, 10.0, Some(false));
        assert!(!target_verdict(&failed_audit).0);
        let short = report(RESERVE_GATEWAY, Kind::Scenario, 1_000.0, 10.0, Some(true));
        assert!(!target_verdict(&short).0);
    }

    #[test]
    fn the_target_needs_the_servers_own_p99_within_the_bound_too() {
        let fast = report(RESERVE_GATEWAY, Kind::Scenario, 10_000.0, 40.0, Some(true));
        assert!(target_verdict(&fast).0);
        let mut slow_server = fast.clone();
        slow_server.server = Some(timing(Bucket {
            above_ms: 50.0,
            at_most_ms: Some(100.0),
        }));
        let (met, criteria) = target_verdict(&slow_server);
        assert!(!met);
        let failed: Vec<&String> = criteria
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(c, _)| c)
            .collect();
        assert_eq!(
            failed,
            ["server p99 within 50 ms by its own histogram (600000 requests, p99 in 50–100 ms)"]
        );
        let mut unread = fast.clone();
        unread.server = None;
        let (met, criteria) = target_verdict(&unread);
        assert!(!met);
        assert!(
            criteria
                .iter()
                .any(|(c, ok)| !ok && c.ends_with("(not read)"))
        );
        let md = render(&[fast], &machine(), "r", None, None);
        assert!(md.contains("| 25–50 ms | 0.000 % | PASS |"), "{md}");
    }
}
