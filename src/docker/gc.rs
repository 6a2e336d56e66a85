//! Leftovers of runs that could not clean up after themselves: a run killed with SIGKILL, a crash,
//! an engine that went away mid-run and came back. Every container and temporary image a run
//! creates carries labels naming the process that made it, so `fclayer gc` (and the start of every
//! build) can tell a live run's objects from a dead run's.
//!
//! A run is judged *dead* only when it ran on this machine in this PID namespace (same kernel
//! boot id, same namespace) and its process is gone: the pid no longer exists, or now belongs to a
//! process that started at another time. A run from anywhere else (another host sharing the
//! engine, another container, an earlier boot) cannot be judged from here, so it is kept unless
//! `--all` asks for everything labelled. Build images (`fclayer/build-*`) are a cache, not litter: they
//! carry no run label and are never touched.

use std::collections::HashMap;

use bollard::query_parameters::{ListContainersOptions, ListImagesOptions};

use super::{Engine, LABEL, LABEL_HOST, LABEL_OWNER, cleanup};
use crate::error::Result;

/// Repository of the images a Dockerfile-mode run builds (one tag per run).
pub const TMP_REPO: &str = "fclayer-tmp";

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

/// One object gc removed or kept.
#[derive(Clone, Debug)]
pub struct Item {
    /// "container 1a2b3c4d5e6f" or "image fclayer-tmp/...".
    pub what: String,
    pub owner: Owner,
}

/// What a gc pass did.
#[derive(Debug, Default)]
pub struct Report {
    pub removed: Vec<Item>,
    /// Objects of live runs, or of runs that cannot be judged from here (without `--all`).
    pub kept: Vec<Item>,
    pub errors: Vec<String>,
}

impl Engine {
    /// Remove the containers and images of dead runs; with `all`, of every run (a live one then
    /// fails). Build images are never touched: they carry no owner.
    pub async fn collect_garbage(&self, all: bool) -> Result<Report> {
        let me = Process::current();
        let mut report = Report::default();
        let decide = |labels: &HashMap<String, String>| {
            let owner = judge(labels, &me, process_alive);
            let remove = all || matches!(owner, Owner::Dead { .. });
            (owner, remove)
        };

        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(HashMap::from([("label".into(), vec![LABEL.into()])])),
                ..Default::default()
            }))
            .await
            .map_err(|e| self.lost(&e))?;
        for c in containers {
            let Some(id) = c.id else { continue };
            let (owner, remove) = decide(&c.labels.unwrap_or_default());
            let item = Item {
                what: format!("container {}", &id[..id.len().min(12)]),
                owner,
            };
            if !remove {
                report.kept.push(item);
                continue;
            }
            match cleanup::remove_container(self, &id).await {
                Ok(()) => report.removed.push(item),
                Err(e) => report.errors.push(format!("{}: {e}", item.what)),
            }
        }

        // Images of runs: the temporary tag of a Dockerfile build, and the untagged images its
        // run-specific label steps left (those carry the owner label too). Intermediate images
        // are listed (`all`), or a chain's inner links would never be seen.
        let mut images = Vec::new();
        for filter in [
            ("label", LABEL_OWNER.to_string()),
            ("reference", format!("{TMP_REPO}/*")),
        ] {
            let list = self
                .docker
                .list_images(Some(ListImagesOptions {
                    all: true,
                    filters: Some(HashMap::from([(filter.0.to_string(), vec![filter.1])])),
                    ..Default::default()
                }))
                .await
                .map_err(|e| self.lost(&e))?;
            images.extend(list);
        }
        images.sort_by(|a, b| a.id.cmp(&b.id));
        images.dedup_by(|a, b| a.id == b.id);
        let mut doomed = Vec::new();
        for image in &images {
            let (owner, remove) = decide(&image.labels);
            let tags: Vec<&String> = image
                .repo_tags
                .iter()
                .filter(|t| !t.starts_with("<none>"))
                .collect();
            let what = match tags.first() {
                Some(tag) => format!("image {tag}"),
                None => format!("image {}", short_image_id(&image.id)),
            };
            let item = Item { what, owner };
            if remove {
                doomed.push((image.id.clone(), item));
            } else {
                report.kept.push(item);
            }
        }
        let ids: Vec<String> = doomed.iter().map(|(id, _)| id.clone()).collect();
        let failed = cleanup::remove_images(self, ids).await;
        for (id, item) in doomed {
            match failed.iter().find(|(f, _)| *f == id) {
                Some((_, e)) => report.errors.push(format!("{}: {e}", item.what)),
                None => report.removed.push(item),
            }
        }
        Ok(report)
    }
}

fn short_image_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

/// Whether process `pid` exists here and started at `start` (clock ticks after boot).
pub fn process_alive(pid: u32, start: u64) -> bool {
    start_time(pid) == Some(start)
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks after boot.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The kernel's boot id and this process's PID namespace; pids compare only within one.
fn pid_space() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let ns = ns.to_string_lossy();
    let ns = ns.trim_start_matches("pid:[").trim_end_matches(']');
    Some(format!("{}/{ns}", boot.trim()))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
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

    use crate::docker::LABEL_RUN;

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
