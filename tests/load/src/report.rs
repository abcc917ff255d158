//! A run's report: JSON (the record `loadgen summary` reads back), Markdown and an SVG chart.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::{
    audit::AuditReport, chart, queued::QueueReport, scenario::Plan, server_time::ServerTiming,
    stats::RunStats,
};

/// What was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// A scenario against the booking API.
    Scenario,
    /// A queued flash sale: join, wait for admission, reserve with the pass.
    Queued,
    /// The fixed-body HTTP server under the same load tool.
    HttpCeiling,
    /// redis-benchmark calling the reserve function.
    RedisCeiling,
}

/// How the tool ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settings {
    /// Most requests in flight.
    pub max_in_flight: usize,
    /// Per-request timeout, ms.
    pub timeout_ms: u64,
    /// Threads of the load tool's runtime.
    pub threads: usize,
    /// Keep-alive connections opened before the measurement.
    pub warm_connections: usize,
}

/// One run's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Name (file stem of the report files).
    pub name: String,
    /// What was measured.
    pub kind: Kind,
    /// What was targeted (a URL, or Redis).
    pub target: String,
    /// The command line that produced it.
    pub command: String,
    /// Start time, RFC 3339.
    pub started_at: String,
    /// Offered load in words.
    pub load: String,
    /// The scenario's plan (scenario runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// Tool settings (HTTP runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Settings>,
    /// Counts and latencies.
    pub stats: RunStats,
    /// The server's own timing of the run's requests, when it was read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerTiming>,
    /// The sale audit (scenario runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditReport>,
    /// What the queue did (queued runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<QueueReport>,
    /// Observations worth reading next to the numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Formats milliseconds for tables.
pub fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0} ms")
    } else if value >= 10.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.2} ms")
    }
}

/// Formats an optional percentile.
pub fn ms_or_dash(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), ms)
}

/// Formats an error rate as a percentage.
pub fn percent(rate: f64) -> String {
    format!("{:.3} %", rate * 100.0)
}

impl Report {
    /// The audit verdict, or `–` when the run had none.
    pub fn audit_verdict(&self) -> &'static str {
        self.audit.as_ref().map_or("–", AuditReport::verdict)
    }

    /// The report as Markdown; `chart` is the chart's file name, linked when given.
    pub fn markdown(&self, chart: Option<&str>) -> String {
        let s = &self.stats;
        let l = &s.latency;
        let mut md = format!("# {}\n\n", self.name);
        let _ = writeln!(md, "| | |\n|---|---|");
        let _ = writeln!(md, "| target | {} |", self.target);
        let _ = writeln!(md, "| started | {} |", self.started_at);
        let _ = writeln!(md, "| offered load | {} |", self.load);
        let _ = writeln!(
            md,
            "| requests | {} scheduled, {} sent, {} answered, {} shed at the in-flight limit |",
            s.scheduled, s.sent, s.answered, s.shed
        );
        let _ = writeln!(md, "| achieved | {} answers/s |", s.achieved_rps);
        let _ = writeln!(
            md,
            "| latency | p50 {} · p90 {} · p99 {} · p99.9 {} · max {} (mean {}) |",
            ms(l.p50),
            ms_or_dash(l.p90),
            ms(l.p99),
            ms_or_dash(l.p999),
            ms(l.max),
            ms(l.mean)
        );
        let _ = writeln!(
            md,
            "| error rate | {} ({} errors) |",
            percent(s.error_rate),
            s.error_count()
        );
        if let Some(server) = &self.server {
            let _ = writeln!(
                md,
                "| server's own timing | {}, read from `{}` before and after the run |",
                server.describe(),
                server.metrics
            );
        }
        if let Some(lag) = &s.send_lag {
            let _ = writeln!(
                md,
                "| load tool lateness | p99 {} · max {} behind the intended send time |",
                ms(lag.p99),
                ms(lag.max)
            );
        }
        if let Some(settings) = &self.settings {
            let _ = writeln!(
                md,
                "| tool | {} thread(s), in-flight limit {}, timeout {} ms, {} warm connections |",
                settings.threads,
                settings.max_in_flight,
                settings.timeout_ms,
                settings.warm_connections
            );
        }
        if let Some(plan) = &self.plan {
            let _ = writeln!(md, "| sale | {} |", plan.sale.describe());
            let _ = writeln!(md, "| buyers | {} |", plan.buyers);
        }
        let _ = writeln!(md, "| audit | {} |", self.audit_verdict());
        if let Some(queue) = &self.queue {
            md.push_str(&queue.markdown());
        }
        let _ = writeln!(
            md,
            "\nOutcomes:\n\n| outcome | class | count |\n|---|---|---|"
        );
        for (class, map) in [
            ("ok", &s.ok),
            ("expected refusal", &s.rejected),
            ("error", &s.errors),
        ] {
            for (kind, n) in map {
                let _ = writeln!(md, "| {kind} | {class} | {n} |");
            }
        }
        if let Some(audit) = &self.audit {
            let _ = writeln!(md, "\nAudit: **{}**\n", audit.verdict());
            for check in &audit.checks {
                let mark = if check.passed { "PASS" } else { "FAIL" };
                let _ = writeln!(md, "- {mark} {}: {}", check.name, check.detail);
            }
        }
        for note in &self.notes {
            let _ = writeln!(md, "\n> {note}");
        }
        if let Some(chart) = chart {
            let _ = writeln!(md, "\n![latency and throughput per second]({chart})");
        }
        let _ = writeln!(md, "\nCommand: `{}`", self.command);
        md
    }

    /// Writes `<name>.json`, `<name>.md` and (with a timeline) `<name>.svg` into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut written = Vec::new();
        let json = dir.join(format!("{}.json", self.name));
        std::fs::write(&json, serde_json::to_string_pretty(self)?)
            .with_context(|| format!("writing {}", json.display()))?;
        written.push(json);
        let chart_name = format!("{}.svg", self.name);
        let has_chart = !self.stats.timeline.is_empty();
        if has_chart {
            let svg = dir.join(&chart_name);
            let title = format!("{} — {}", self.name, self.load);
            std::fs::write(
                &svg,
                chart::latency_over_time(&title, &self.stats.timeline)?,
            )
            .with_context(|| format!("writing {}", svg.display()))?;
            written.push(svg);
        }
        let md = dir.join(format!("{}.md", self.name));
        std::fs::write(&md, self.markdown(has_chart.then_some(chart_name.as_str())))
            .with_context(|| format!("writing {}", md.display()))?;
        written.push(md);
        Ok(written)
    }

    /// Reads a report written by [`Report::write`].
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}
