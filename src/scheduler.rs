//! The scheduler: starts a stage as soon as everything it waits for has finished, at most
//! `--jobs` at once; after a failure either stops starting stages (default) or keeps going
//! with stages that do not depend on the failure (`-k`). Dependents of a failure never run.
//!
//! The same loop drives `up` (a stage waits for its dependencies) and `down` (a stage waits
//! for its dependents). A pool of `--jobs` worker threads shares one board of ready stages:
//! a worker that finishes a stage takes the next one itself. Workers report through one
//! channel; the calling thread is the only one that talks to the reporter, so output is never
//! interleaved mid-line, and it handles signals.

use std::collections::BTreeSet;
use std::sync::{Condvar, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::events::{Direction, Outcome, Reporter, Result, Stop};
use crate::graph::{Dag, StageId};
use crate::process::{Groups, Keyboard, TimeLimit};

#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) jobs: usize,
    pub(crate) keep_going: bool,
    /// How long stages get to stop after a forwarded SIGINT/SIGTERM before SIGKILL.
    pub(crate) grace: Duration,
    /// An interactive parallel run: stages get terminals of their own and share the
    /// operator's keyboard (see `process::Keyboard`).
    pub(crate) keyboard: bool,
    /// How long each stage's command may run (by stage id; `--stage-timeout` or the stage's
    /// own limit). Empty: no limits.
    pub(crate) time_limits: Vec<Option<TimeLimit>>,
    /// The stages known up to date before the run starts (by stage id; empty: none), told so
    /// in order without a worker. A stage counts only if everything it waits for in the run
    /// is settled too: a stage that still runs could change what it sees.
    pub(crate) settled: Vec<bool>,
}

/// What a run produced: each member's result, and why it stopped early, if it did.
pub(crate) struct Run {
    pub(crate) results: Vec<Option<Result>>,
    pub(crate) stop: Option<Stop>,
}

/// A worker's handle for reporting output lines of its stage.
pub(crate) struct Sink<'g> {
    stage: StageId,
    tx: mpsc::Sender<Event>,
    groups: &'g Groups,
    keyboard: Option<&'g Keyboard>,
    time_limit: Option<&'g TimeLimit>,
}

impl Sink<'_> {
    /// Where the stage's process group must be registered (see [`crate::process::run`]).
    pub(crate) fn groups(&self) -> &Groups {
        self.groups
    }

    /// How long the stage's command may run.
    pub(crate) fn time_limit(&self) -> Option<TimeLimit> {
        self.time_limit.cloned()
    }

    pub(crate) fn interrupted(&self) -> bool {
        self.groups.interrupted()
    }

    /// The run's keyboard, in an interactive parallel run, and this stage's id for it.
    pub(crate) fn keyboard(&self) -> Option<(&Keyboard, StageId)> {
        self.keyboard.map(|k| (k, self.stage))
    }

    /// Shows an output line of the stage, secrets masked; returns the line as shown.
    pub(crate) fn line(&self, text: &str) -> String {
        let text = crate::mask::mask(text).into_owned();
        let _ = self.tx.send(Event::Line { stage: self.stage, text: text.clone() });
        text
    }

    /// A message from betterform itself about the stage (stamping, skipping, ...).
    pub(crate) fn note(&self, text: &str) {
        let _ = self.tx.send(Event::Note { stage: self.stage, text: crate::mask::mask(text).into_owned() });
    }
}

enum Event {
    Line {
        stage: StageId,
        text: String,
    },
    Note {
        stage: StageId,
        text: String,
    },
    Started(StageId),
    Done {
        stage: StageId,
        outcome: Outcome,
        duration: Duration,
    },
    /// A message about the whole run from elsewhere than the scheduler (the keyboard).
    Message(String),
    WorkerExited,
    Signal(i32),
    GraceExpired,
}

/// When a stage ran: its start, how long it took, and how long it waited for a slot before.
#[derive(Debug, Clone, Copy)]
struct Span {
    started: SystemTime,
    duration: Duration,
    waited: Duration,
}

/// Reports a worker's end when dropped. A worker that panicked stops the run first: its stage
/// never completes, so the other workers would otherwise wait for it forever.
struct Exit<'b, 'd> {
    tx: mpsc::Sender<Event>,
    board: &'b Mutex<Board<'d>>,
    wake: &'b Condvar,
}

impl Drop for Exit<'_, '_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut board = self.board.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            board.stop = board.stop.max(Some(Stop::Failure));
            self.wake.notify_all();
        }
        let _ = self.tx.send(Event::WorkerExited);
    }
}

/// What the workers share: which stages are ready, what each still waits for, and the results.
/// A worker that finishes a stage records it here and takes the next ready stage itself, so a
/// stage never waits for a round trip through the reporting thread (on a VM, waking an idle
/// thread costs tens of microseconds each way).
struct Board<'d> {
    dag: &'d Dag,
    members: &'d [bool],
    direction: Direction,
    keep_going: bool,
    rank: Vec<usize>,
    waiting: Vec<usize>,
    ready: BTreeSet<(usize, StageId)>,
    blocked_by: Vec<Option<StageId>>,
    /// When each stage became ready: what it then waited for was a free `-j` slot.
    ready_at: Vec<Option<Instant>>,
    results: Vec<Option<Result>>,
    stop: Option<Stop>,
    running: usize,
}

impl<'d> Board<'d> {
    /// A board for a run starting at `now`: the stages that wait for nothing are ready then.
    fn new(
        dag: &'d Dag,
        members: &'d [bool],
        direction: Direction,
        keep_going: bool,
        now: Instant,
    ) -> Board<'d> {
        // Ready stages are started in a stable order: topological position (reversed for down).
        let mut rank = vec![0usize; dag.len()];
        for (i, &s) in dag.order().iter().enumerate() {
            rank[s] = match direction {
                Direction::Up => i,
                Direction::Down => dag.len() - i,
            };
        }
        let waiting: Vec<usize> = (0..dag.len())
            .map(|s| direction.waits_for(dag, s).iter().filter(|&&w| members[w]).count())
            .collect();
        let ready: BTreeSet<(usize, StageId)> =
            (0..dag.len()).filter(|&s| members[s] && waiting[s] == 0).map(|s| (rank[s], s)).collect();
        let mut ready_at = vec![None; dag.len()];
        for &(_, s) in &ready {
            ready_at[s] = Some(now);
        }
        Board {
            dag,
            members,
            direction,
            keep_going,
            rank,
            waiting,
            ready,
            blocked_by: vec![None; dag.len()],
            ready_at,
            results: vec![None; dag.len()],
            stop: None,
            running: 0,
        }
    }

    /// The next stage to start at `now`, unless the run is stopping, and how long it waited
    /// for a slot since it became ready.
    fn take(&mut self, now: Instant) -> Option<(StageId, Duration)> {
        if self.stop.is_some() {
            return None;
        }
        let (_, stage) = self.ready.pop_first()?;
        self.running += 1;
        let waited = self.ready_at[stage].map_or(Duration::ZERO, |at| now.saturating_duration_since(at));
        Some((stage, waited))
    }

    /// Completes at `now`, up to date, the `settled` stages (by stage id) that wait only for
    /// settled stages, in the order they would start; returns them in that order.
    fn settle(&mut self, settled: &[bool], now: Instant) -> Vec<StageId> {
        let mut order: Vec<StageId> = (0..self.dag.len())
            .filter(|&s| self.members[s] && settled.get(s).copied().unwrap_or(false))
            .collect();
        order.sort_by_key(|&s| self.rank[s]);
        let span = Span { started: SystemTime::now(), duration: Duration::ZERO, waited: Duration::ZERO };
        // In start order, a stage is ready here exactly when what it waits for was settled.
        order.retain(|&stage| {
            let ready = self.ready.remove(&(self.rank[stage], stage));
            if ready {
                self.running += 1;
                self.complete(stage, Outcome::UpToDate, span, now);
            }
            ready
        });
        order
    }

    /// Whether no stage will ever be ready: the run is over once the running ones finish.
    fn drained(&self) -> bool {
        self.stop.is_some() || (self.ready.is_empty() && self.running == 0)
    }

    /// Records a stage finished at `now`: unblocks what waited for it, or blocks everything
    /// downstream of a failure.
    fn complete(&mut self, stage: StageId, outcome: Outcome, span: Span, now: Instant) {
        let Span { started, duration, waited } = span;
        self.running -= 1;
        match &outcome {
            // A stage holding the terminal gets Ctrl-C itself and interrupts the run from its
            // worker: the run stops even if this comes before the raised signal does.
            Outcome::Interrupted => self.stop = self.stop.max(Some(Stop::Interrupt)),
            Outcome::Failed { .. } => {
                if !self.keep_going {
                    self.stop = self.stop.max(Some(Stop::Failure));
                }
                let downstream = self.direction.downstream(self.dag, stage);
                for s in (0..self.dag.len()).filter(|&s| s != stage && downstream[s]) {
                    self.blocked_by[s].get_or_insert(stage);
                }
            }
            Outcome::Ran { .. } | Outcome::UpToDate | Outcome::Skipped(_) => {}
        }
        if !outcome.is_failure() {
            for &next in self.direction.unblocks(self.dag, stage) {
                if self.members[next] {
                    self.waiting[next] -= 1;
                    if self.waiting[next] == 0 && self.blocked_by[next].is_none() {
                        self.ready.insert((self.rank[next], next));
                        self.ready_at[next] = Some(now);
                    }
                }
            }
        }
        self.results[stage] = Some(Result::Done { outcome, started, duration, waited });
    }

    /// Every member's final result: stages that never started were blocked or stopped.
    fn into_run(self) -> Run {
        let Board { members, blocked_by, mut results, stop, .. } = self;
        for (s, result) in results.iter_mut().enumerate() {
            if !members[s] || result.is_some() {
                continue;
            }
            *result = Some(match blocked_by[s] {
                Some(by) => Result::Blocked { by },
                None => Result::Stopped(stop.unwrap_or(Stop::Failure)),
            });
        }
        Run { results, stop }
    }
}

/// Runs `work` for every stage in `members`, in dependency order for `direction`, and returns
/// each member's result (`None` for stages outside `members`).
pub(crate) fn run(
    dag: &Dag,
    members: &[bool],
    direction: Direction,
    options: Options,
    reporter: &mut dyn Reporter,
    work: &(dyn Fn(StageId, &Sink<'_>) -> Outcome + Sync),
) -> Run {
    let now = Instant::now();
    let mut board = Board::new(dag, members, direction, options.keep_going, now);
    // What is known up to date costs no worker: at 3,000 stages, handing each to a worker
    // and back was most of a run with nothing to do.
    let settled = board.settle(&options.settled, now);
    for &stage in &settled {
        reporter.started(stage);
        reporter.finished(stage, &Outcome::UpToDate, Duration::ZERO);
    }
    let left = members.iter().filter(|&&m| m).count() - settled.len();
    if left == 0 {
        return board.into_run();
    }
    let board = Mutex::new(board);
    // Idle workers wait here for a stage to become ready or for the run to end.
    let wake = Condvar::new();
    let (tx, rx) = mpsc::channel::<Event>();
    let groups = Groups::new(options.grace);
    crate::process::become_subreaper();
    let keyboard = options.keyboard.then(|| {
        let tx = Mutex::new(tx.clone());
        let notify: crate::process::Notify = Box::new(move |stage, text| {
            let tx = tx.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            let _ = tx.send(match stage {
                usize::MAX => Event::Message(text.to_string()),
                stage => Event::Note { stage, text: text.to_string() },
            });
        });
        Keyboard::start(notify)
    });

    // signal-hook's iterator receives signals through a self-pipe without blocking them, so
    // children inherit a normal signal mask (a blocked mask would make them deaf to the very
    // signals we forward). The handlers are installed only while stages run.
    let mut signals = Signals::new([SIGINT, SIGTERM]).expect("signal handlers install");
    let signal_handle = signals.handle();
    // The run is interrupted from the moment the signal arrives, before the loop below
    // forwards it (see `Groups::flag`).
    let flags: Vec<signal_hook::SigId> = [SIGINT, SIGTERM]
        .into_iter()
        .map(|signal| signal_hook::flag::register(signal, groups.flag()).expect("signal handlers install"))
        .collect();
    let signal_tx = tx.clone();
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal_tx.send(Event::Signal(signal)).is_err() {
                break;
            }
        }
    });

    let lock = || board.lock().expect("no worker panics holding the board");
    // A worker: takes ready stages until none will come, reporting each through `tx`.
    let worker = |tx: mpsc::Sender<Event>| {
        // Says so when the worker ends, even by a panic.
        let _exit = Exit { tx: tx.clone(), board: &board, wake: &wake };
        let mut board = lock();
        loop {
            let (stage, waited) = match board.take(Instant::now()) {
                Some(taken) => taken,
                None if board.drained() => break,
                None => {
                    board = wake.wait(board).expect("no worker panics holding the board");
                    continue;
                }
            };
            // More ready stages than this one: an idle worker may take the next.
            if !board.ready.is_empty() {
                wake.notify_one();
            }
            drop(board);
            let _ = tx.send(Event::Started(stage));
            let time_limit = options.time_limits.get(stage).and_then(Option::as_ref);
            let sink =
                Sink { stage, tx: tx.clone(), groups: &groups, keyboard: keyboard.as_deref(), time_limit };
            let started = SystemTime::now();
            let clock = Instant::now();
            let outcome = match work(stage, &sink) {
                // A failure reason may quote a secret (a value that failed validation).
                Outcome::Failed { reason, exit_code } => {
                    Outcome::Failed { reason: crate::mask::mask(&reason).into_owned(), exit_code }
                }
                outcome => outcome,
            };
            let duration = clock.elapsed();
            let _ = tx.send(Event::Done { stage, outcome: outcome.clone(), duration });
            board = lock();
            board.complete(stage, outcome, Span { started, duration, waited }, Instant::now());
            if board.drained() {
                wake.notify_all();
            }
        }
    };

    let workers = options.jobs.max(1).min(left);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            scope.spawn(move || worker(tx));
        }
        let mut exited = 0;
        while exited < workers {
            let event = rx.try_recv().or_else(|_| {
                reporter.idle();
                rx.recv()
            });
            match event.expect("the signal thread holds a sender") {
                Event::WorkerExited => exited += 1,
                Event::Started(stage) => reporter.started(stage),
                Event::Line { stage, text } => reporter.line(stage, &text),
                Event::Note { stage, text } => reporter.note(stage, &text),
                Event::Done { stage, outcome, duration } => reporter.finished(stage, &outcome, duration),
                Event::Message(text) => reporter.message(&text),
                Event::Signal(number) => {
                    let (kind, signal) = if number == SIGTERM {
                        (Stop::Terminate, Signal::SIGTERM)
                    } else {
                        (Stop::Interrupt, Signal::SIGINT)
                    };
                    let mut board = lock();
                    let running = board.running;
                    if board.stop.is_some_and(|s| s >= Stop::Interrupt) {
                        drop(board);
                        reporter.message(&format!(
                            "{} again: killing {running} running stage(s) now",
                            signal.as_str()
                        ));
                        groups.interrupt(Signal::SIGKILL);
                    } else {
                        board.stop = board.stop.max(Some(kind));
                        // Idle workers leave: nothing more will start.
                        wake.notify_all();
                        drop(board);
                        reporter.message(&format!(
                            "{}: starting no more stages; forwarded to {running} running stage(s), \
                             waiting up to {}s for them (press Ctrl-C again to kill them now)",
                            signal.as_str(),
                            options.grace.as_secs()
                        ));
                        groups.interrupt(signal);
                        let timer_tx = tx.clone();
                        let grace = options.grace;
                        // Not a scoped thread: the run must not wait for the timer to end.
                        std::thread::spawn(move || {
                            std::thread::sleep(grace);
                            let _ = timer_tx.send(Event::GraceExpired);
                        });
                    }
                }
                Event::GraceExpired => {
                    let running = lock().running;
                    reporter.message(&format!("grace period over: killing {running} stage(s) still running"));
                    groups.interrupt(Signal::SIGKILL);
                }
            }
        }
    });
    signal_handle.close();
    for flag in flags {
        signal_hook::low_level::unregister(flag);
    }
    board.into_inner().expect("no worker panics holding the board").into_run()
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::events::Reason;

    /// Remembers the order of `started`/`finished` calls.
    #[derive(Default)]
    struct Recorder(Vec<String>);

    impl Reporter for Recorder {
        fn started(&mut self, stage: StageId) {
            self.0.push(format!("start {stage}"));
        }
        fn line(&mut self, _: StageId, _: &str) {}
        fn note(&mut self, _: StageId, _: &str) {}
        fn finished(&mut self, stage: StageId, _: &Outcome, _: Duration) {
            self.0.push(format!("end {stage}"));
        }
        fn message(&mut self, _: &str) {}
    }

    /// root, then six stages that each need it, then `final`, which needs all six.
    fn fan() -> Dag {
        let mut text = String::from("$(call define_stage, root, )\n");
        for i in 0..6 {
            text.push_str(&format!("$(call define_stage, m{i}, root)\n"));
        }
        text.push_str("$(call define_stage, final, m0 m1 m2 m3 m4 m5)\n");
        Dag::parse(Path::new("dag.mk"), &text).unwrap()
    }

    fn options(jobs: usize, keep_going: bool) -> Options {
        Options {
            jobs,
            keep_going,
            grace: Duration::from_secs(1),
            keyboard: false,
            time_limits: Vec::new(),
            settled: Vec::new(),
        }
    }

    fn outcome_of(run: &Run, dag: &Dag, name: &str) -> Result {
        run.results[dag.lookup(name).unwrap()].clone().unwrap()
    }

    /// Drives the board the way workers do, one step at a time, without threads or sleeps:
    /// takes every ready stage, then completes them in the order given by `finish`.
    fn take_all(board: &mut Board<'_>) -> Vec<StageId> {
        std::iter::from_fn(|| board.take(Instant::now()).map(|(stage, _)| stage)).collect()
    }

    fn done(board: &mut Board<'_>, stage: StageId, outcome: Outcome) {
        let span = Span { started: SystemTime::UNIX_EPOCH, duration: Duration::ZERO, waited: Duration::ZERO };
        board.complete(stage, outcome, span, Instant::now());
    }

    fn ran() -> Outcome {
        Outcome::Ran { reason: Reason::Forced, exit_code: Some(0) }
    }

    #[test]
    fn the_board_releases_a_stage_when_the_last_thing_it_waits_for_completes() {
        let dag = fan();
        let all = vec![true; dag.len()];
        let id = |name: &str| dag.lookup(name).unwrap();
        let mut board = Board::new(&dag, &all, Direction::Up, false, Instant::now());
        assert_eq!(take_all(&mut board), [id("root")], "only the root is ready");
        assert!(!board.drained(), "root is running");
        done(&mut board, id("root"), ran());
        let middle = take_all(&mut board);
        assert_eq!(middle.len(), 6, "the six middle stages, in declaration order: {middle:?}");
        for (i, &stage) in middle.iter().enumerate() {
            assert!(take_all(&mut board).is_empty(), "final waits for every middle stage");
            done(&mut board, stage, ran());
            if i < 5 {
                assert!(board.ready.is_empty());
            }
        }
        assert_eq!(take_all(&mut board), [id("final")]);
        done(&mut board, id("final"), ran());
        assert!(board.drained());
        let run = board.into_run();
        assert_eq!(run.stop, None);
        assert!(run.results.iter().all(|r| matches!(r, Some(Result::Done { .. }))));
    }

    #[test]
    fn the_board_measures_the_wait_for_a_slot_from_when_a_stage_became_ready() {
        let dag = fan();
        let all = vec![true; dag.len()];
        let id = |name: &str| dag.lookup(name).unwrap();
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        let mut board = Board::new(&dag, &all, Direction::Up, false, t0);
        assert_eq!(board.take(at(1)), Some((id("root"), Duration::from_secs(1))), "ready at the start");
        let span = Span { started: SystemTime::UNIX_EPOCH, duration: Duration::ZERO, waited: Duration::ZERO };
        board.complete(id("root"), ran(), span, at(5));
        // The six middle stages were ready at 5 s; a worker that frees up at 8 s takes one.
        let (first, waited) = board.take(at(5)).unwrap();
        assert_eq!(waited, Duration::ZERO);
        let (second, waited) = board.take(at(8)).unwrap();
        assert_eq!(waited, Duration::from_secs(3));
        board.complete(first, ran(), Span { waited: Duration::from_secs(7), ..span }, at(9));
        assert!(matches!(
            board.results[first],
            Some(Result::Done { waited, .. }) if waited == Duration::from_secs(7)
        ));
        assert_ne!(first, second);
    }

    #[test]
    fn the_board_blocks_what_is_downstream_of_a_failure_and_stops_without_keep_going() {
        let dag = fan();
        let all = vec![true; dag.len()];
        let id = |name: &str| dag.lookup(name).unwrap();
        for keep_going in [false, true] {
            let mut board = Board::new(&dag, &all, Direction::Up, keep_going, Instant::now());
            take_all(&mut board);
            done(&mut board, id("root"), ran());
            let middle = take_all(&mut board);
            done(&mut board, middle[0], Outcome::failed("boom"));
            assert_eq!(board.stop.is_some(), !keep_going, "keep_going {keep_going}");
            for &stage in &middle[1..] {
                done(&mut board, stage, ran());
            }
            assert!(take_all(&mut board).is_empty(), "final depends on the failure: never ready");
            let run = board.into_run();
            assert_eq!(run.results[id("final")], Some(Result::Blocked { by: middle[0] }));
        }
    }

    #[test]
    fn the_board_runs_down_dependents_first_and_only_members() {
        let dag = fan();
        let id = |name: &str| dag.lookup(name).unwrap();
        // Down of m2 alone with what depends on it: final, then m2; root is not a member.
        let members = dag.with_dependents(&[id("m2")]);
        let mut board = Board::new(&dag, &members, Direction::Down, false, Instant::now());
        assert_eq!(take_all(&mut board), [id("final")]);
        done(&mut board, id("final"), ran());
        assert_eq!(take_all(&mut board), [id("m2")]);
        done(&mut board, id("m2"), ran());
        assert!(board.drained());
        let run = board.into_run();
        assert_eq!(run.results[id("root")], None, "not a member: no result");
    }

    #[test]
    fn never_more_than_jobs_at_once_and_never_before_what_it_waits_for() {
        let dag = fan();
        let all = vec![true; dag.len()];
        for (direction, jobs) in [(Direction::Up, 2), (Direction::Up, 3), (Direction::Down, 2)] {
            let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
            let mut recorder = Recorder::default();
            let run = run(&dag, &all, direction, options(jobs, false), &mut recorder, &|_, _| {
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(running, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                now.fetch_sub(1, Ordering::SeqCst);
                Outcome::Ran { reason: Reason::Forced, exit_code: Some(0) }
            });
            assert_eq!(run.stop, None);
            assert!(
                run.results
                    .iter()
                    .all(|r| matches!(r, Some(Result::Done { outcome: Outcome::Ran { .. }, .. })))
            );
            assert_eq!(peak.load(Ordering::SeqCst), jobs, "{direction:?} -j{jobs}");
            // Reported in an order where every stage starts after what it waits for ended.
            let at = |event: String| recorder.0.iter().position(|e| *e == event).unwrap();
            for s in 0..dag.len() {
                for &w in direction.waits_for(&dag, s) {
                    assert!(
                        at(format!("end {w}")) < at(format!("start {s}")),
                        "{direction:?}: {s} after {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn settled_stages_are_told_up_to_date_in_order_without_work_and_only_atop_settled_ones() {
        let dag = fan();
        let all = vec![true; dag.len()];
        let id = |name: &str| dag.lookup(name).unwrap();
        // root and m0..m2 settled; final is marked too but waits for m3..m5, which run.
        let marked = ["root", "m0", "m1", "m2", "final"];
        let settled: Vec<bool> = (0..dag.len()).map(|s| marked.contains(&dag.name(s))).collect();
        let worked = Mutex::new(Vec::new());
        let mut recorder = Recorder::default();
        let opts = Options { settled, ..options(2, false) };
        let run = run(&dag, &all, Direction::Up, opts, &mut recorder, &|stage, _| {
            worked.lock().unwrap().push(dag.name(stage).to_string());
            ran()
        });
        let mut worked = worked.into_inner().unwrap();
        worked.sort();
        assert_eq!(worked, ["final", "m3", "m4", "m5"], "only what is not settled atop settled ones");
        for name in ["root", "m0", "m1", "m2"] {
            assert!(
                matches!(outcome_of(&run, &dag, name), Result::Done { outcome: Outcome::UpToDate, .. }),
                "{name}"
            );
        }
        assert_eq!(
            recorder.0[..8],
            [0, 1, 2, 3].iter().flat_map(|&s| [format!("start {s}"), format!("end {s}")]).collect::<Vec<_>>(),
            "told first, in start order"
        );
        assert_eq!(id("root"), 0);

        // Everything settled: no worker runs anything.
        let everything = Options { settled: all.clone(), ..options(2, false) };
        let none = run_nothing(&dag, &all, everything);
        assert!(
            none.results.iter().all(|r| matches!(r, Some(Result::Done { outcome: Outcome::UpToDate, .. })))
        );
    }

    fn run_nothing(dag: &Dag, members: &[bool], options: Options) -> Run {
        run(dag, members, Direction::Up, options, &mut Recorder::default(), &|_, _| {
            panic!("nothing to work on")
        })
    }

    #[test]
    fn a_failure_blocks_what_depends_on_it_and_stops_the_rest_unless_keep_going() {
        let dag = fan();
        let all = vec![true; dag.len()];
        let work = |stage: StageId, _: &Sink<'_>| {
            if dag.name(stage) == "m0" {
                Outcome::failed("boom")
            } else {
                Outcome::Ran { reason: Reason::Forced, exit_code: Some(0) }
            }
        };
        let m0 = dag.lookup("m0").unwrap();

        let run_kept = run(&dag, &all, Direction::Up, options(1, true), &mut Recorder::default(), &work);
        assert_eq!(run_kept.stop, None);
        assert!(matches!(outcome_of(&run_kept, &dag, "final"), Result::Blocked { by } if by == m0));
        for name in ["root", "m1", "m2", "m3", "m4", "m5"] {
            assert!(matches!(
                outcome_of(&run_kept, &dag, name),
                Result::Done { outcome: Outcome::Ran { .. }, .. }
            ));
        }

        // Without -k, at -j1, m0 is the first middle stage: nothing after it starts.
        let stopped = run(&dag, &all, Direction::Up, options(1, false), &mut Recorder::default(), &work);
        assert_eq!(stopped.stop, Some(Stop::Failure));
        assert!(matches!(
            outcome_of(&stopped, &dag, "m0"),
            Result::Done { outcome: Outcome::Failed { .. }, .. }
        ));
        assert!(matches!(outcome_of(&stopped, &dag, "final"), Result::Blocked { by } if by == m0));
        for name in ["m1", "m5"] {
            assert!(matches!(outcome_of(&stopped, &dag, name), Result::Stopped(Stop::Failure)), "{name}");
        }
    }

    #[test]
    fn a_panicking_stage_ends_the_run_instead_of_hanging_it() {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let dag = fan();
            let all = vec![true; dag.len()];
            let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run(&dag, &all, Direction::Up, options(2, false), &mut Recorder::default(), &|stage, _| {
                    if dag.name(stage) == "m2" {
                        panic!("a bug in a stage's work");
                    }
                    Outcome::Ran { reason: Reason::Forced, exit_code: Some(0) }
                })
            }));
            let _ = tx.send(ended.is_err());
        });
        let panicked = rx.recv_timeout(Duration::from_secs(20)).expect("the run ended");
        assert!(panicked, "the panic reaches the caller");
    }

    #[test]
    fn an_interrupted_stage_stops_the_run_and_members_bound_it() {
        let dag = fan();
        // Only root and m1 are asked for; m1 is interrupted (its own Ctrl-C).
        let members: Vec<bool> = (0..dag.len()).map(|s| ["root", "m1"].contains(&dag.name(s))).collect();
        let ran = AtomicUsize::new(0);
        let run =
            run(&dag, &members, Direction::Up, options(2, true), &mut Recorder::default(), &|stage, _| {
                ran.fetch_add(1, Ordering::SeqCst);
                if dag.name(stage) == "m1" {
                    Outcome::Interrupted
                } else {
                    Outcome::Ran { reason: Reason::Forced, exit_code: Some(0) }
                }
            });
        assert_eq!(run.stop, Some(Stop::Interrupt));
        assert_eq!(ran.load(Ordering::SeqCst), 2);
        assert!(run.results[dag.lookup("final").unwrap()].is_none(), "not a member");
    }
}
