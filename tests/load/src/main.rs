//! `loadgen`: open-loop load against Booking Rush, the post-run audit, this machine's ceilings
//! and the BENCHMARKS.md summary.

use std::{io::Write, path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use loadtest::{
    ceiling::{self, RedisCeiling},
    machine::Machine,
    report::Report,
    run::{self, Backends, ScenarioRun, Tool},
    scenario::{Knobs, Scenario},
    schedule::Profile,
    stats::say,
    summary,
};
use shared::{config::Env, kafka::KafkaConfig, postgres::PostgresConfig, redis::RedisConfig};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    about = "Open-loop load generator and benchmark harness for Booking Rush (REDIS_URL, DATABASE_URL, KAFKA_BROKERS for provisioning and the audit)"
)]
struct Cli {
    /// Threads of the tool's runtime; with 1, the scheduling loop and the requests share it.
    #[arg(long, global = true, env = "LOADGEN_THREADS", default_value_t = 1)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct ToolArgs {
    /// Most requests in flight; arrivals beyond it are shed and counted as errors
    /// (default: a quarter second of the peak rate, 256 to 4096).
    #[arg(long)]
    max_in_flight: Option<usize>,
    /// Keep-alive connections opened before the measurement, at most the in-flight limit
    /// (default: what the peak rate needs at ~10 ms an answer).
    #[arg(long, env = "LOADGEN_WARM_CONNECTIONS")]
    warm_connections: Option<usize>,
    /// Per-request timeout, ms.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// Folder the reports are written to.
    #[arg(long, default_value = ".dev/loadtest")]
    out: PathBuf,
    /// No progress line each second.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args)]
struct RunArgs {
    /// The scenario.
    scenario: Scenario,
    /// Where reservations go: the gateway, or booking directly.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// Where buyers register and log in: the gateway, or auth directly.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    auth: String,
    /// Keep buyers in this file and reuse them while their tokens are valid.
    #[arg(long)]
    buyers_file: Option<PathBuf>,
    /// Buyers registered at once (each costs two argon2id hashes).
    #[arg(long, default_value_t = 4)]
    signup_concurrency: usize,
    /// Report name (default: the scenario's).
    #[arg(long)]
    name: Option<String>,
    /// Seconds the audit waits for the recorder to drain and holds to settle.
    #[arg(long, default_value_t = 120)]
    drain_timeout: u64,
    /// Leave the sale in Redis and its topics in place afterwards.
    #[arg(long)]
    keep_sale: bool,
    /// Seed of the dirty mix's random choices.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Id of the sale to provision (default: `lt-<scenario>-<random>`), e.g. so a booking
    /// service can be started serving only it.
    #[arg(long)]
    sale_id: Option<shared::ids::SaleId>,
    /// Also read the server's own timing of the run's POST requests: this `route` label of the
    /// `http_request_duration_seconds` histogram at `<target>/metrics` (`/{*path}` at the
    /// gateway, `/api/v1/sales/{sale}/reservations` at booking).
    #[arg(long)]
    server_route: Option<String>,
    #[command(flatten)]
    knobs: Knobs,
    #[command(flatten)]
    tool: ToolArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario against the API, writes its reports, audits the sale (FAIL exits 1).
    Run(Box<RunArgs>),
    /// Serves a fixed reservation-sized JSON body on every path (the HTTP ceiling's server).
    Serve {
        /// Interface.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port (0: any free port; the address is printed).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// Measures the fixed-body server under the same open-loop engine.
    CeilingHttp {
        /// The server (`loadgen serve`).
        #[arg(long)]
        target: String,
        /// Offered requests per second.
        #[arg(long)]
        rate: f64,
        /// Seconds.
        #[arg(long)]
        duration: f64,
        /// Report name.
        #[arg(long, default_value = summary::CEILING_HTTP)]
        name: String,
        #[command(flatten)]
        tool: ToolArgs,
    },
    /// Measures Redis running booking's reserve function with redis-benchmark.
    CeilingRedis {
        /// Script calls.
        #[arg(long, default_value_t = 200_000)]
        requests: u32,
        /// Concurrent connections.
        #[arg(long, default_value_t = 50)]
        clients: u32,
        /// Report name.
        #[arg(long, default_value = summary::CEILING_REDIS)]
        name: String,
        /// Folder the report is written to.
        #[arg(long, default_value = ".dev/loadtest")]
        out: PathBuf,
    },
    /// Writes BENCHMARKS.md from the JSON reports in a folder.
    Summary {
        /// Folder of the JSON reports.
        #[arg(long)]
        reports: PathBuf,
        /// The document to write.
        #[arg(long, default_value = "BENCHMARKS.md")]
        out: PathBuf,
        /// The reports' folder as linked from the document.
        #[arg(long)]
        link: Option<String>,
        /// A file describing the benchmark stack's settings, included verbatim.
        #[arg(long)]
        stack: Option<PathBuf>,
        /// A hand-kept history of optimisations, included verbatim when it exists.
        #[arg(long)]
        notes: Option<PathBuf>,
    },
}

fn backends() -> anyhow::Result<Backends> {
    let env = Env::process();
    Ok(Backends {
        redis: RedisConfig::from_env(&env)?,
        postgres: PostgresConfig::from_env(&env)?,
        kafka: KafkaConfig::from_env(&env)?,
    })
}

fn tool(args: &ToolArgs, threads: usize) -> Tool {
    Tool {
        max_in_flight: args.max_in_flight,
        warm_connections: args.warm_connections,
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
        threads,
        progress: !args.quiet,
        out_dir: args.out.clone(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
    }
}

fn out(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn publish(report: &Report, dir: &std::path::Path) -> anyhow::Result<()> {
    let written = report.write(dir)?;
    for path in written {
        out(&format!("wrote {}", path.display()));
    }
    let s = &report.stats;
    out(&format!(
        "{}: {} answers/s, p50 {} ms, p99 {} ms, error rate {:.4} %",
        report.name,
        s.achieved_rps,
        s.latency.p50,
        s.latency.p99,
        s.error_rate * 100.0
    ));
    Ok(())
}

async fn execute(cli: Cli) -> anyhow::Result<bool> {
    let threads = cli.threads;
    match cli.command {
        Command::Run(args) => {
            let RunArgs {
                scenario,
                target,
                auth,
                buyers_file,
                signup_concurrency,
                name,
                drain_timeout,
                keep_sale,
                seed,
                sale_id,
                server_route,
                knobs,
                tool: args,
            } = *args;
            let tool = tool(&args, threads);
            let run = ScenarioRun {
                scenario,
                knobs,
                target,
                auth,
                buyers_file,
                signup_concurrency,
                name: name.unwrap_or_else(|| scenario.name().to_owned()),
                drain_timeout: Duration::from_secs(drain_timeout),
                keep_sale,
                seed,
                sale_id,
                server_route,
            };
            let report = run::scenario(&run, &tool, &backends()?).await?;
            publish(&report, &tool.out_dir)?;
            let audit = report
                .audit
                .as_ref()
                .context("a scenario run is always audited")?;
            out(&audit.render());
            Ok(audit.passed)
        }
        Command::Serve { host, port } => {
            let listener = ceiling::bind_fixed(&host, port)
                .await
                .with_context(|| format!("binding {host}:{port}"))?;
            out(&format!("listening on http://{}", listener.local_addr()?));
            let shutdown = CancellationToken::new();
            shared::server::cancel_on_signal(shutdown.clone());
            ceiling::serve_fixed(listener, shutdown).await?;
            Ok(true)
        }
        Command::CeilingHttp {
            target,
            rate,
            duration,
            name,
            tool: args,
        } => {
            let tool = tool(&args, threads);
            let profile = Profile::Constant {
                rate,
                seconds: duration,
            };
            let report = run::http_ceiling(&target, profile, &name, &tool).await?;
            publish(&report, &tool.out_dir)?;
            Ok(true)
        }
        Command::CeilingRedis {
            requests,
            clients,
            name,
            out: dir,
        } => {
            let settings = RedisCeiling {
                requests,
                clients,
                name,
                command: std::env::args().collect::<Vec<_>>().join(" "),
            };
            let report = ceiling::redis(&settings, &backends()?).await?;
            publish(&report, &dir)?;
            Ok(true)
        }
        Command::Summary {
            reports,
            out: path,
            link,
            stack,
            notes,
        } => {
            let all = summary::read_reports(&reports)?;
            if all.is_empty() {
                anyhow::bail!("no JSON reports in {}", reports.display());
            }
            let read_optional = |file: Option<PathBuf>| -> anyhow::Result<Option<String>> {
                match file {
                    None => Ok(None),
                    Some(file) => match std::fs::read_to_string(&file) {
                        Ok(text) => Ok(Some(text)),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                        Err(e) => Err(e).with_context(|| format!("reading {}", file.display())),
                    },
                }
            };
            let link = link.unwrap_or_else(|| reports.display().to_string());
            let document = summary::render(
                &all,
                &Machine::current(),
                &link,
                read_optional(stack)?.as_deref(),
                read_optional(notes)?.as_deref(),
            );
            std::fs::write(&path, document)
                .with_context(|| format!("writing {}", path.display()))?;
            out(&format!(
                "wrote {} from {} reports",
                path.display(),
                all.len()
            ));
            Ok(true)
        }
    }
}

/// The tool's runtime with `threads` threads. One thread is a current-thread runtime: a
/// multi-thread one would run the loop that schedules arrivals on the calling thread and every
/// request on its worker, waking the worker for each arrival.
fn runtime(threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    match threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
        n => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(n)
            .enable_all()
            .build(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match runtime(cli.threads) {
        Ok(runtime) => runtime.block_on(execute(cli)),
        Err(err) => Err(anyhow::Error::from(err).context("starting the runtime")),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            say(&format!("loadgen: {err:#}"));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::runtime::RuntimeFlavor;

    use super::runtime;

    #[test]
    fn one_thread_runs_the_schedule_and_the_requests_on_the_calling_thread() {
        for (threads, flavor) in [
            (0, RuntimeFlavor::CurrentThread),
            (1, RuntimeFlavor::CurrentThread),
            (2, RuntimeFlavor::MultiThread),
        ] {
            let runtime = runtime(threads).expect("a runtime");
            assert_eq!(
                runtime.handle().runtime_flavor(),
                flavor,
                "{threads} thread(s)"
            );
        }
    }
}
