//! `export`: a CI pipeline (GitHub Actions or GitLab CI) that runs the DAG as one job per
//! stage, `needs:` mirroring the DAG (reversed for `down`), each job running
//! `betterform up --only <stage>`. The CI system is the distributed engine; betterform only
//! describes the work. Output is deterministic (DAG order) so it can be committed and diffed.
//!
//! Stage outputs travel as artifacts. Each job uploads the whole `OUTPUT_DIR` as it stands
//! after the stage, its own outputs plus the upstream ones it received, with betterform's
//! records. Downloading its direct dependencies' artifacts therefore gives an up job every
//! transitive upstream output and this run's records of them, while `needs:` lists exactly the
//! DAG's edges.
//!
//! A GitLab pipeline is a parent and a child in one file: the parent's lock job holds the
//! deployment's resource group and runs the file again as its child pipeline, where every
//! stage's job is (`rules:` on `$CI_PIPELINE_SOURCE` tell the two apart). GitHub's workflow
//! `concurrency` does the same in one line.
//!
//! Between pipeline runs each stage keeps two entries in the CI cache (see [`Saved`]), both
//! saved by each of its jobs: its own state (its `OUTPUT_DIR/<stage>/` and its record), which
//! its up job restores, and the whole `OUTPUT_DIR` it last ran with (and its record), which its
//! down job restores. An up job never restores other stages' outputs from the cache:
//! they come fresh from this run's artifacts, so a file an upstream stage stopped writing cannot
//! come back from an older run. Down jobs download no artifacts (`needs:` only orders them).
//!
//! Each job also uploads its stage's timings (`$GENFILES/.betterform/timings/`: the run's
//! record `latest.json` and its `--timings` page) as an artifact of its own, `timings-<job>`
//! on GitHub Actions (no job downloads it) and beside the outputs on GitLab CI, where a job
//! first drops the upstream timings its `needs:` brought, so it uploads only its own.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::cli::{ExportFor, ExportFormat, ExportTrigger, Global};
use crate::error::Error;
use crate::graph::{Dag, StageId};

/// A YAML single-quoted scalar: the only escape is `''`.
fn q(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// A job id that both systems accept and that can't collide with a reserved word.
fn job_id(prefix: &str, stage: &str) -> String {
    let safe: String = stage
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .collect();
    format!("{prefix}-{safe}")
}

/// The repository root: the nearest ancestor holding `.git`, where CI checks out.
fn workspace_root(cwd: &Path) -> PathBuf {
    cwd.ancestors().find(|dir| dir.join(".git").exists()).unwrap_or(cwd).to_path_buf()
}

fn relative(path: &Path, base: &Path) -> Result<String, Error> {
    let rel = pathdiff::diff_paths(path, base).ok_or_else(|| {
        Error::Usage(format!("cannot express {} relative to {}", path.display(), base.display()))
    })?;
    Ok(if rel.as_os_str().is_empty() { ".".into() } else { rel.display().to_string() })
}

/// GitLab refuses a job with more `needs:` than this (its default `ci_max_needs`).
const GITLAB_MAX_NEEDS: usize = 50;

/// The choices of `export` beyond format and direction.
pub(crate) struct Options {
    /// A shell command each job runs first to install betterform.
    pub(crate) setup: Option<String>,
    /// GitLab CI: the pipeline sources that may start it (empty: web, api, schedule).
    pub(crate) trigger: Vec<ExportTrigger>,
    /// GitLab CI: the image jobs run in.
    pub(crate) image: Option<String>,
    /// The deployment's name (default: its dir relative to the repository root).
    pub(crate) name: Option<String>,
    /// Up: the publishing job commits the final `OUTPUT_DIR` back.
    pub(crate) commit_outputs: bool,
    /// GitLab CI: where the pipeline is committed (default `.gitlab-ci.yml`).
    pub(crate) ci_file: Option<String>,
}

/// GitLab CI: the one job of the parent pipeline besides [`CONFIRM_JOB`]. It holds the
/// deployment's resource group while the child pipeline (the same file, every stage's job)
/// runs: GitLab's pipeline-level lock.
const LOCK_JOB: &str = "betterform";

/// GitLab CI: the rule of the parent pipeline's jobs, and that of the child's.
const PARENT: &str = "$CI_PIPELINE_SOURCE != \"parent_pipeline\"";
const CHILD: &str = "$CI_PIPELINE_SOURCE == \"parent_pipeline\"";

/// The manual job a GitLab down pipeline waits on before it tears anything down.
const CONFIRM_JOB: &str = "confirm-down";

/// The job that publishes the final `OUTPUT_DIR` of an up pipeline as one artifact.
const OUTPUTS_JOB: &str = "outputs";

/// What a job runs first without `--setup`: fail at once, saying how to get betterform.
const CHECK_BETTERFORM: &str = "command -v betterform >/dev/null || { echo 'betterform is not on PATH: use an image that has it or export with --setup CMD (e.g. --setup \"cargo install --locked betterform\")' >&2; exit 127; }";

fn trigger_source(trigger: ExportTrigger) -> &'static str {
    match trigger {
        ExportTrigger::Web => "web",
        ExportTrigger::Api => "api",
        ExportTrigger::Schedule => "schedule",
        ExportTrigger::Trigger => "trigger",
        ExportTrigger::Push => "push",
    }
}

/// A name GitLab accepts as a resource group (letters, digits, `-`, `_`, `/`, `.`).
fn resource_name(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.') { c } else { '_' })
        .collect()
}

/// A stage's entries in the CI cache. Every job of the stage saves both; a job restores one,
/// so no two restores overlap and their order cannot matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Saved {
    /// Its own `OUTPUT_DIR/<stage>/` and record: what its up job restores (upstream outputs
    /// come from this run's artifacts).
    State,
    /// The whole `OUTPUT_DIR` as its last job left it (its own outputs and the upstream ones it
    /// went up with) and its record: what its down job stamps and runs `down` from.
    Seen,
}

impl Saved {
    fn as_str(self) -> &'static str {
        match self {
            Saved::State => "state",
            Saved::Seen => "seen",
        }
    }

    fn restore_step(self) -> &'static str {
        match self {
            Saved::State => "restore the stage's latest state",
            Saved::Seen => "restore the outputs it last ran with",
        }
    }

    fn save_step(self) -> &'static str {
        match self {
            Saved::State => "save the stage's state",
            Saved::Seen => "save the outputs it ran with",
        }
    }
}

/// A job's `rules:`: it runs when `condition` holds, with the rule's `extra` lines.
fn gitlab_rules(condition: &str, extra: &str) -> String {
    format!("  rules:\n    - if: {}\n{extra}", q(condition))
}

/// Paths of a GitHub cache step: a block scalar (in a quoted one a single line break folds
/// into a space).
fn github_paths(paths: &[String]) -> String {
    let lines: String = paths.iter().map(|p| format!("\n            {p}")).collect();
    format!("|{lines}")
}

struct Pipeline<'a> {
    dag: &'a Dag,
    direction: ExportFor,
    ids: Vec<String>,
    /// The deployment dir, relative to the workspace root.
    workdir: String,
    /// IMPL_DIR, relative to the deployment dir.
    impl_dir: String,
    /// OUTPUT_DIR relative to the workspace root (artifact paths are).
    output_dir: String,
    /// The timings dir relative to the workspace root (artifact paths) and to the deployment
    /// dir (job commands); `None` when GENFILES is outside the workspace.
    timings_dir: Option<(String, String)>,
    /// betterform's records (`$GENFILES/.betterform/state`) relative to the workspace root;
    /// `None` when GENFILES is outside the workspace.
    records_dir: Option<String>,
    setup: Option<String>,
    /// The deployment's name, for workflow names, concurrency and resource groups.
    name: String,
    triggers: Vec<ExportTrigger>,
    image: Option<String>,
    commit_outputs: bool,
    /// GitLab CI: the pipeline's own path from the repository root.
    ci_file: String,
}

impl Pipeline<'_> {
    /// The stages no other stage depends on: their artifacts hold, together, every output.
    fn sinks(&self) -> Vec<StageId> {
        self.dag.order().iter().copied().filter(|&s| self.dag.dependents(s).is_empty()).collect()
    }

    /// The shell lines that commit `OUTPUT_DIR` back to the branch, from the repository root.
    fn commit_lines(&self, push: &str) -> Vec<String> {
        vec![
            "git config user.name 'betterform'".into(),
            "git config user.email 'betterform@users.noreply.github.com'".into(),
            format!("git add -f -- '{}'", self.output_dir),
            format!(
                "git diff --cached --quiet || {{ git commit -m 'betterform up ({}): outputs [skip ci]' && {push}; }}",
                self.name
            ),
        ]
    }

    /// What a job waits for: dependencies for `up`, dependents for `down`.
    fn needs(&self, stage: StageId) -> &[StageId] {
        match self.direction {
            ExportFor::Up => self.dag.deps(stage),
            ExportFor::Down => self.dag.dependents(stage),
        }
    }

    /// Jobs in a stable order that respects `needs:` (readers expect it, diffs stay small).
    fn order(&self) -> Vec<StageId> {
        match self.direction {
            ExportFor::Up => self.dag.order().to_vec(),
            ExportFor::Down => self.dag.order().iter().rev().copied().collect(),
        }
    }

    /// The commands one job runs, from the deployment dir.
    fn commands(&self, stage: StageId) -> Vec<String> {
        let name = self.dag.name(stage);
        match self.direction {
            ExportFor::Up => vec![format!("betterform up --only {name} --timings")],
            // A fresh job has no stamped dir to run `down` from: stamp it first (outputs of
            // dependencies come from the checked-in OUTPUT_DIR).
            ExportFor::Down => {
                vec![
                    format!("betterform stamp --only {name}"),
                    format!("betterform down --only --yes {name} --timings"),
                ]
            }
        }
    }

    /// The paths of a stage's cache entry `saved`.
    fn saved_paths(&self, stage: StageId, saved: Saved) -> Vec<String> {
        let name = self.dag.name(stage);
        let mut paths = vec![match saved {
            Saved::State => format!("{}/{name}/", self.output_dir),
            Saved::Seen => format!("{}/", self.output_dir),
        }];
        if let Some(records) = &self.records_dir {
            paths.push(format!("{records}/{name}.json"));
        }
        paths
    }

    /// The key of a stage's cache entry `saved`, shared by the up and down pipelines of a
    /// deployment. `@` never appears in a stage name nor in [`Self::key_name`], so no key is
    /// a prefix of another stage's (GitHub restores by prefix).
    fn cache_key(&self, stage: StageId, saved: Saved) -> String {
        format!("betterform@{}@{}@{}", self.key_name(), self.dag.name(stage), saved.as_str())
    }

    /// A GitHub cache entry's key in this run: entries are never overwritten, so each run saves
    /// its own and a restore takes the newest of the stage's prefix.
    fn github_run_key(&self, stage: StageId, saved: Saved) -> String {
        format!("{}@${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}", self.cache_key(stage, saved))
    }

    /// The deployment's name as a cache key part: no `@`, and no `/`, which GitLab refuses.
    fn key_name(&self) -> String {
        resource_name(&self.name).replace(['/', '@'], "_")
    }

    /// The cache entries a job uses, with GitLab's policy: `pull` restores, `push` saves. The
    /// one restored comes first (gitlab-ci-local, unlike GitLab, stops at the first entry
    /// whose policy does not match).
    fn caches(&self) -> &'static [(Saved, &'static str)] {
        match self.direction {
            ExportFor::Up => &[(Saved::State, "pull-push"), (Saved::Seen, "push")],
            ExportFor::Down => &[(Saved::Seen, "pull-push"), (Saved::State, "push")],
        }
    }

    fn restores(&self) -> impl Iterator<Item = Saved> {
        self.caches().iter().filter(|(_, policy)| policy.starts_with("pull")).map(|&(saved, _)| saved)
    }

    fn saves(&self) -> impl Iterator<Item = Saved> {
        self.caches().iter().filter(|(_, policy)| policy.ends_with("push")).map(|&(saved, _)| saved)
    }

    fn verb(&self) -> &'static str {
        match self.direction {
            ExportFor::Up => "up",
            ExportFor::Down => "down",
        }
    }

    fn header(&self, format: &str) -> String {
        format!(
            "# Generated by `betterform export --format {format} --for {}`: regenerate it, don't edit it.\n",
            self.verb()
        )
    }

    fn github(&self) -> String {
        let mut y = self.header("github-actions");
        y += &format!("name: {}\n", q(&format!("betterform {} ({})", self.verb(), self.name)));
        y += "on:\n  workflow_dispatch: {}\n";
        y += "env:\n";
        y += "  INTERACTIVE: 'false'\n";
        y += &format!("  IMPL_DIR: {}\n", q(&self.impl_dir));
        // One pipeline at a time per deployment: the run lock of one machine, across jobs.
        y += &format!(
            "concurrency:\n  group: {}\n  cancel-in-progress: false\n",
            q(&format!("betterform-{}", self.name))
        );
        y += "jobs:\n";
        for stage in self.order() {
            let name = self.dag.name(stage);
            let id = &self.ids[stage];
            y += &format!("  {id}:\n    name: {}\n    runs-on: ubuntu-latest\n", q(name));
            let needs: Vec<&str> = self.needs(stage).iter().map(|&n| self.ids[n].as_str()).collect();
            if !needs.is_empty() {
                y += &format!("    needs: [{}]\n", needs.join(", "));
            }
            y += &format!("    defaults:\n      run:\n        working-directory: {}\n", q(&self.workdir));
            y += "    steps:\n      - uses: actions/checkout@v4\n";
            match &self.setup {
                Some(setup) => y += &format!("      - name: install betterform\n        run: {}\n", q(setup)),
                None => {
                    y += &format!("      - name: check betterform\n        run: {}\n", q(CHECK_BETTERFORM))
                }
            }
            for saved in self.restores() {
                y += &format!(
                    "      - name: {}\n        uses: actions/cache/restore@v4\n        with:\n          path: {}\n          key: {}\n          restore-keys: {}\n",
                    q(saved.restore_step()),
                    github_paths(&self.saved_paths(stage, saved)),
                    q(&self.github_run_key(stage, saved)),
                    q(&format!("{}@", self.cache_key(stage, saved)))
                );
            }
            // Down jobs need no artifacts: what a stage went down from is in its cache.
            let downloads = if self.direction == ExportFor::Up { self.needs(stage) } else { &[] };
            for &dep in downloads {
                y += &self.github_download(dep);
            }
            for command in self.commands(stage) {
                y += &format!("      - name: {}\n        run: {}\n", q(&command), q(&command));
            }
            y += &format!(
                "      - name: {}\n        if: always()\n        uses: actions/upload-artifact@v4\n        with:\n          name: {}\n          path: {}\n          if-no-files-found: ignore\n          include-hidden-files: true\n",
                q("upload outputs"),
                q(&format!("outputs-{id}")),
                github_paths(&self.artifact_paths())
            );
            for saved in self.saves() {
                y += &format!(
                    "      - name: {}\n        if: always()\n        uses: actions/cache/save@v4\n        with:\n          path: {}\n          key: {}\n",
                    q(saved.save_step()),
                    github_paths(&self.saved_paths(stage, saved)),
                    q(&self.github_run_key(stage, saved))
                );
            }
            if let Some((timings, _)) = &self.timings_dir {
                y += &format!(
                    "      - name: {}\n        if: always()\n        uses: actions/upload-artifact@v4\n        with:\n          name: {}\n          path: {}\n          if-no-files-found: ignore\n          include-hidden-files: true\n",
                    q("upload timings"),
                    q(&format!("timings-{id}")),
                    q(&format!("{timings}/"))
                );
            }
        }
        if self.direction == ExportFor::Up {
            y += &self.github_outputs_job();
        }
        y
    }

    /// The final `OUTPUT_DIR` as one artifact, `outputs` (and committed back when asked).
    fn github_outputs_job(&self) -> String {
        let needs: Vec<&str> = self.sinks().iter().map(|&s| self.ids[s].as_str()).collect();
        let mut y = format!("  {OUTPUTS_JOB}:\n    name: 'all outputs'\n    runs-on: ubuntu-latest\n");
        y += &format!("    needs: [{}]\n", needs.join(", "));
        if self.commit_outputs {
            y += "    permissions:\n      contents: write\n";
        }
        y += "    steps:\n      - uses: actions/checkout@v4\n";
        for &sink in &self.sinks() {
            y += &self.github_download(sink);
        }
        y += &format!(
            "      - name: {}\n        uses: actions/upload-artifact@v4\n        with:\n          name: {}\n          path: {}\n          if-no-files-found: ignore\n          include-hidden-files: true\n",
            q("upload all outputs"),
            q(OUTPUTS_JOB),
            q(&format!("{}/", self.output_dir))
        );
        if self.commit_outputs {
            let lines: String =
                self.commit_lines("git push").iter().map(|l| format!("\n          {l}")).collect();
            y += &format!("      - name: 'commit the outputs'\n        run: |{lines}\n");
        }
        y
    }

    /// The step that downloads the artifact of `stage`'s job.
    fn github_download(&self, stage: StageId) -> String {
        format!(
            "      - name: {}\n        uses: actions/download-artifact@v4\n        with:\n          name: {}\n          path: {}\n",
            q(&format!("outputs from {}", self.dag.name(stage))),
            q(&format!("outputs-{}", self.ids[stage])),
            q(&self.artifact_root())
        )
    }

    /// What a stage's job hands on to the jobs that need it: `OUTPUT_DIR`, and betterform's
    /// records, so a job sees its dependencies' records of this run (an upstream stage that
    /// went up again makes its dependents run, as locally).
    fn artifact_paths(&self) -> Vec<String> {
        let mut paths = vec![format!("{}/", self.output_dir)];
        if let Some(records) = &self.records_dir {
            paths.push(format!("{records}/"));
        }
        paths
    }

    /// Where a GitHub artifact of [`Self::artifact_paths`] is rooted: their longest common
    /// ancestor, as `upload-artifact` stores them.
    fn artifact_root(&self) -> String {
        let paths = self.artifact_paths();
        let split: Vec<Vec<&str>> =
            paths.iter().map(|p| p.trim_end_matches('/').split('/').collect()).collect();
        let common: Vec<&str> = (0..split[0].len())
            .map_while(|i| split.iter().all(|parts| parts.get(i) == split[0].get(i)).then(|| split[0][i]))
            .collect();
        if common.is_empty() { ".".into() } else { common.join("/") }
    }

    /// `workflow: rules`: the pipeline starts only from the chosen sources, never by accident,
    /// and its child pipeline from the parent.
    fn gitlab_workflow(&self) -> String {
        let condition: Vec<String> = self
            .triggers
            .iter()
            .map(|&t| format!("$CI_PIPELINE_SOURCE == \"{}\"", trigger_source(t)))
            .chain([CHILD.to_string()])
            .collect();
        format!("workflow:\n  rules:\n    - if: {}\n    - when: never\n", q(&condition.join(" || ")))
    }

    /// The artifacts a job hands on: [`Self::artifact_paths`] (and, for a stage's own job, its
    /// timings).
    fn gitlab_artifacts(&self, timings: bool) -> String {
        let mut y = String::from("  artifacts:\n    when: always\n    paths:\n");
        for path in self.artifact_paths() {
            y += &format!("      - {}\n", q(&path));
        }
        if let (true, Some((timings, _))) = (timings, &self.timings_dir) {
            y += &format!("      - {}\n", q(&format!("{timings}/")));
        }
        y
    }

    /// `needs:`, taking the needed jobs' artifacts or not.
    fn gitlab_needs(needs: &[String], artifacts: bool) -> String {
        if needs.is_empty() {
            return "  needs: []\n".into();
        }
        let mut y = String::from("  needs:\n");
        for need in needs {
            y += &format!("    - job: {}\n      artifacts: {artifacts}\n", q(need));
        }
        y
    }

    /// Keeps a job's `needs:` within GitLab's limit: more than [`GITLAB_MAX_NEEDS`] become
    /// join jobs (no-ops that pass their needs' artifacts on), level by level. Returns the
    /// join jobs' YAML, to print before the job, and the needs the job keeps.
    fn gitlab_joins(&self, owner: &str, mut needs: Vec<String>) -> (String, Vec<String>) {
        let mut y = String::new();
        let mut level = 0;
        while needs.len() > GITLAB_MAX_NEEDS {
            level += 1;
            let mut joined = Vec::new();
            for (k, chunk) in needs.chunks(GITLAB_MAX_NEEDS).enumerate() {
                // `:` never appears in a stage's job id, so a join id can't collide with one.
                let id = format!("join:{owner}:{level}:{k}");
                y += &format!("{}:\n  stage: betterform\n", q(&id));
                y += &gitlab_rules(CHILD, "");
                y += &Self::gitlab_needs(chunk, self.direction == ExportFor::Up);
                y += "  script:\n    - 'true'\n";
                y += &self.gitlab_artifacts(false);
                joined.push(id);
            }
            needs = joined;
        }
        (y, needs)
    }

    fn gitlab(&self) -> String {
        let mut y = self.header("gitlab-ci");
        y += &self.gitlab_workflow();
        // One stage for all jobs: `needs:` alone orders them, exactly as the DAG does.
        y += "stages:\n  - betterform\n";
        y += &format!("variables:\n  INTERACTIVE: 'false'\n  IMPL_DIR: {}\n", q(&self.impl_dir));
        if let Some(image) = &self.image {
            y += &format!("default:\n  image: {}\n", q(image));
        }
        y += &self.gitlab_parent();
        for stage in self.order() {
            let id = &self.ids[stage];
            let needs: Vec<String> = self.needs(stage).iter().map(|&n| self.ids[n].clone()).collect();
            let (joins, needs) = self.gitlab_joins(id, needs);
            y += &joins;
            y += &format!("{id}:\n  stage: betterform\n");
            y += &gitlab_rules(CHILD, "");
            // Two pipelines never apply the same stage of one deployment at once; the DAG's
            // independent stages still run in parallel.
            y += &format!(
                "  resource_group: {}\n",
                q(&resource_name(&format!("betterform/{}/{}", self.name, self.dag.name(stage))))
            );
            y += &Self::gitlab_needs(&needs, self.direction == ExportFor::Up);
            // Restored (in order) before the artifacts of `needs:`; saved even when the stage
            // fails.
            y += "  cache:\n";
            for &(saved, policy) in self.caches() {
                y += &format!(
                    "    - key: {}\n      policy: {policy}\n      when: always\n      paths:\n",
                    q(&self.cache_key(stage, saved))
                );
                for path in self.saved_paths(stage, saved) {
                    y += &format!("        - {}\n", q(&path));
                }
            }
            y += "  script:\n";
            y += &format!("    - cd {}\n", q(&self.workdir));
            match &self.setup {
                Some(setup) => y += &format!("    - {}\n", q(setup)),
                None => y += &format!("    - {}\n", q(CHECK_BETTERFORM)),
            }
            if let (ExportFor::Up, Some((_, from_workdir))) = (self.direction, &self.timings_dir) {
                // The timings of upstream jobs came with their artifacts: upload only this one's.
                y += &format!("    - {}\n", q(&format!("rm -rf {from_workdir}")));
            }
            for command in self.commands(stage) {
                y += &format!("    - {}\n", q(&command));
            }
            y += &self.gitlab_artifacts(true);
        }
        if self.direction == ExportFor::Up {
            y += &self.gitlab_outputs_job();
        }
        y
    }

    /// The parent pipeline: for down, a manual job someone must run first; then [`LOCK_JOB`],
    /// which runs this same file as the child pipeline under the deployment's resource group,
    /// so two pipelines of one deployment (up or down) never run at once.
    fn gitlab_parent(&self) -> String {
        let mut y = String::new();
        let mut needs = Vec::new();
        if self.direction == ExportFor::Down {
            // Tearing down waits for a person: the pipeline blocks until someone runs this job.
            y += &format!("{CONFIRM_JOB}:\n  stage: betterform\n");
            y += &gitlab_rules(PARENT, "      when: manual\n      allow_failure: false\n");
            y += &format!(
                "  needs: []\n  script:\n    - {}\n",
                q(&format!("echo 'tearing down {}'", self.name))
            );
            needs.push(CONFIRM_JOB.to_string());
        }
        y += &format!("{LOCK_JOB}:\n  stage: betterform\n");
        y += &gitlab_rules(PARENT, "");
        y += &Self::gitlab_needs(&needs, false);
        y += &format!("  resource_group: {}\n", q(&resource_name(&format!("betterform/{}", self.name))));
        y +=
            &format!("  trigger:\n    include:\n      - local: {}\n    strategy: depend\n", q(&self.ci_file));
        y
    }

    /// The final `OUTPUT_DIR` as one artifact, `outputs` (and committed back when asked).
    fn gitlab_outputs_job(&self) -> String {
        let needs: Vec<String> = self.sinks().iter().map(|&s| self.ids[s].clone()).collect();
        let (mut y, needs) = self.gitlab_joins(OUTPUTS_JOB, needs);
        y += &format!("{OUTPUTS_JOB}:\n  stage: betterform\n");
        y += &gitlab_rules(CHILD, "");
        y += &Self::gitlab_needs(&needs, true);
        y += "  script:\n";
        if self.commit_outputs {
            let push = "git push \"https://gitlab-ci-token:${BETTERFORM_PUSH_TOKEN}@${CI_SERVER_HOST}/${CI_PROJECT_PATH}.git\" \"HEAD:${CI_COMMIT_REF_NAME}\"";
            for line in self.commit_lines(push) {
                y += &format!("    - {}\n", q(&line));
            }
        } else {
            y += "    - 'true'\n";
        }
        y += &format!(
            "  artifacts:\n    name: {}\n    paths:\n      - {}\n",
            q(OUTPUTS_JOB),
            q(&format!("{}/", self.output_dir))
        );
        y
    }
}

pub(crate) fn export(
    global: &Global,
    format: ExportFormat,
    direction: ExportFor,
    options: Options,
) -> Result<(), Error> {
    let project = crate::execute::load_project(global.impl_dir.as_deref())?;
    let cwd = std::env::current_dir().map_err(|e| Error::Usage(format!("no working directory: {e}")))?;
    let root = workspace_root(&cwd);
    let output_dir = relative(&project.wave.output_dir, &root)?;
    if output_dir.starts_with("..") {
        return Err(Error::Usage(format!(
            "OUTPUT_DIR {} is outside the repository at {}: CI artifacts can't carry it",
            project.wave.output_dir.display(),
            root.display()
        )));
    }
    let impl_from_root = relative(&project.wave.impl_dir, &root)?;
    if impl_from_root.starts_with("..") {
        return Err(Error::Usage(format!(
            "IMPL_DIR {} is outside the repository at {}: a CI job could not check it out",
            project.wave.impl_dir.display(),
            root.display()
        )));
    }
    // Timings are uploaded when they land inside the checkout, as CI's artifact paths must.
    let timings = crate::report::timings::dir(&project.wave.state_dir());
    let timings_dir = match (relative(&timings, &root), relative(&timings, &cwd)) {
        (Ok(from_root), Ok(from_workdir)) if !from_root.starts_with("..") => Some((from_root, from_workdir)),
        _ => None,
    };
    let records = project.wave.state_dir().join("state");
    let records_dir = relative(&records, &root).ok().filter(|r| !r.starts_with(".."));
    let prefix = match direction {
        ExportFor::Up => "up",
        ExportFor::Down => "down",
    };
    let mut ids: Vec<String> = Vec::new();
    let mut taken = BTreeSet::new();
    for stage in 0..project.dag.len() {
        let mut id = job_id(prefix, project.dag.name(stage));
        // Two names that sanitize alike (`a.b`, `a_b`) still get distinct jobs.
        while !taken.insert(id.clone()) {
            id.push('_');
        }
        ids.push(id);
    }
    if format == ExportFormat::GithubActions && (options.image.is_some() || !options.trigger.is_empty()) {
        return Err(Error::Usage(
            "--image and --trigger apply to --format gitlab-ci (a GitHub workflow starts by workflow_dispatch only)"
                .into(),
        ));
    }
    if format == ExportFormat::GithubActions && options.ci_file.is_some() {
        return Err(Error::Usage("--ci-file applies to --format gitlab-ci".into()));
    }
    let ci_file = options.ci_file.unwrap_or_else(|| ".gitlab-ci.yml".into());
    if ci_file.is_empty() || Path::new(&ci_file).is_absolute() || ci_file.split('/').any(|part| part == "..")
    {
        return Err(Error::Usage(format!(
            "--ci-file {ci_file:?}: give the pipeline's path from the repository root, inside it"
        )));
    }
    if options.commit_outputs && direction == ExportFor::Down {
        return Err(Error::Usage("--commit-outputs applies to --for up".into()));
    }
    if options.setup.is_none() {
        eprintln!(
            "warning: no --setup: each job needs betterform on the runner's PATH (an image that has it{}); a job without it fails at once",
            if format == ExportFormat::GitlabCi { ", --image" } else { "" }
        );
    }
    let workdir = relative(&cwd, &root)?;
    let name = options.name.unwrap_or_else(|| {
        if workdir == "." {
            root.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "deployment".into())
        } else {
            workdir.clone()
        }
    });
    let mut triggers = options.trigger;
    if triggers.is_empty() {
        triggers = vec![ExportTrigger::Web, ExportTrigger::Api, ExportTrigger::Schedule];
    }
    triggers.sort();
    triggers.dedup();
    let pipeline = Pipeline {
        dag: &project.dag,
        direction,
        ids,
        workdir,
        impl_dir: relative(&project.wave.impl_dir, &cwd)?,
        output_dir,
        timings_dir,
        records_dir,
        setup: options.setup,
        name,
        triggers,
        image: options.image,
        commit_outputs: options.commit_outputs,
        ci_file,
    };
    let text = match format {
        ExportFormat::GithubActions => pipeline.github(),
        ExportFormat::GitlabCi => pipeline.gitlab(),
    };
    let _ = std::io::stdout().write_all(text.as_bytes());
    Ok(())
}
