//! Leftovers of runs that could not clean up after themselves: a run killed with SIGKILL, a crash,
//! an engine that went away mid-run and came back. Every container and temporary image a run
//! creates carries labels naming the process that made it, so `fclayer gc` (and the start of every
//! build) can tell a live run's objects from a dead run's.
//!
//! Whether a run is dead is `owner`'s judgement (this machine, this PID namespace, the process
//! gone). A run from anywhere else (another host sharing the engine, another container, an earlier
//! boot) cannot be judged from here, so it is kept unless `--all` asks for everything labelled.
//! Build images (`fclayer/build-*`) are a cache, not litter: they carry no run label and are never
//! touched.

use std::collections::HashMap;

use bollard::models::ImageSummary;
use bollard::query_parameters::{ListContainersOptions, ListImagesOptions};

pub use super::owner::Owner;
use super::owner::{LABEL, LABEL_OWNER, Process, judge, process_alive};
use super::{Engine, short_id};
use crate::error::Result;

/// Repository of the images a Dockerfile-mode run builds (one tag per run).
pub const TMP_REPO: &str = "fclayer-tmp";

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
        let decide = |labels: &HashMap<String, String>| {
            let owner = judge(labels, &me, process_alive);
            let remove = all || matches!(owner, Owner::Dead { .. });
            (owner, remove)
        };
        let mut report = Report::default();
        self.collect_containers(&decide, &mut report).await?;
        self.collect_images(&decide, &mut report).await?;
        Ok(report)
    }

    /// The containers: every one carrying fclayer's label.
    async fn collect_containers(
        &self,
        decide: &impl Fn(&HashMap<String, String>) -> (Owner, bool),
        report: &mut Report,
    ) -> Result<()> {
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
                what: format!("container {}", short_id(&id)),
                owner,
            };
            if !remove {
                report.kept.push(item);
                continue;
            }
            match self.remove_container(&id).await {
                Ok(()) => report.removed.push(item),
                Err(e) => report.errors.push(format!("{}: {e}", item.what)),
            }
        }
        Ok(())
    }

    /// The images of runs: the temporary tag of a Dockerfile build, and the untagged images its
    /// run-specific label steps left (those carry the owner label too).
    async fn collect_images(
        &self,
        decide: &impl Fn(&HashMap<String, String>) -> (Owner, bool),
        report: &mut Report,
    ) -> Result<()> {
        let mut doomed = Vec::new();
        for image in &self.run_images().await? {
            let (owner, remove) = decide(&image.labels);
            let tags: Vec<&String> = image
                .repo_tags
                .iter()
                .filter(|t| !t.starts_with("<none>"))
                .collect();
            let what = match tags.first() {
                Some(tag) => format!("image {tag}"),
                None => format!("image {}", short_id(&image.id)),
            };
            let item = Item { what, owner };
            if remove {
                doomed.push((image.id.clone(), item));
            } else {
                report.kept.push(item);
            }
        }
        let ids: Vec<String> = doomed.iter().map(|(id, _)| id.clone()).collect();
        let failed = self.remove_images(ids).await;
        for (id, item) in doomed {
            match failed.iter().find(|(f, _)| *f == id) {
                Some((_, e)) => report.errors.push(format!("{}: {e}", item.what)),
                None => report.removed.push(item),
            }
        }
        Ok(())
    }

    /// Images carrying an owner label or the temporary repository, each once. Intermediate
    /// images are listed (`all`), or a chain's inner links would never be seen.
    async fn run_images(&self) -> Result<Vec<ImageSummary>> {
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
        Ok(images)
    }
}
