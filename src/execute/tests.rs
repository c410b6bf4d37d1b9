//! A third kind of stage, defined here in one file, classified and run by the same pipeline
//! as `ctl` and step-package stages: the proof that a new kind needs nothing else.

use super::kind::{Kind, Stage, classify};
use super::record::{Attempt, StageRun, run_stage};
use crate::events::{Direction, Outcome};
use crate::fsutil::{DirEntries, is_regular};
use crate::plan::Decision;
use crate::scheduler::Sink;
use crate::state::StageState;

/// A stage dir holding `touch.txt`: `up` copies it to `$OUTPUT_DIR/<stage>/touched.txt`,
/// `down` removes that.
struct Touch;

impl Kind for Touch {
    fn marker(&self) -> &'static str {
        "a 'touch.txt'"
    }

    fn claims(&self, dir: &DirEntries<'_>) -> Result<bool, String> {
        Ok(dir.mode("touch.txt").is_some_and(is_regular))
    }

    fn up(&self, stage: &Stage<'_>, decision: Decision, sink: &Sink<'_>) -> Outcome {
        let Some(why) = decision.reason.clone() else { return Outcome::UpToDate };
        let record = |state: &mut StageState| decision.record_up(state);
        let run = StageRun {
            stage: stage.name(),
            direction: Direction::Up,
            previous: decision.previous.clone(),
            why,
            on_success: &record,
        };
        let out = stage.project.wave.output_dir.join(stage.name());
        run_stage(stage.project, run, sink, |_log| {
            let copied = std::fs::create_dir_all(&out)
                .and_then(|()| std::fs::copy(stage.dir().join("touch.txt"), out.join("touched.txt")));
            Attempt::Finished { result: copied.map(|_| ()).map_err(|e| e.to_string()), exit_code: None }
        })
    }

    fn down(&self, stage: &Stage<'_>, run: StageRun<'_>, sink: &Sink<'_>) -> Outcome {
        let out = stage.project.wave.output_dir.join(stage.name()).join("touched.txt");
        run_stage(stage.project, run, sink, |_log| Attempt::Finished {
            result: std::fs::remove_file(&out).map_err(|e| e.to_string()),
            exit_code: None,
        })
    }
}

static WITH_TOUCH: [&dyn Kind; 3] = [&super::ctl::Ctl, &super::step::StepPackage, &Touch];

#[test]
fn a_third_kind_is_one_file_and_runs_in_the_same_pipeline() {
    let root = tempfile::tempdir().unwrap();
    let impl_dir = root.path().join("impl");
    let write = |rel: &str, text: &str| {
        let path = impl_dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    write("betterform_dag.mk", "$(call define_stage, note, )\n");
    write("note/touch.txt", "region {{ cfg.region }}\n");
    // The wave is read from the environment; these tests set nothing there, so GENFILES and
    // OUTPUT_DIR are relative to the working directory: point them into the temp dir.
    let wave = crate::wave::Wave {
        genfiles: root.path().join("genfiles"),
        output_dir: root.path().join("output"),
        config_json_file: root.path().join("genfiles/config.json"),
        ..crate::wave::Wave::from_env(Some(&impl_dir)).unwrap()
    };
    let dag = crate::graph::Dag::parse(&wave.dag_file(), "$(call define_stage, note, )\n").unwrap();
    let kinds = vec![classify(&WITH_TOUCH, &DirEntries::at(&wave.template_dir("note"))).unwrap()];
    assert_eq!(kinds, [2], "Touch claims the dir");
    assert!(
        classify(&super::KINDS, &DirEntries::at(&wave.template_dir("note")))
            .unwrap_err()
            .contains("has neither")
    );
    let state = crate::state::StateStore::new(&wave, vec!["note".into()]);
    let project = crate::project::Project { wave, dag, kinds, state, graph: Default::default() };
    let options = super::RunOptions {
        jobs: 1,
        keep_going: false,
        force: false,
        only: false,
        grace: std::time::Duration::from_secs(1),
        stage_timeout: None,
        display: crate::report::Display::Stream,
        report: None,
        junit: None,
        timings: super::TimingsPage::Off,
        delimiters: crate::stamp::Delimiters { left: "{{".into(), right: "}}".into() },
        jsonnet: crate::config::JsonnetArgs {
            jpath: Vec::new(),
            ext: Vec::new(),
            tla: Vec::new(),
            max_stack: 500,
        },
        terminals: false,
    };
    let config = crate::config::Config {
        value: serde_json::json!({ "region": "eu-north-1" }),
        text: "{\"region\": \"eu-north-1\"}\n".into(),
        origin: crate::config::Origin::JsonFile,
    };
    let index = crate::stamp::Index::open(&project.wave.state_dir());
    super::up(&project, &options, &WITH_TOUCH, &config, (index, &[true])).unwrap();
    let touched = root.path().join("output/note/touched.txt");
    assert_eq!(std::fs::read_to_string(&touched).unwrap(), "region eu-north-1\n", "stamped, then run");
    assert_eq!(project.state.load("note").unwrap().status, crate::state::Status::Up);
    super::down(&project, &options, &WITH_TOUCH, &config.value, &[true]).unwrap();
    assert!(!touched.exists());
    assert_eq!(project.state.load("note").unwrap().status, crate::state::Status::Down);
}
