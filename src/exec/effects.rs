//! The effects that are not commands: files kilter writes, renames, chmods and removes,
//! signals to a process group, locks, and notes. Each is performed (and logged, and echoed with
//! `-v`) or, in a dry run, printed as script lines that do the same thing.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use camino::Utf8Path;

use super::process::{descendant_groups, members, table};
use super::{Mode, Runner, group_alive, quote, signal};
use crate::fsutil::{self, Perm};
use crate::lock::Lock;
use crate::ui::Echo;

/// The bytes of a file to write. Mostly literal text; a piece can also be a value that the
/// dry-run script computes itself (the pid of the process it just started, `$!`).
#[derive(Debug, Clone, Default)]
pub struct Content {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone)]
enum Piece {
    Lit(String),
    /// `expr` in the script, `value` in a real run.
    Shell {
        expr: String,
        value: String,
    },
}

impl Content {
    pub fn text(s: impl Into<String>) -> Content {
        Content { pieces: vec![Piece::Lit(s.into())] }
    }
    pub fn lit(mut self, s: impl Into<String>) -> Content {
        self.pieces.push(Piece::Lit(s.into()));
        self
    }
    /// A piece the script computes with the shell expression `expr`.
    pub fn shell(mut self, expr: impl Into<String>, value: impl Into<String>) -> Content {
        self.pieces.push(Piece::Shell { expr: expr.into(), value: value.into() });
        self
    }
    /// The text, when every piece is literal (the script writes exactly it).
    pub fn literal(&self) -> Option<String> {
        let mut s = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit(t) => s.push_str(t),
                Piece::Shell { .. } => return None,
            }
        }
        Some(s)
    }

    /// The bytes a real run writes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut s = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit(t) => s.push_str(t),
                Piece::Shell { value, .. } => s.push_str(value),
            }
        }
        s.into_bytes()
    }

    /// Script lines writing this content with the shell redirection `redirect` (e.g. `> 'p'`),
    /// inside `(umask 077 && …)` when `private`.
    fn script(&self, redirect: &str, private: bool) -> String {
        let (open, close) = if private { ("(umask 077 && ", ")") } else { ("", "") };
        const EOF: &str = "KILTER_EOF";
        let computed = self.pieces.iter().any(|p| matches!(p, Piece::Shell { .. }));
        let text = String::from_utf8_lossy(&self.bytes()).into_owned();
        if computed {
            // An unquoted heredoc: literal parts escaped, computed parts expanded.
            let mut body = String::new();
            for p in &self.pieces {
                match p {
                    Piece::Lit(t) => {
                        for c in t.chars() {
                            if matches!(c, '$' | '`' | '\\') {
                                body.push('\\');
                            }
                            body.push(c);
                        }
                    }
                    Piece::Shell { expr, .. } => body.push_str(expr),
                }
            }
            if !body.ends_with('\n') {
                body.push('\n');
            }
            return format!("{open}cat {redirect}{close} <<{EOF}\n{body}{EOF}");
        }
        let heredoc_safe = text.ends_with('\n')
            && !text.contains('\r')
            && !text.contains('\0')
            && !text.lines().any(|l| l == EOF);
        if heredoc_safe {
            format!("{open}cat {redirect}{close} <<'{EOF}'\n{text}{EOF}")
        } else {
            format!("{open}printf '%s' {} {redirect}{close}", quote(&text))
        }
    }
}

/// How stopping a process group went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Nothing of the group was alive.
    NotRunning,
    Terminated,
    /// It outlived the grace period after SIGTERM and was killed.
    Killed,
    /// A dry run printed the signals.
    Planned,
}

/// A write staged by [`Runner::stage_write`], committed by [`Runner::commit`].
#[derive(Debug)]
pub enum StagedWrite {
    Real { staged: fsutil::Staged, line: String },
    Planned { script: String },
}

impl Runner<'_> {
    /// Perform (or print) a small effect given as its shell line.
    fn effect(&self, line: &str, perform: impl FnOnce() -> Result<()>) -> Result<()> {
        match &self.mode {
            Mode::Real => {
                self.ui.echo(Echo::Internal, line);
                let started = Instant::now();
                let res = perform();
                self.log(line, if res.is_ok() { "ok" } else { "failed" }, started.elapsed());
                res
            }
            Mode::DryRun => {
                self.script(line);
                Ok(())
            }
            Mode::Record(r) => {
                if let Ok(mut r) = r.lock() {
                    r.seen.push(line.to_owned());
                }
                Ok(())
            }
        }
    }

    /// The script lines (and the log line) of a file write.
    fn write_lines(&self, path: &Utf8Path, content: &Content, perm: Perm) -> (String, String) {
        let target = fsutil::write_target(path).unwrap_or_else(|_| path.to_owned());
        let mut script = Vec::new();
        let q = quote(target.as_str());
        let size = content.bytes().len();
        match perm {
            Perm::Private(mode) => {
                if let Some(dir) = target.parent() {
                    if !self.dir_planned(dir) {
                        script.push(format!("(umask 077 && mkdir -p {})", quote(dir.as_str())));
                    } else if dir.is_dir() && fsutil::mode_of(dir).is_some_and(|m| m != 0o700) {
                        script.push(format!("chmod 700 {}", quote(dir.as_str())));
                    }
                }
                script.push(content.script(&format!("> {q}"), true));
                if mode != 0o600 || fsutil::mode_of(&target).is_some_and(|m| m != mode) {
                    script.push(format!("chmod {mode:o} {q}"));
                }
                (script.join("\n"), format!("write {q} ({size} bytes, mode {mode:04o})"))
            }
            Perm::Keep => {
                script.push(content.script(&format!("> {q}"), false));
                (script.join("\n"), format!("write {q} ({size} bytes, owner and mode kept)"))
            }
        }
    }

    /// Write a file atomically (see `fsutil`). Dry run: print it.
    pub fn write_file(&self, path: &Utf8Path, content: &Content, perm: Perm) -> Result<()> {
        let staged = self.stage_write(path, content, perm)?;
        self.commit(staged)
    }

    /// Stage a write: in a real run the temporary file is written and fsynced now, so a file
    /// that cannot be written fails here, before the caller changes anything else.
    pub fn stage_write(
        &self,
        path: &Utf8Path,
        content: &Content,
        perm: Perm,
    ) -> Result<StagedWrite> {
        let (script, line) = self.write_lines(path, content, perm);
        match &self.mode {
            Mode::Real => {
                let staged = fsutil::stage(path, &content.bytes(), perm)?;
                Ok(StagedWrite::Real { staged, line })
            }
            _ => {
                self.plan_file(path, true);
                self.plan_text(path, content.literal());
                Ok(StagedWrite::Planned { script })
            }
        }
    }

    /// Put a staged write in place.
    pub fn commit(&self, staged: StagedWrite) -> Result<()> {
        match staged {
            StagedWrite::Real { staged, line } => self.effect(&line, || staged.commit()),
            StagedWrite::Planned { script } => self.effect(&script, || Ok(())),
        }
    }

    /// `rm -f path` when something is there.
    pub fn remove_file(&self, path: &Utf8Path) -> Result<bool> {
        if !self.exists(path) {
            return Ok(false);
        }
        self.plan_file(path, false);
        self.effect(&format!("rm -f {}", quote(path.as_str())), || {
            fsutil::remove_if_exists(path).map(|_| ())
        })?;
        Ok(true)
    }

    /// `rm -rf dir` when it is there.
    pub fn remove_dir_all(&self, dir: &Utf8Path) -> Result<bool> {
        if !self.exists(dir) {
            return Ok(false);
        }
        self.plan_file(dir, false);
        self.effect(&format!("rm -rf {}", quote(dir.as_str())), || {
            std::fs::remove_dir_all(dir)
                .or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
                .map_err(|e| anyhow::Error::new(e).context(format!("could not remove {dir}")))
        })?;
        Ok(true)
    }

    /// `cp from to` (an artifact: a copy of a log), when `from` is there. Returns whether it was.
    pub fn copy_file(&self, from: &Utf8Path, to: &Utf8Path) -> Result<bool> {
        if !self.exists(from) {
            return Ok(false);
        }
        self.plan_file(to, true);
        self.effect(&format!("cp {} {}", quote(from.as_str()), quote(to.as_str())), || {
            std::fs::copy(from, to)
                .map(|_| ())
                .map_err(|e| anyhow::Error::new(e).context(format!("could not copy {from}")))
        })?;
        Ok(true)
    }

    /// Append to a file, creating it (e.g. `$GITHUB_STEP_SUMMARY`): `cat >> path`.
    pub fn append_file(&self, path: &Utf8Path, content: &Content) -> Result<()> {
        let script = content.script(&format!(">> {}", quote(path.as_str())), false);
        let line = format!("append {} bytes to {}", content.bytes().len(), quote(path.as_str()));
        let planned = !matches!(self.mode, Mode::Real);
        if planned {
            self.plan_file(path, true);
        }
        self.effect(if planned { &script } else { &line }, || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("could not open {path}"))?;
            f.write_all(&content.bytes()).with_context(|| format!("could not write {path}"))
        })
    }

    /// The command that just ran wrote `path` (kind writes the kubeconfig): later effects see the
    /// file, in a dry run too, as the real run sees it.
    pub fn written_by_command(&self, path: &Utf8Path) {
        self.plan_file(path, true);
    }

    /// `mv -f from to`.
    pub fn rename(&self, from: &Utf8Path, to: &Utf8Path) -> Result<()> {
        self.plan_file(from, false);
        self.plan_file(to, true);
        self.effect(&format!("mv -f {} {}", quote(from.as_str()), quote(to.as_str())), || {
            std::fs::rename(from, to)
                .map_err(|e| anyhow::Error::new(e).context(format!("could not rename {from}")))?;
            if let Some(dir) = to.parent() {
                fsutil::fsync_dir(dir);
            }
            Ok(())
        })
    }

    /// `chmod MODE path` when the file's mode differs.
    pub fn chmod(&self, path: &Utf8Path, mode: u32) -> Result<()> {
        match fsutil::mode_of(path) {
            Some(m) if m != mode => self
                .effect(&format!("chmod {mode:o} {}", quote(path.as_str())), || {
                    fsutil::chmod(path, mode)
                }),
            _ => Ok(()),
        }
    }

    /// A private directory (0700), created with its missing parents.
    pub fn ensure_dir(&self, dir: &Utf8Path) -> Result<()> {
        if dir.is_dir() && fsutil::mode_of(dir) == Some(0o700) {
            return Ok(());
        }
        if !dir.is_dir() && self.dir_planned(dir) {
            return Ok(());
        }
        let line = if dir.is_dir() {
            format!("chmod 700 {}", quote(dir.as_str()))
        } else {
            format!("(umask 077 && mkdir -p {})", quote(dir.as_str()))
        };
        self.effect(&line, || fsutil::ensure_private_dir(dir))
    }

    /// Stop a process group and every process group its descendants run in: SIGTERM to all of
    /// them, wait up to `grace` for every process to exit, then SIGKILL what is left. The
    /// descendants' groups are found before anything is signalled (a program such as Tilt runs
    /// each command in a group of its own, and once it is gone their parent links no longer lead
    /// to it), and looked for again while the leader still runs. Whatever survives SIGKILL is
    /// named in a warning.
    pub fn stop_group(&self, pgid: i32, grace: Duration) -> Result<Stopped> {
        self.stop_groups(Some(pgid), Vec::new(), grace)
    }

    /// [`Runner::stop_group`] of `leader` (when there is one) with `also`, more groups found
    /// otherwise (a program's commands that left its tree, or outlived it), stopped with them.
    pub fn stop_groups(
        &self,
        leader: Option<i32>,
        also: Vec<i32>,
        grace: Duration,
    ) -> Result<Stopped> {
        let mut groups: Vec<i32> = leader.into_iter().collect();
        if let Some(pgid) = leader {
            groups.extend(descendant_groups(&table(), pgid));
        }
        for g in also {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        if groups.is_empty() {
            return Ok(Stopped::NotRunning);
        }
        // `kill -s SIG -- -PGID …`: the form every POSIX shell's kill builtin takes (dash
        // rejects `kill -TERM -- -PGID`).
        let targets = |gs: &[i32]| gs.iter().map(|g| format!("-{g}")).collect::<Vec<_>>().join(" ");
        if self.planning() {
            let tenths = grace.as_millis().div_ceil(100);
            let any_alive = groups
                .iter()
                .map(|g| format!("kill -s 0 -- -{g}"))
                .collect::<Vec<_>>()
                .join(" || ");
            let all = targets(&groups);
            self.script(&format!(
                "kill -s TERM -- {all} 2>/dev/null || true\nkilter_i=0; while {{ {any_alive}; }} 2>/dev/null && [ \"$kilter_i\" -lt {tenths} ]; do sleep 0.1; kilter_i=$((kilter_i + 1)); done\nkill -s KILL -- {all} 2>/dev/null || true"
            ));
            return Ok(Stopped::Planned);
        }
        self.end_groups(leader, groups, grace)
    }

    /// End process groups that a command kilter ran left behind (`tilt ci`'s commands, in
    /// groups of their own, which it gives up stopping after ~2 s): SIGTERM to those still
    /// alive, then SIGKILL after `grace`; survivors are named. Nothing in a dry run (there is
    /// nothing it ran).
    pub fn end_leftover_groups(&self, groups: Vec<i32>, grace: Duration) -> Result<Stopped> {
        if self.planning() {
            return Ok(Stopped::Planned);
        }
        self.end_groups(None, groups, grace)
    }

    /// SIGTERM `groups`, wait up to `grace`, SIGKILL what is left; while `leader` (one of the
    /// groups) runs, groups its descendants start meanwhile are added.
    fn end_groups(
        &self,
        leader: Option<i32>,
        mut groups: Vec<i32>,
        grace: Duration,
    ) -> Result<Stopped> {
        let targets = |gs: &[i32]| gs.iter().map(|g| format!("-{g}")).collect::<Vec<_>>().join(" ");
        groups.retain(|g| group_alive(*g));
        if groups.is_empty() {
            return Ok(Stopped::NotRunning);
        }
        let term = |gs: &[i32]| -> Result<()> {
            self.effect(&format!("kill -s TERM -- {}", targets(gs)), || {
                for g in gs {
                    signal(-g, libc::SIGTERM);
                }
                Ok(())
            })
        };
        term(&groups)?;
        let end = Instant::now() + grace;
        while Instant::now() < end {
            // The leader may still start commands while it shuts down: their groups too.
            if let Some(pgid) = leader.filter(|g| group_alive(*g)) {
                let new: Vec<i32> = descendant_groups(&table(), pgid)
                    .into_iter()
                    .filter(|g| !groups.contains(g))
                    .collect();
                if !new.is_empty() {
                    term(&new)?;
                    groups.extend(new);
                }
            }
            if !groups.iter().any(|g| group_alive(*g)) {
                return Ok(Stopped::Terminated);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let alive: Vec<i32> = groups.iter().copied().filter(|g| group_alive(*g)).collect();
        self.effect(&format!("kill -s KILL -- {}", targets(&alive)), || {
            for g in &alive {
                signal(-g, libc::SIGKILL);
            }
            Ok(())
        })?;
        let end = Instant::now() + Duration::from_secs(2);
        while alive.iter().any(|g| group_alive(*g)) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        let left = members(&alive);
        if !left.is_empty() {
            let names: Vec<String> =
                left.iter().map(|p| format!("pid {} ({})", p.pid, p.cmd)).collect();
            self.ui.warn(&format!(
                "{} process(es) survived SIGKILL and still run: {}",
                left.len(),
                names.join(", ")
            ));
        }
        Ok(Stopped::Killed)
    }

    /// Take a lock (a dry run takes none: it changes nothing).
    pub fn lock(
        &self,
        path: &Utf8Path,
        what: &str,
        command: &str,
        timeout: Duration,
    ) -> Result<Option<Lock>> {
        if !matches!(self.mode, Mode::Real) {
            return Ok(None);
        }
        Ok(Some(crate::lock::acquire(path, what, command, self.ui, timeout, super::pid_alive)?))
    }

    /// A note in the dry-run script about what the real run would do at this point without a
    /// command of its own (e.g. a question it asks). Nothing in a real run.
    pub fn note(&self, text: &str) {
        if self.planning() {
            for l in text.lines() {
                self.script(&format!("# {l}"));
            }
        }
    }

    /// A question the real run asks (confirmation): a dry run notes it instead of asking.
    pub fn ask(&self, note: &str, ask: impl FnOnce() -> Result<()>) -> Result<()> {
        if self.planning() {
            self.note(note);
            return Ok(());
        }
        ask()
    }

    /// In a dry run, a bounded loop that waits until `condition` (a shell command) succeeds,
    /// failing with exit 5 after `timeout` — what a real run's wait does, runnable by hand.
    pub(super) fn plan_wait(&self, what: &str, condition: &str, timeout: Duration) {
        let secs = timeout.as_secs().max(1);
        self.script(&format!(
            "# wait up to {secs}s for {what}\nkilter_end=$(( $(date +%s) + {secs} ))\nuntil {condition}; do\n  if [ \"$(date +%s)\" -ge \"$kilter_end\" ]; then echo {} >&2; exit 5; fi\n  sleep 1\ndone",
            quote(&format!("kilter: timed out after {secs}s waiting for {what}"))
        ));
    }

    /// A line of shell that only the dry-run script runs, to compute what a later planned
    /// step needs (e.g. where a log ends before a process is started). Nothing in a real run.
    pub fn plan_line(&self, line: &str) {
        if self.planning() {
            self.script(line);
        }
    }

    /// Public form of [`Runner::plan_wait`] for waits that are not command polls (Tilt's
    /// startup line in its log). Does nothing in a real run.
    pub fn plan_wait_for(&self, what: &str, condition: &str, timeout: Duration) {
        if self.planning() {
            self.plan_wait(what, condition, timeout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_scripts_are_exact() {
        let c = Content::text("a: 1\n");
        assert_eq!(c.script("> p", false), "cat > p <<'KILTER_EOF'\na: 1\nKILTER_EOF");
        let c = Content::text("no newline");
        assert_eq!(c.script("> p", false), "printf '%s' 'no newline' > p");
        let c = Content::text("{\"pid\": ").shell("$!", "42").lit(", \"x\": \"$HOME\"}\n");
        assert_eq!(c.bytes(), b"{\"pid\": 42, \"x\": \"$HOME\"}\n");
        assert_eq!(
            c.script("> p", false),
            "cat > p <<KILTER_EOF\n{\"pid\": $!, \"x\": \"\\$HOME\"}\nKILTER_EOF"
        );
    }

    #[test]
    fn script_writes_reproduce_the_bytes_through_a_real_shell() {
        let dir = tempfile::tempdir().expect("tmp");
        for (i, text) in
            ["plain\n", "crlf\r\nend", "it's $x `y` \\ \n", "", "KILTER_EOF\n"].iter().enumerate()
        {
            let p = dir.path().join(format!("f{i}"));
            let script = Content::text(*text)
                .script(&format!("> {}", quote(&p.to_string_lossy())), i % 2 == 0);
            #[allow(clippy::disallowed_methods)]
            let st = std::process::Command::new("sh").arg("-c").arg(&script).status().expect("sh");
            assert!(st.success(), "{script}");
            assert_eq!(std::fs::read(&p).expect("read"), text.as_bytes(), "{script}");
            if i % 2 == 0 {
                assert_eq!(
                    fsutil::mode_of(camino::Utf8Path::new(&p.to_string_lossy())),
                    Some(0o600)
                );
            }
        }
    }
}
