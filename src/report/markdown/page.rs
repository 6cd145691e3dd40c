//! The page and its length budget. Sections add blocks that say how each may be shortened or
//! dropped; [`Page::fit`] cuts them, least important first, only as far as the limit needs, and
//! notes what went, so a section never has to know how long the rest of the page is.

use std::fmt::Write;

use crate::support::fmt::format_count;

/// Room kept for the "cut to fit" notes that truncation adds.
const NOTES_RESERVE: usize = 2_000;

/// When a block is shortened or dropped, from first cut (1) to last.
pub(super) mod cut {
    pub const IMPROVED: u8 = 1;
    pub const BODIES: u8 = 2;
    pub const LISTS: u8 = 3;
    pub const KEY_LINES: u8 = 4;
    pub const CONTEXT: u8 = 5;
    /// Never cut.
    pub const NEVER: u8 = u8::MAX;
}

#[derive(Debug)]
struct Block {
    full: String,
    /// A shorter stand-in used from `alt_level` on.
    alt: Option<(u8, String)>,
    /// Dropped from this level on.
    drop_level: u8,
    /// What a dropped block was, for the "N more" note (`None` for fixed text).
    what: Option<&'static str>,
    /// For a count of `what` never rendered at all (beyond [`super::MAX_LISTED`]): how many. It is
    /// merged into the "… and N more" line of the dropped blocks just before it.
    more: usize,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Full,
    Alt,
    Dropped,
}

impl Block {
    fn len(&self) -> usize {
        match self.state {
            State::Full => self.full.chars().count(),
            State::Alt => self.alt.as_ref().map_or(0, |(_, a)| a.chars().count()),
            State::Dropped => 0,
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Page {
    blocks: Vec<Block>,
}

impl Page {
    /// Text that is never cut.
    pub(super) fn fixed(&mut self, text: impl Into<String>) {
        self.blocks.push(Block {
            full: text.into(),
            alt: None,
            drop_level: cut::NEVER,
            what: None,
            more: 0,
            state: State::Full,
        });
    }

    /// Text dropped whole at `level`, counted as one `what` in the note.
    pub(super) fn item(&mut self, text: String, level: u8, what: &'static str) {
        self.blocks.push(Block {
            full: text,
            alt: None,
            drop_level: level,
            what: Some(what),
            more: 0,
            state: State::Full,
        });
    }

    /// Text shortened to `alt` at `alt_level`, dropped at `drop_level`.
    pub(super) fn shrinkable(
        &mut self,
        text: String,
        alt: String,
        alt_level: u8,
        drop_level: u8,
        what: &'static str,
    ) {
        self.blocks.push(Block {
            full: text,
            alt: Some((alt_level, alt)),
            drop_level,
            what: Some(what),
            more: 0,
            state: State::Full,
        });
    }

    /// `n` more `what` that were never rendered.
    pub(super) fn more(&mut self, n: usize, what: &'static str) {
        self.blocks.push(Block {
            full: String::new(),
            alt: None,
            drop_level: cut::NEVER,
            what: Some(what),
            more: n,
            state: State::Full,
        });
    }

    pub(super) fn fit(mut self, max_chars: usize) -> String {
        let mut total: usize = self.blocks.iter().map(Block::len).sum();
        let budget = max_chars.saturating_sub(NOTES_RESERVE);
        let mut shortened: Vec<&'static str> = Vec::new();
        if total > max_chars {
            for level in 1..cut::NEVER {
                for block in self.blocks.iter_mut().rev() {
                    if total <= budget {
                        break;
                    }
                    let before = block.len();
                    if block.drop_level == level && block.state != State::Dropped {
                        block.state = State::Dropped;
                    } else if block.state == State::Full
                        && block.alt.as_ref().is_some_and(|(l, _)| *l == level)
                    {
                        block.state = State::Alt;
                        if let Some(what) = block.what
                            && !shortened.contains(&what)
                        {
                            shortened.push(what);
                        }
                    } else {
                        continue;
                    }
                    total = total - before + block.len();
                }
                if total <= budget {
                    break;
                }
            }
        }

        let mut out = String::with_capacity(max_chars.min(total + NOTES_RESERVE));
        let mut dropped: Vec<(&'static str, usize)> = Vec::new();
        let mut run: Option<(&'static str, usize)> = None;
        for block in &self.blocks {
            if block.more > 0 {
                if let Some(what) = block.what {
                    match &mut run {
                        Some((w, n)) if *w == what => *n += block.more,
                        _ => {
                            flush_run(&mut out, run.take(), &mut dropped);
                            run = Some((what, block.more));
                        }
                    }
                }
                continue;
            }
            if block.state == State::Dropped {
                if let Some(what) = block.what {
                    match &mut run {
                        Some((w, n)) if *w == what => *n += 1,
                        _ => {
                            flush_run(&mut out, run.take(), &mut dropped);
                            run = Some((what, 1));
                        }
                    }
                }
                continue;
            }
            flush_run(&mut out, run.take(), &mut dropped);
            match block.state {
                State::Full => out.push_str(&block.full),
                State::Alt => {
                    if let Some((_, alt)) = &block.alt {
                        out.push_str(alt);
                    }
                }
                State::Dropped => {}
            }
        }
        flush_run(&mut out, run.take(), &mut dropped);

        if !dropped.is_empty() || !shortened.is_empty() {
            let mut parts: Vec<String> = dropped
                .iter()
                .map(|(what, n)| format!("{} {what} left out", format_count(*n as u64)))
                .collect();
            parts.extend(
                shortened
                    .iter()
                    .map(|what| format!("details of {what} shortened")),
            );
            let _ = writeln!(
                out,
                "\n✂️ **Cut to fit the {} character limit**: {}. The JUnit report and the results file have everything.",
                format_count(max_chars as u64),
                parts.join("; ")
            );
        }
        // A last guard for pathological inputs (hundreds of gated metrics): the fixed text alone
        // is over the limit. Cut at a line boundary so no block is left half open, then close
        // any `<details>` or `<pre>` the cut left open.
        if out.chars().count() > max_chars {
            out = hard_cut(&out, max_chars);
        }
        out
    }
}

fn flush_run(
    out: &mut String,
    run: Option<(&'static str, usize)>,
    dropped: &mut Vec<(&'static str, usize)>,
) {
    if let Some((what, n)) = run {
        // Lists of cases say how many were left out in place; whole sections (the cell list,
        // the rule list) only in the closing note.
        if what.ends_with("cases") {
            let _ = writeln!(out, "- … and {} more {what}", format_count(n as u64));
        }
        match dropped.iter_mut().find(|(w, _)| *w == what) {
            Some((_, total)) => *total += n,
            None => dropped.push((what, n)),
        }
    }
}

fn hard_cut(text: &str, max_chars: usize) -> String {
    const NOTE: &str = "\n**Report cut: it did not fit the length limit.**\n";
    // Room for the note and for closing one `<pre>` and one `<details>` (they never nest).
    let keep = max_chars.saturating_sub(NOTE.len() + 40);
    let mut end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    if let Some(newline) = text[..end].rfind('\n') {
        end = newline + 1;
    }
    let head = &text[..end];
    let mut out = head.to_owned();
    if head.matches("<pre>").count() > head.matches("</pre>").count() {
        out.push_str("\n</pre>\n\n");
    }
    if head.matches("<details>").count() > head.matches("</details>").count() {
        out.push_str("\n</details>\n\n");
    }
    out.push_str(NOTE);
    out
}
