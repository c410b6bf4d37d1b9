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
    state: Mutex<State>,
    notify: Notify,
}

#[derive(Default)]
struct State {
    /// Stages waiting for input, the owner first: (stage, the terminal's input side).
    waiting: VecDeque<(usize, Arc<File>)>,
    /// Lines typed while no stage waited (type-ahead, as a terminal keeps it): an operator
    /// answers as soon as a prompt shows, before the stage has gone quiet long enough to ask.
    /// The next stage that asks gets them, oldest first.
    typed: VecDeque<String>,
}

impl Keyboard {
    /// A keyboard whose typed lines are read from stdin by a thread of its own.
    pub(crate) fn start(notify: Notify) -> Arc<Keyboard> {
        let keyboard = Arc::new(Keyboard { state: Mutex::default(), notify });
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

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `stage` printed a prompt and waits for input on `terminal`.
    pub(crate) fn request(&self, stage: usize, terminal: &Arc<File>) {
        let mut state = self.lock();
        if state.waiting.iter().any(|(s, _)| *s == stage) {
            return;
        }
        if state.waiting.is_empty()
            && let Some(line) = state.typed.pop_front()
        {
            drop(state);
            let mut terminal: &File = terminal;
            let _ = terminal.write_all(format!("{line}\n").as_bytes());
            return;
        }
        let waiting = &mut state.waiting;
        waiting.push_back((stage, Arc::clone(terminal)));
        let position = waiting.len();
        drop(state);
        if position == 1 {
            (self.notify)(stage, "waiting for input: type the answer and press Enter");
        } else {
            (self.notify)(stage, &format!("waiting for input ({} stage(s) before it)", position - 1));
        }
    }

    /// `stage` ended (or no longer waits): the keyboard passes on if it held it.
    pub(crate) fn withdraw(&self, stage: usize) {
        let mut state = self.lock();
        let waiting = &mut state.waiting;
        let was_owner = waiting.front().is_some_and(|(s, _)| *s == stage);
        waiting.retain(|(s, _)| *s != stage);
        let next = waiting.front().map(|(s, _)| *s);
        drop(state);
        if was_owner && let Some(next) = next {
            (self.notify)(next, "waiting for input: type the answer and press Enter");
        }
    }

    /// A line the operator typed: to the stage holding the keyboard, which gives it up.
    fn answer(&self, line: &str) {
        let mut state = self.lock();
        let Some((_, terminal)) = state.waiting.pop_front() else {
            state.typed.push_back(line.to_string());
            drop(state);
            (self.notify)(
                usize::MAX,
                "no stage is waiting for input yet; the line goes to the next one that asks",
            );
            return;
        };
        let next = state.waiting.front().map(|(s, _)| *s);
        drop(state);
        let mut terminal: &File = &terminal;
        let _ = terminal.write_all(format!("{line}\n").as_bytes());
        if let Some(next) = next {
            (self.notify)(next, "waiting for input: type the answer and press Enter");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn keyboard() -> Keyboard {
        Keyboard { state: Mutex::default(), notify: Box::new(|_, _| {}) }
    }

    fn terminal() -> (Arc<File>, File) {
        let (read, write) = nix::unistd::pipe().unwrap();
        (Arc::new(File::from(write)), File::from(read))
    }

    fn received(mut from: File, terminal: Arc<File>) -> String {
        drop(terminal);
        let mut text = String::new();
        from.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn a_line_typed_before_any_stage_asks_goes_to_the_next_that_asks() {
        let keyboard = keyboard();
        keyboard.answer("yes");
        let (terminal, input) = terminal();
        keyboard.request(3, &terminal);
        assert!(keyboard.lock().waiting.is_empty(), "answered at once, so it does not wait");
        assert_eq!(received(input, terminal), "yes\n");
    }

    #[test]
    fn stages_get_lines_in_the_order_they_asked() {
        let keyboard = keyboard();
        let (first, first_input) = terminal();
        let (second, second_input) = terminal();
        keyboard.request(1, &first);
        keyboard.request(2, &second);
        keyboard.answer("a");
        keyboard.answer("b");
        keyboard.withdraw(1);
        keyboard.withdraw(2);
        assert_eq!(received(first_input, first), "a\n");
        assert_eq!(received(second_input, second), "b\n");
    }
}
