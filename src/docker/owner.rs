//! Who owns a labelled object: the labels every container and temporary image of a run carries,
//! the process they name, and the judgement whether that process is still alive. Both the run's
//! own cleanup and `fclayer gc` find objects by these labels.
//!
//! A run is judged *dead* only when it ran on this machine in this PID namespace (same kernel
//! boot id, same namespace) and its process is gone: the pid no longer exists, or now belongs to
//! a process that started at another time. That needs Linux's /proc; elsewhere no run can be
//! judged dead, so gc keeps everything unless `--all` asks for it.

use std::collections::HashMap;

/// Label on everything fclayer creates; its value is fclayer's version.
pub const LABEL: &str = "fclayer";
/// Label naming the run (process) that created a container.
pub const LABEL_RUN: &str = "fclayer.run";
/// Labels recording the process behind a run, so gc can tell a live run from a dead one: its pid
/// and host name (for people and filters), and the owner (`pid:start time:boot id/pid
/// namespace`, what gc judges by).
///
/// The legacy image builder applies build labels as one step per label, in key order, and each
/// step leaves an image. The owner label sorts before every other label unique to the run, so
/// each of those images carries it and can be found again, by the run's cleanup or by gc.
pub const LABEL_PID: &str = "fclayer.pid";
pub const LABEL_HOST: &str = "fclayer.host";
pub const LABEL_OWNER: &str = "fclayer.owner";

/// Who this process is, in the form the labels record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
    pub host: String,
    /// `<boot id>/<pid namespace>`: pids can be compared only within the same one.
    pub space: String,
    /// Start time of the process (clock ticks after boot), so a reused pid is not taken for it.
    pub start: u64,
}

impl Process {
    /// This process. Off Linux (no /proc) `space` is empty and no run can be judged dead.
    pub fn current() -> Process {
        let pid = std::process::id();
        Process {
            pid,
            host: hostname(),
            space: pid_space().unwrap_or_default(),
            start: start_time(pid).unwrap_or(0),
        }
    }

    /// The value of the `fclayer.owner` label: `pid:start:space`.
    pub fn label(&self) -> String {
        format!("{}:{}:{}", self.pid, self.start, self.space)
    }
}

/// What a run's labels say about it, seen from this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// Still running: left alone unless `--all`.
    Alive { pid: u32 },
    /// Ran here and is gone.
    Dead { pid: u32 },
    /// Made elsewhere (or by an fclayer without the owner label): cannot be judged.
    Unknown { host: String },
}

/// Judge the run that made an object from its labels. `alive(pid, start)` says whether that
/// process exists here with that start time.
pub fn judge(
    labels: &HashMap<String, String>,
    me: &Process,
    alive: impl Fn(u32, u64) -> bool,
) -> Owner {
    let host = labels
        .get(LABEL_HOST)
        .cloned()
        .unwrap_or_else(|| "an unknown host".into());
    let unknown = || Owner::Unknown { host: host.clone() };
    let Some(owner) = labels.get(LABEL_OWNER) else {
        return unknown();
    };
    let mut parts = owner.splitn(3, ':');
    let (Some(pid), Some(start), Some(space)) = (parts.next(), parts.next(), parts.next()) else {
        return unknown();
    };
    let (Ok(pid), Ok(start)) = (pid.parse::<u32>(), start.parse::<u64>()) else {
        return unknown();
    };
    if me.space.is_empty() || space != me.space {
        return unknown();
    }
    if alive(pid, start) {
        Owner::Alive { pid }
    } else {
        Owner::Dead { pid }
    }
}

/// Whether process `pid` exists here and started at `start` (clock ticks after boot).
#[cfg(target_os = "linux")]
pub fn process_alive(pid: u32, start: u64) -> bool {
    start_time(pid) == Some(start)
}

/// Without /proc nothing tells a gone process from a live one: take it as alive, so gc only
/// removes what `--all` asks for. (`judge` does not get here: `space` is empty.)
#[cfg(not(target_os = "linux"))]
pub fn process_alive(_pid: u32, _start: u64) -> bool {
    true
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks after boot.
#[cfg(target_os = "linux")]
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(not(target_os = "linux"))]
fn start_time(_pid: u32) -> Option<u64> {
    None
}

/// The kernel's boot id and this process's PID namespace; pids compare only within one.
#[cfg(target_os = "linux")]
fn pid_space() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let ns = ns.to_string_lossy();
    let ns = ns.trim_start_matches("pid:[").trim_end_matches(']');
    Some(format!("{}/{ns}", boot.trim()))
}

#[cfg(not(target_os = "linux"))]
fn pid_space() -> Option<String> {
    None
}

fn hostname() -> String {
    #[cfg(target_os = "linux")]
    let kernel = std::fs::read_to_string("/proc/sys/kernel/hostname").ok();
    #[cfg(not(target_os = "linux"))]
    let kernel: Option<String> = None;
    kernel
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Process {
        Process {
            pid: 100,
            host: "ci-1".into(),
            space: "boot-a/4026531836".into(),
            start: 5000,
        }
    }

    fn labels(host: &str, owner: &str) -> HashMap<String, String> {
        HashMap::from([
            (LABEL.into(), "0.1.0".into()),
            (LABEL_RUN.into(), "r".into()),
            (LABEL_HOST.into(), host.into()),
            (LABEL_OWNER.into(), owner.into()),
        ])
    }

    #[test]
    fn malformed_owners_cannot_be_judged() {
        for owner in ["", "42", "42:x:boot-a/4026531836", "x:1:boot-a/4026531836"] {
            let l = labels("ci-1", owner);
            assert!(
                matches!(judge(&l, &me(), |_, _| false), Owner::Unknown { .. }),
                "{owner}"
            );
        }
    }

    #[test]
    fn a_gone_process_of_this_machine_is_dead() {
        let l = labels("ci-1", "42:777:boot-a/4026531836");
        assert_eq!(judge(&l, &me(), |_, _| false), Owner::Dead { pid: 42 });
        assert_eq!(judge(&l, &me(), |_, _| true), Owner::Alive { pid: 42 });
    }

    #[test]
    fn the_start_time_tells_a_reused_pid_apart() {
        let l = labels("ci-1", "42:777:boot-a/4026531836");
        let alive = |pid, start| pid == 42 && start == 999;
        assert_eq!(judge(&l, &me(), alive), Owner::Dead { pid: 42 });
    }

    #[test]
    fn runs_from_elsewhere_cannot_be_judged() {
        // Another container on the same kernel (other PID namespace), and an earlier boot.
        for owner in ["42:777:boot-a/4026532000", "42:777:boot-b/4026531836"] {
            let l = labels("ci-2", owner);
            assert_eq!(
                judge(&l, &me(), |_, _| false),
                Owner::Unknown {
                    host: "ci-2".into()
                }
            );
        }
        // An fclayer that wrote no process labels.
        let mut l = labels("ci-1", "x");
        l.remove(LABEL_OWNER);
        assert!(matches!(
            judge(&l, &me(), |_, _| false),
            Owner::Unknown { .. }
        ));
        // Off Linux nothing can be judged.
        let blind = Process {
            space: String::new(),
            ..me()
        };
        let l = labels("ci-1", "42:777:");
        assert!(matches!(
            judge(&l, &blind, |_, _| false),
            Owner::Unknown { .. }
        ));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_as_alive() {
        let p = Process::current();
        assert!(!p.space.is_empty(), "no /proc?");
        assert!(process_alive(p.pid, p.start));
        assert!(!process_alive(p.pid, p.start + 1));
        let l = labels(&p.host, &p.label());
        assert_eq!(judge(&l, &p, process_alive), Owner::Alive { pid: p.pid });
    }
}
