//! [`Location`]: where something was written in a program's files, kept after loading
//! (spans are not) so that later stages can still point at the file, line and column.

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where something was written: a file of the program, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}
