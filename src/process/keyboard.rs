//! One keyboard for many stages. In an interactive parallel run each stage has a terminal of
//! its own (a pseudo-terminal); when one prints a prompt and goes quiet, it asks for the
//! keyboard. Stages get it one at a time, in the order they asked: each line the operator
//! types goes to the stage holding the keyboard, which then gives it up (and asks again if it
//! prompts again). Ctrl-C is not a line: it reaches betterform, which stops the run.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};

/// What the keyboard tells the operator about a stage (through the run's reporter).
pub(crate) type Notify = Box<dyn Fn(usize, &str) + Send + Sync>;

pub(crate) struct Keyboard {
    /// Stages waiting for input, the owner first: (stage, the terminal's input side).
    waiting: Mutex<VecDeque<(usize, Arc<File>)>>,
    notify: Notify,
}

impl Keyboard {
    /// A keyboard whose typed lines are read from stdin by a thread of its own.
    pub(crate) fn start(notify: Notify) -> Arc<Keyboard> {
        let keyboard = Arc::new(Keyboard { waiting: Mutex::new(VecDeque::new()), notify });
        let reader = Arc::clone(&keyboard);
        // Not joined: a run ends while this still waits for a line nobody will type.
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                reader.answer(&line);
            }
        });
        keyboard
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(usize, Arc<File>)>> {
        self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `stage` printed a prompt and waits for input on `terminal`.
    pub(crate) fn request(&self, stage: usize, terminal: &Arc<File>) {
        let mut waiting = self.lock();
        if waiting.iter().any(|(s, _)| *s == stage) {
            return;
        }
        waiting.push_back((stage, Arc::clone(terminal)));
        let position = waiting.len();
        drop(waiting);
        if position == 1 {
            (self.notify)(stage, "waiting for input: type the answer and press Enter");
        } else {
            (self.notify)(stage, &format!("waiting for input ({} stage(s) before it)", position - 1));
        }
    }

    /// `stage` ended (or no longer waits): the keyboard passes on if it held it.
    pub(crate) fn withdraw(&self, stage: usize) {
        let mut waiting = self.lock();
        let was_owner = waiting.front().is_some_and(|(s, _)| *s == stage);
        waiting.retain(|(s, _)| *s != stage);
        let next = waiting.front().map(|(s, _)| *s);
        drop(waiting);
        if was_owner && let Some(next) = next {
            (self.notify)(next, "waiting for input: type the answer and press Enter");
        }
    }

    /// A line the operator typed: to the stage holding the keyboard, which gives it up.
    fn answer(&self, line: &str) {
        let mut waiting = self.lock();
        let Some((_, terminal)) = waiting.pop_front() else {
            drop(waiting);
            (self.notify)(usize::MAX, "no stage is waiting for input; the line was not sent");
            return;
        };
        let next = waiting.front().map(|(s, _)| *s);
        drop(waiting);
        let mut terminal: &File = &terminal;
        let _ = terminal.write_all(format!("{line}\n").as_bytes());
        if let Some(next) = next {
            (self.notify)(next, "waiting for input: type the answer and press Enter");
        }
    }
}
