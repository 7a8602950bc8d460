//! Reading a result table back as typed columns, with errors that name the
//! file and the column: what replays and audits of a run folder read
//! (`steps.parquet`, `blocks.parquet`, `supernet.parquet`).

use std::path::{Path, PathBuf};

use polars::prelude::*;

/// Why a table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ColumnsError {
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{path}: column `{column}`: {message}")]
    Column {
        path: PathBuf,
        column: String,
        message: String,
    },
}

/// `dir/name` as a data frame, `None` when the file does not exist.
pub fn read(dir: &Path, name: &str) -> Result<Option<DataFrame>, ColumnsError> {
    let path = dir.join(name);
    if !path.exists() {
        return Ok(None);
    }
    let file = std::fs::File::open(&path).map_err(|e| ColumnsError::File {
        path: path.clone(),
        message: e.to_string(),
    })?;
    ParquetReader::new(file)
        .finish()
        .map(Some)
        .map_err(|e| ColumnsError::File {
            path,
            message: e.to_string(),
        })
}

/// Typed column access with a located error.
pub struct Cols<'a> {
    pub df: &'a DataFrame,
    pub path: PathBuf,
}

impl Cols<'_> {
    fn err(&self, column: &str, message: impl ToString) -> ColumnsError {
        ColumnsError::Column {
            path: self.path.clone(),
            column: column.into(),
            message: message.to_string(),
        }
    }
    /// A string column, nulls as empty strings.
    pub fn str(&self, c: &str) -> Result<Vec<String>, ColumnsError> {
        let s = self.df.column(c).map_err(|e| self.err(c, e))?;
        Ok(s.str()
            .map_err(|e| self.err(c, e))?
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect())
    }
    /// An integer column as u64, nulls as `u64::MAX`.
    pub fn u64(&self, c: &str) -> Result<Vec<u64>, ColumnsError> {
        let s = self.df.column(c).map_err(|e| self.err(c, e))?;
        let s = s.cast(&DataType::UInt64).map_err(|e| self.err(c, e))?;
        Ok(s.u64()
            .map_err(|e| self.err(c, e))?
            .iter()
            .map(|v| v.unwrap_or(u64::MAX))
            .collect())
    }
    /// A float column with its nulls.
    pub fn f64(&self, c: &str) -> Result<Vec<Option<f64>>, ColumnsError> {
        let s = self.df.column(c).map_err(|e| self.err(c, e))?;
        Ok(s.f64().map_err(|e| self.err(c, e))?.iter().collect())
    }
    /// A boolean column, nulls as false.
    pub fn bool(&self, c: &str) -> Result<Vec<bool>, ColumnsError> {
        let s = self.df.column(c).map_err(|e| self.err(c, e))?;
        Ok(s.bool()
            .map_err(|e| self.err(c, e))?
            .iter()
            .map(|v| v.unwrap_or(false))
            .collect())
    }
}
