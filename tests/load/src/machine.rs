//! What machine a benchmark ran on, read from `/proc` (the same facts as `lscpu`, `nproc`, `free`).

use serde::{Deserialize, Serialize};

/// The machine's processor, cores and memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Logical CPUs in /proc/cpuinfo.
    pub logical_cpus: usize,
    /// CPUs this process may use (`nproc`).
    pub nproc: usize,
    /// Memory, GiB.
    pub memory_total_gib: f64,
    /// Memory available when measured, GiB.
    pub memory_available_gib: f64,
    /// Kernel release.
    pub kernel: String,
}

/// The CPU model and logical CPU count in a /proc/cpuinfo text.
pub fn parse_cpuinfo(text: &str) -> (String, usize) {
    let value = |line: &str| line.split_once(':').map(|(_, v)| v.trim().to_owned());
    let model = text
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(value)
        .unwrap_or_else(|| "unknown".into());
    let count = text.lines().filter(|l| l.starts_with("processor")).count();
    (model, count)
}

/// MemTotal and MemAvailable of a /proc/meminfo text, in GiB.
pub fn parse_meminfo(text: &str) -> (f64, f64) {
    let gib = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(0.0, |kb| (kb / 1024.0 / 1024.0 * 10.0).round() / 10.0)
    };
    (gib("MemTotal:"), gib("MemAvailable:"))
}

impl Machine {
    /// Reads this machine.
    pub fn current() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let (cpu, logical_cpus) = parse_cpuinfo(&read("/proc/cpuinfo"));
        let (memory_total_gib, memory_available_gib) = parse_meminfo(&read("/proc/meminfo"));
        Self {
            cpu,
            logical_cpus,
            nproc: std::thread::available_parallelism().map_or(0, usize::from),
            memory_total_gib,
            memory_available_gib,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_memory_are_read_from_proc_texts() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(parse_cpuinfo(cpuinfo), ("AMD EPYC 7B13".into(), 2));
        let meminfo =
            "MemTotal:       24641868 kB\nMemFree:        1 kB\nMemAvailable:   22020096 kB\n";
        assert_eq!(parse_meminfo(meminfo), (23.5, 21.0));
    }

    #[test]
    fn this_machine_has_at_least_one_cpu() {
        let m = Machine::current();
        assert!(m.nproc >= 1);
        assert!(m.logical_cpus >= 1);
    }
}
