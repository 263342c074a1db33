//! A two-column table of labels and values, for human-readable reports.
//!
//! ```text
//! file system     ext4 (magic 0xef53), direct I/O native
//! logical block   512 B
//! ```

use std::fmt;

/// Rows of `label  value`, with the values aligned one column after the longest label.
#[derive(Debug, Default)]
pub(crate) struct Table {
    rows: Vec<(String, String)>,
}

/// Spaces between the longest label and the values.
const GAP_WIDTH: usize = 2;

impl Table {
    /// An empty table.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends a row. A value with several lines has its later lines indented to the value
    /// column.
    pub(crate) fn row(&mut self, label: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.rows.push((label.into(), value.into()));
        self
    }
}

impl fmt::Display for Table {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label_width = self.rows.iter().map(|(label, _)| label.chars().count()).max();
        let value_column = label_width.unwrap_or(0) + GAP_WIDTH;
        for (label, value) in &self.rows {
            let mut lines = value.lines();
            writeln!(formatter, "{label:<value_column$}{}", lines.next().unwrap_or(""))?;
            for line in lines {
                writeln!(formatter, "{:value_column$}{line}", "")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_start_in_one_column() {
        let mut table = Table::new();
        table.row("a", "1").row("longer label", "2").row("mid", "three\nfour");
        let expected = "\
a             1
longer label  2
mid           three
              four
";
        assert_eq!(table.to_string(), expected);
    }

    #[test]
    fn an_empty_table_prints_nothing() {
        assert_eq!(Table::new().to_string(), "");
    }
}
