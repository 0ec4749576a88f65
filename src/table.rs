//! The one renderer of kilter's text tables (`ls`, `status`, `registry status`, `catalog`, the
//! phases of `ci`). Each column says how wide it is and which way it aligns, and what comes
//! before it (the indent for the first, the gap for the others); cells are padded with Rust's
//! own formatting (by characters), so a table reads exactly as the `format!` lines it replaces.

/// Which side a cell is padded on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// How wide a column is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// Every cell padded to at least this many characters; a longer cell pushes only its row.
    AtLeast(usize),
    /// The widest cell of the column (at least this many characters).
    Fit(usize),
}

/// One column: its width, its alignment, and the text before each of its cells.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub before: &'static str,
    pub width: Width,
    pub align: Align,
}

impl Column {
    pub const fn left(before: &'static str, width: Width) -> Column {
        Column { before, width, align: Align::Left }
    }
    pub const fn right(before: &'static str, width: Width) -> Column {
        Column { before, width, align: Align::Right }
    }
}

/// A table: its columns and whether trailing blanks are cut from each line. The last cell of
/// a row is padded too (as `{:<n}` would), unless `trim_end`.
#[derive(Debug, Clone)]
pub struct Table {
    pub columns: Vec<Column>,
    pub trim_end: bool,
}

impl Table {
    pub fn new(columns: Vec<Column>) -> Table {
        Table { columns, trim_end: false }
    }
    pub fn trim_end(mut self) -> Table {
        self.trim_end = true;
        self
    }

    /// One line per row, each ending in `\n`. A row may have fewer cells than there are
    /// columns: the line ends after its last cell. A cell past the last column is written as is.
    pub fn render<S: AsRef<str>>(&self, rows: &[Vec<S>]) -> String {
        self.render_lines(rows).into_iter().map(|l| l + "\n").collect()
    }

    /// [`Table::render`], one string per row (without its `\n`), for a caller that prints each.
    pub fn render_lines<S: AsRef<str>>(&self, rows: &[Vec<S>]) -> Vec<String> {
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| match c.width {
                Width::AtLeast(n) => n,
                Width::Fit(n) => rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|cell| cell.as_ref().chars().count())
                    .max()
                    .unwrap_or(0)
                    .max(n),
            })
            .collect();
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let cell = cell.as_ref();
                match self.columns.get(i) {
                    Some(c) => {
                        let w = widths[i];
                        line.push_str(c.before);
                        line.push_str(&match c.align {
                            Align::Left => format!("{cell:<w$}"),
                            Align::Right => format!("{cell:>w$}"),
                        });
                    }
                    None => line.push_str(cell),
                }
            }
            if self.trim_end {
                line.truncate(line.trim_end().len());
            }
            out.push(line);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_fitted_right_aligned_and_short_rows() {
        let t = Table::new(vec![
            Column::left("  ", Width::Fit(4)),
            Column::right("  ", Width::AtLeast(5)),
            Column::left("  ", Width::AtLeast(3)),
        ]);
        let rows =
            vec![vec!["NAME", "N", "X"], vec!["a-long-name", "12", "overflowing"], vec!["b", "3"]];
        assert_eq!(
            t.render(&rows),
            "  NAME             N  X  \n  a-long-name     12  overflowing\n  b                3\n"
        );
        let trimmed = Table::new(t.columns.clone()).trim_end();
        assert_eq!(
            trimmed.render(&rows),
            "  NAME             N  X\n  a-long-name     12  overflowing\n  b                3\n"
        );
    }

    #[test]
    fn pads_by_characters_as_format_does() {
        let t = Table::new(vec![Column::left("", Width::Fit(0)), Column::left(" ", Width::Fit(0))]);
        let rows = vec![vec!["→ x", "a"], vec!["yy", "b"], vec!["z", "c", "extra"]];
        let want: String = [("→ x", "a", ""), ("yy", "b", ""), ("z", "c", "extra")]
            .iter()
            .map(|(a, b, c)| format!("{a:<3} {b:<1}{c}\n"))
            .collect();
        assert_eq!(t.render(&rows), want);
    }
}
