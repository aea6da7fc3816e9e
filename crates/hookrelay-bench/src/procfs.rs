//! Readings from `/proc`: CPU time (utime + stime of every thread, or of the
//! threads with one name) and memory
//! (`VmRSS`, `VmHWM`) of a process, and what machine this is.

use serde::Serialize;

/// CPU seconds used so far by `pid` (`None` = this process).
pub fn cpu_seconds(pid: Option<u32>, clk_tck: f64) -> Option<f64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    stat_cpu(&stat, clk_tck)
}

/// CPU seconds used so far by the live threads of `pid` named `comm` (as
/// `/proc/<pid>/task/*/comm` shows it), e.g. the server's `sqlite-writer`;
/// `None` if there is no such thread.
pub fn thread_cpu_seconds(pid: u32, comm: &str, clk_tck: f64) -> Option<f64> {
    let mut total = None;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let dir = task.path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if name.trim_end() != comm {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
            continue;
        };
        if let Some(secs) = stat_cpu(&stat, clk_tck) {
            *total.get_or_insert(0.0) += secs;
        }
    }
    total
}

/// utime + stime of one `stat` line, in seconds.
fn stat_cpu(stat: &str, clk_tck: f64) -> Option<f64> {
    // Fields after "(comm) ": state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clk_tck)
}

/// A `kB` line of `/proc/<pid>/status`, e.g. `VmHWM` (peak RSS) or `VmRSS`.
pub fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix(':')?;
        v.split_whitespace().next()?.parse().ok()
    })
}

/// The current UTC time, RFC 3339.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// When a file was last modified, RFC 3339 (to spot a stale server build).
pub fn modified_rfc3339(path: &std::path::Path) -> Option<String> {
    let t = std::fs::metadata(path).ok()?.modified().ok()?;
    time::OffsetDateTime::from(t)
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// What the numbers were measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu: String,
    pub kernel: String,
    pub date: String,
    #[serde(skip)]
    pub clk_tck: f64,
}

impl Machine {
    pub fn read() -> Machine {
        let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                c.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let date = now_rfc3339();
        let clk_tck = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0);
        Machine {
            nproc,
            cpu,
            kernel,
            date,
            clk_tck,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_can_be_measured() {
        let pid = std::process::id();
        assert!(cpu_seconds(None, 100.0).is_some());
        assert!(cpu_seconds(Some(pid), 100.0).is_some());
        assert!(status_kib(pid, "VmRSS").unwrap() > 0);
        assert!(status_kib(pid, "VmHWM").unwrap() > 0);
        assert_eq!(status_kib(pid, "NoSuchKey"), None);
        let me = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
        assert!(thread_cpu_seconds(pid, me.trim_end(), 100.0).is_some());
        assert_eq!(thread_cpu_seconds(pid, "no-such-thread", 100.0), None);
    }
}
