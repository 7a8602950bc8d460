//! Typed Parquet writers (arrow + parquet crates).
//!
//! A table is a row struct declared with [`table!`]: the macro derives the
//! Arrow schema and the column-building code from the field types, so the
//! schema is written once, next to its documentation. [`TableWriter`] buffers
//! rows, writes one row group per `row_group_rows`, writes to
//! `<name>.parquet.tmp` and renames on [`TableWriter::finish`]; dropped
//! unfinished, it deletes the temporary file, so an interrupted writer never
//! leaves a complete-looking table. Files carry `entprog.table` and
//! `entprog.schema_version` in their key-value metadata, and are
//! byte-identical for identical rows (fixed writer settings, no timestamps).

use std::fs::File;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, StringArray, UInt32Array, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use super::atomic::tmp_path;

/// Errors writing a table.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{path}: cannot write Parquet table: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: Parquet error: {source}")]
    Parquet {
        path: PathBuf,
        source: parquet::errors::ParquetError,
    },
}

/// A Rust type stored as one Arrow column.
pub trait Column: Sized {
    fn data_type() -> DataType;
    fn nullable() -> bool {
        false
    }
    fn array<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef
    where
        Self: 'a;
}

macro_rules! primitive_column {
    ($t:ty, $array:ty, $dt:expr) => {
        impl Column for $t {
            fn data_type() -> DataType {
                $dt
            }
            fn array<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
                Arc::new(<$array>::from_iter_values(values.copied()))
            }
        }
        impl Column for Option<$t> {
            fn data_type() -> DataType {
                $dt
            }
            fn nullable() -> bool {
                true
            }
            fn array<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
                Arc::new(values.copied().collect::<$array>())
            }
        }
    };
}

primitive_column!(u32, UInt32Array, DataType::UInt32);
primitive_column!(u64, UInt64Array, DataType::UInt64);
primitive_column!(i64, Int64Array, DataType::Int64);
primitive_column!(f64, Float64Array, DataType::Float64);

impl Column for bool {
    fn data_type() -> DataType {
        DataType::Boolean
    }
    fn array<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
        Arc::new(values.map(|v| Some(*v)).collect::<BooleanArray>())
    }
}

impl Column for String {
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn array<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
        Arc::new(StringArray::from_iter_values(values))
    }
}

impl Column for Option<String> {
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn nullable() -> bool {
        true
    }
    fn array<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
        Arc::new(values.map(|v| v.as_deref()).collect::<StringArray>())
    }
}

/// A row type with a fixed schema (declare with [`table!`]).
pub trait Table: Sized {
    /// File stem: `steps` -> `steps.parquet`.
    const NAME: &'static str;
    /// Bumped when a column is added, removed or changes meaning.
    const SCHEMA_VERSION: u32;
    fn schema() -> SchemaRef;
    fn to_batch(rows: &[Self]) -> RecordBatch;
}

/// Declares a row struct and its [`Table`] implementation.
///
/// ```ignore
/// table! {
///     /// One row per metric evaluation.
///     pub struct EvalRow in "eval" version 1 {
///         /// Run id.
///         run: String,
///         value: f64,
///     }
/// }
/// ```
#[macro_export]
macro_rules! table {
    (
        $(#[$meta:meta])*
        pub struct $name:ident in $file:literal version $version:literal {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty ),*
        }

        impl $crate::results::parquet::Table for $name {
            const NAME: &'static str = $file;
            const SCHEMA_VERSION: u32 = $version;

            fn schema() -> ::arrow::datatypes::SchemaRef {
                use $crate::results::parquet::Column;
                ::std::sync::Arc::new(::arrow::datatypes::Schema::new(vec![
                    $( ::arrow::datatypes::Field::new(
                        stringify!($field),
                        <$ty as Column>::data_type(),
                        <$ty as Column>::nullable(),
                    ) ),*
                ]))
            }

            fn to_batch(rows: &[Self]) -> ::arrow::record_batch::RecordBatch {
                use $crate::results::parquet::Column;
                let columns: Vec<::arrow::array::ArrayRef> = vec![
                    $( <$ty as Column>::array(rows.iter().map(|r| &r.$field)) ),*
                ];
                ::arrow::record_batch::RecordBatch::try_new(Self::schema(), columns)
                    .expect("columns built from the schema's own types")
            }
        }
    };
}

/// Writes rows of `T` to `<dir>/<T::NAME>.parquet`, atomically.
pub struct TableWriter<T: Table> {
    path: PathBuf,
    tmp: PathBuf,
    writer: Option<ArrowWriter<File>>,
    buffer: Vec<T>,
    row_group_rows: usize,
    rows: u64,
    _t: PhantomData<T>,
}

/// Rows per row group unless told otherwise.
pub const DEFAULT_ROW_GROUP_ROWS: usize = 4096;

impl<T: Table> TableWriter<T> {
    /// Starts `<dir>/<name>.parquet` (written as `.parquet.tmp` until finished).
    pub fn create(dir: &Path) -> Result<Self, TableError> {
        Self::with_row_group(dir, DEFAULT_ROW_GROUP_ROWS)
    }

    pub fn with_row_group(dir: &Path, row_group_rows: usize) -> Result<Self, TableError> {
        let path = dir.join(format!("{}.parquet", T::NAME));
        let tmp = tmp_path(&path);
        let file = File::create(&tmp).map_err(|source| TableError::Io {
            path: tmp.clone(),
            source,
        })?;
        let schema: SchemaRef = with_metadata::<T>(T::schema());
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by("entprog".to_string())
            .set_max_row_group_row_count(Some(row_group_rows.max(1)))
            .set_key_value_metadata(Some(vec![
                KeyValue::new("entprog.table".to_string(), T::NAME.to_string()),
                KeyValue::new("entprog.schema_version".to_string(), T::SCHEMA_VERSION.to_string()),
            ]))
            .build();
        let writer = ArrowWriter::try_new(file, schema, Some(props)).map_err(|source| TableError::Parquet {
            path: tmp.clone(),
            source,
        })?;
        Ok(Self {
            path,
            tmp,
            writer: Some(writer),
            buffer: Vec::new(),
            row_group_rows: row_group_rows.max(1),
            rows: 0,
            _t: PhantomData,
        })
    }

    /// Appends one row; a full buffer is written out as a row group.
    pub fn push(&mut self, row: T) -> Result<(), TableError> {
        self.buffer.push(row);
        self.rows += 1;
        if self.buffer.len() >= self.row_group_rows {
            self.flush_group()?;
        }
        Ok(())
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn flush_group(&mut self) -> Result<(), TableError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let batch = T::to_batch(&self.buffer);
        self.buffer.clear();
        let writer = self.writer.as_mut().expect("writer open until finish");
        let err = |source| TableError::Parquet {
            path: self.tmp.clone(),
            source,
        };
        writer.write(&batch).map_err(err)?;
        writer.flush().map_err(|source| TableError::Parquet {
            path: self.tmp.clone(),
            source,
        })
    }

    /// Writes the remaining rows, closes the file and renames it to its final name.
    pub fn finish(mut self) -> Result<PathBuf, TableError> {
        self.flush_group()?;
        let writer = self.writer.take().expect("writer open until finish");
        let file = writer.into_inner().map_err(|source| TableError::Parquet {
            path: self.tmp.clone(),
            source,
        })?;
        file.sync_all().map_err(|source| TableError::Io {
            path: self.tmp.clone(),
            source,
        })?;
        std::fs::rename(&self.tmp, &self.path).map_err(|source| TableError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.path.clone())
    }
}

impl<T: Table> Drop for TableWriter<T> {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            // Unfinished: never leave a file that could pass for a complete table.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

fn with_metadata<T: Table>(schema: SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut md = std::collections::HashMap::new();
    md.insert("entprog.schema_version".to_string(), T::SCHEMA_VERSION.to_string());
    Arc::new(Schema::new_with_metadata(fields, md))
}

/// Writes all `rows` to `<dir>/<T::NAME>.parquet` in one go.
pub fn write_table<T: Table>(dir: &Path, rows: Vec<T>) -> Result<PathBuf, TableError> {
    let mut w = TableWriter::<T>::create(dir)?;
    for r in rows {
        w.push(r)?;
    }
    w.finish()
}
