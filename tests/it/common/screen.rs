//! A model of a terminal screen, enough for what betterform's live display (indicatif) writes:
//! printable characters with auto-wrap (the cursor waits in the last column until the next
//! character), `\r`, `\n`, cursor up/down/column moves and line erases. Colours and modes are
//! ignored. It answers "what is left on the screen?", which the raw bytes cannot.

pub struct Screen {
    cols: usize,
    rows: Vec<Vec<char>>,
    row: usize,
    col: usize,
    /// The last column was written: the next printable character starts a new line.
    pending_wrap: bool,
}

impl Screen {
    pub fn new(cols: usize) -> Screen {
        Screen { cols, rows: vec![Vec::new()], row: 0, col: 0, pending_wrap: false }
    }

    /// What `text` leaves on a screen `cols` wide.
    pub fn render(cols: usize, text: &str) -> String {
        let mut screen = Screen::new(cols);
        screen.feed(text);
        screen.text()
    }

    pub fn feed(&mut self, text: &str) {
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\x1b' if chars.peek() == Some(&'[') => {
                    chars.next();
                    let mut params = String::new();
                    let mut end = None;
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() || c == '~' {
                            end = Some(c);
                            break;
                        }
                        params.push(c);
                    }
                    self.control(end, &params);
                }
                '\x1b' => {
                    chars.next();
                }
                '\r' => {
                    self.col = 0;
                    self.pending_wrap = false;
                }
                '\n' => {
                    self.down(1);
                    self.pending_wrap = false;
                }
                c if c.is_control() => {}
                c => self.put(c),
            }
        }
    }

    pub fn text(&self) -> String {
        let lines: Vec<String> =
            self.rows.iter().map(|r| r.iter().collect::<String>().trim_end().to_string()).collect();
        lines.join("\n").trim_end().to_string()
    }

    fn control(&mut self, end: Option<char>, params: &str) {
        let n = params.trim_start_matches('?').parse::<usize>().unwrap_or(0);
        match end {
            Some('A') => {
                self.row = self.row.saturating_sub(n.max(1));
                self.pending_wrap = false;
            }
            Some('B') => {
                self.down(n.max(1));
                self.pending_wrap = false;
            }
            Some('G') => {
                self.col = n.max(1) - 1;
                self.pending_wrap = false;
            }
            Some('K') => {
                let line = &mut self.rows[self.row];
                match n {
                    0 => line.truncate(self.col),
                    1 => line.iter_mut().take(self.col + 1).for_each(|c| *c = ' '),
                    _ => line.clear(),
                }
            }
            Some('J') if n == 0 => {
                self.rows[self.row].truncate(self.col);
                self.rows.truncate(self.row + 1);
            }
            _ => {}
        }
    }

    fn down(&mut self, n: usize) {
        self.row += n;
        while self.rows.len() <= self.row {
            self.rows.push(Vec::new());
        }
    }

    fn put(&mut self, c: char) {
        if self.pending_wrap {
            self.down(1);
            self.col = 0;
            self.pending_wrap = false;
        }
        let line = &mut self.rows[self.row];
        while line.len() <= self.col {
            line.push(' ');
        }
        line[self.col] = c;
        if self.col + 1 == self.cols {
            self.pending_wrap = true;
        } else {
            self.col += 1;
        }
    }
}

#[test]
fn the_model_wraps_late_and_erases_lines() {
    // A full-width line leaves the cursor in the last column; the next character wraps.
    assert_eq!(Screen::render(4, "abcd"), "abcd");
    assert_eq!(Screen::render(4, "abcdef"), "abcd\nef");
    assert_eq!(Screen::render(4, "abcd\r\nxy\x1b[1A\r\x1b[2Kz"), "z\nxy");
    assert_eq!(Screen::render(10, "hello\x1b[3G\x1b[K"), "he");
}
