//! Moving a store between backends without loss: export to JSON Lines, import from them.
//!
//! The list of exported tables is in `tables` ([`TABLES`]: every column with its kind and
//! nullability, the order rows are written in) and the list of tables deliberately left
//! out ([`SKIPPED`]). A test compares both lists with the schema the migrations create on
//! each backend, so a table or column added later cannot silently escape the export.
//!
//! The format (`docs/store.md`): a header line
//! `{"proximity_export":1,"schema_version":V,"source_backend":"sqlite","exported_at":"…"}`,
//! then one line per row, `{"table":"runs","row":{"id":"…",…}}`, tables in foreign-key
//! order and rows in primary-key order (byte order for text on both backends), so two
//! exports of the same data are byte-identical whatever the backend. Text is a JSON
//! string, integers and reals JSON numbers (an `f64` round-trips exactly), booleans JSON
//! booleans, NULL `null`.
//!
//! Export reads one consistent snapshot (one read transaction) and streams each table
//! row by row: memory does not grow with the store. Import checks the header, inserts in
//! multi-row batches (each batch its own transaction), refuses a store that already holds
//! rows unless merging (`ON CONFLICT DO NOTHING`), keeps identity ids and, on PostgreSQL,
//! moves each identity sequence past the largest id imported.

use std::io::{BufRead, Write};

use chrono::Utc;
use futures::TryStreamExt as _;
use serde_json::{Map, Value};
use sqlx::Row as _;

use crate::{Backend, Store, StoreError};

mod tables;

pub use tables::{is_skipped, latest_known_version, table, Column, Kind, Table, SKIPPED, TABLES};

/// The format version written in the header (`proximity_export`).
pub const FORMAT_VERSION: i64 = 1;

/// Rows moved per table, in the order they were met.
pub type Counts = Vec<(String, u64)>;

/// What went wrong moving a store.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write the export: {0}")]
    Write(#[source] std::io::Error),
    #[error("cannot read the export: {0}")]
    Read(#[source] std::io::Error),
    #[error("the input is empty: expected a proximity export (a header line `{{\"proximity_export\": 1, …}}`, then one line per row)")]
    Empty,
    #[error("line {line}: {message}")]
    Malformed { line: u64, message: String },
    #[error(
        "the export has schema {found}, newer than this proximity knows ({known}): import it \
         with the proximity version that wrote it, or a newer one"
    )]
    NewerSchema { found: i64, known: i64 },
    #[error(
        "the store already holds rows ({tables}): import into an empty store, or pass \
         `--merge` to add only the rows it lacks (existing rows win)"
    )]
    NotEmpty { tables: String },
    #[error("`{table}.{column}` holds {value}, which JSON cannot carry: fix that row first")]
    NotFinite {
        table: &'static str,
        column: &'static str,
        value: f64,
    },
    #[error(
        "lines {first}-{last} (`{table}`) were refused: {source}\n  {committed} row(s) \
         before them were imported: fix the file and import it again with `--merge` to add \
         the rest"
    )]
    Insert {
        table: &'static str,
        first: u64,
        last: u64,
        committed: u64,
        #[source]
        source: sqlx::Error,
    },
}

/// How to import.
#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// Import into a store that already holds rows, skipping rows whose key it has
    /// (`ON CONFLICT DO NOTHING`): for resuming an interrupted import.
    pub merge: bool,
    /// Rows per transaction (inserted by multi-row statements sized for the backend).
    pub batch_rows: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            merge: false,
            batch_rows: 500,
        }
    }
}

/// Bind parameters per insert statement at most. PostgreSQL allows 65535 and is fastest
/// with large statements; on SQLite (which allows 32766) the time per row grows with the
/// statement's size: 20 000 `results` rows took 1.2 s in statements of 20 rows, 10 s in
/// statements of 500.
fn max_binds(backend: Backend) -> usize {
    match backend {
        Backend::Sqlite => 520,
        Backend::Postgres => 30_000,
    }
}

fn select_sql(table: &Table, backend: Backend) -> String {
    let cols: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    let order: Vec<String> = table
        .order_by
        .iter()
        .map(|name| {
            let text = table.column(name).is_some_and(|c| c.kind == Kind::Text);
            // Byte order on both backends (SQLite's default BINARY collation; PostgreSQL
            // databases often default to a locale's), so exports compare byte for byte.
            if text && backend == Backend::Postgres {
                format!("{name} COLLATE \"C\"")
            } else {
                (*name).to_owned()
            }
        })
        .collect();
    format!(
        "SELECT {} FROM {} ORDER BY {}",
        cols.join(", "),
        table.name,
        order.join(", ")
    )
}

fn insert_sql(table: &Table, rows: usize, merge: bool) -> String {
    let cols: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
    let n = cols.len();
    let mut sql = format!("INSERT INTO {} ({}) VALUES ", table.name, cols.join(", "));
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..n {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}", r * n + c + 1));
        }
        sql.push(')');
    }
    if merge {
        sql.push_str(" ON CONFLICT DO NOTHING");
    }
    sql
}

/// One row as its JSON line.
fn row_line(table: &Table, values: &[Value]) -> String {
    let mut line = String::with_capacity(256);
    line.push_str("{\"table\":");
    line.push_str(&Value::from(table.name).to_string());
    line.push_str(",\"row\":{");
    for (i, (c, v)) in table.columns.iter().zip(values).enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&Value::from(c.name).to_string());
        line.push(':');
        line.push_str(&v.to_string());
    }
    line.push_str("}}\n");
    line
}

fn real_value(
    table: &'static Table,
    column: &'static Column,
    x: f64,
) -> Result<Value, TransferError> {
    serde_json::Number::from_f64(x)
        .map(Value::Number)
        .ok_or(TransferError::NotFinite {
            table: table.name,
            column: column.name,
            value: x,
        })
}

/// Check a row's JSON against its table and return its values in column order.
fn row_values(
    table: &Table,
    row: &Map<String, Value>,
    line: u64,
) -> Result<Vec<Value>, TransferError> {
    if let Some(extra) = row.keys().find(|k| table.column(k).is_none()) {
        return Err(TransferError::Malformed {
            line,
            message: format!(
                "table `{}` has no column `{extra}` in this version's schema",
                table.name
            ),
        });
    }
    let mut out = Vec::with_capacity(table.columns.len());
    for c in table.columns {
        let v = row.get(c.name).cloned().unwrap_or(Value::Null);
        let ok = match (&v, c.kind) {
            (Value::Null, _) => c.nullable,
            (Value::String(_), Kind::Text) => true,
            (Value::Number(n), Kind::Integer) => n.is_i64(),
            (Value::Number(_), Kind::Real) => true,
            (Value::Bool(_), Kind::Bool) => true,
            _ => false,
        };
        if !ok {
            let found = if row.contains_key(c.name) {
                format!("found {v}")
            } else {
                "it is missing".to_owned()
            };
            let null = if c.nullable { " or null" } else { "" };
            return Err(TransferError::Malformed {
                line,
                message: format!(
                    "`{}.{}` must be {}{null}; {found}",
                    table.name,
                    c.name,
                    c.kind.expected()
                ),
            });
        }
        out.push(v);
    }
    Ok(out)
}

/// Rows read but not inserted yet.
struct Batch {
    table: &'static Table,
    rows: Vec<Vec<Value>>,
    first_line: u64,
    last_line: u64,
}

impl Store {
    /// The newest migration applied to this database (`None` on an empty database).
    pub async fn schema_version(&self) -> Result<Option<i64>, StoreError> {
        let known = crate::sqlite_migrator().iter().count();
        if self.pending_migrations().await?.len() == known {
            // Nothing applied: `_sqlx_migrations` may not even exist.
            return Ok(None);
        }
        with_pool!(self, |pool| {
            let (v,): (Option<i64>,) =
                sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
                    .fetch_one(pool)
                    .await?;
            Ok(v)
        })
    }

    /// Write every exported table to `out` as JSON Lines (header first), from one
    /// consistent snapshot. `progress` is told each table's row count once it is written.
    pub async fn export_jsonl<W: Write>(
        &self,
        out: &mut W,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<Counts, TransferError> {
        let backend = self.backend();
        let mut counts = Vec::with_capacity(TABLES.len());
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await.map_err(StoreError::from)?;
            if backend == Backend::Postgres {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
            }
            let (version,): (Option<i64>,) =
                sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::from)?;
            let header = format!(
                "{{\"proximity_export\":{FORMAT_VERSION},\"schema_version\":{},\"source_backend\":{},\"exported_at\":{}}}\n",
                version.unwrap_or(0),
                Value::from(backend.as_str()),
                Value::from(Utc::now().to_rfc3339()),
            );
            out.write_all(header.as_bytes())
                .map_err(TransferError::Write)?;
            for table in TABLES {
                let sql = select_sql(table, backend);
                let mut rows = sqlx::query(&sql).fetch(&mut *tx);
                let mut n = 0u64;
                let mut values = Vec::with_capacity(table.columns.len());
                while let Some(row) = rows.try_next().await.map_err(StoreError::from)? {
                    values.clear();
                    for (i, c) in table.columns.iter().enumerate() {
                        let v = match c.kind {
                            Kind::Text => row
                                .try_get::<Option<String>, _>(i)
                                .map_err(StoreError::from)?
                                .map(Value::String),
                            Kind::Integer => row
                                .try_get::<Option<i64>, _>(i)
                                .map_err(StoreError::from)?
                                .map(Value::from),
                            Kind::Real => row
                                .try_get::<Option<f64>, _>(i)
                                .map_err(StoreError::from)?
                                .map(|x| real_value(table, c, x))
                                .transpose()?,
                            Kind::Bool => row
                                .try_get::<Option<bool>, _>(i)
                                .map_err(StoreError::from)?
                                .map(Value::Bool),
                        };
                        values.push(v.unwrap_or(Value::Null));
                    }
                    out.write_all(row_line(table, &values).as_bytes())
                        .map_err(TransferError::Write)?;
                    n += 1;
                }
                drop(rows);
                progress(table.name, n);
                counts.push((table.name.to_owned(), n));
            }
            tx.commit().await.map_err(StoreError::from)?;
        });
        out.flush().map_err(TransferError::Write)?;
        Ok(counts)
    }

    /// The exported tables that hold at least one row.
    pub async fn nonempty_tables(&self) -> Result<Vec<&'static str>, StoreError> {
        let mut out = Vec::new();
        for table in TABLES {
            let sql = format!("SELECT 1 FROM {} LIMIT 1", table.name);
            let any = with_pool!(self, |pool| sqlx::query(&sql)
                .fetch_optional(pool)
                .await?
                .is_some());
            if any {
                out.push(table.name);
            }
        }
        Ok(out)
    }

    /// Read an export written by [`Store::export_jsonl`] and insert its rows. `progress`
    /// is told each table's row count once its rows are in.
    pub async fn import_jsonl<R: BufRead>(
        &self,
        input: R,
        options: &ImportOptions,
        progress: &mut dyn FnMut(&str, u64),
    ) -> Result<Counts, TransferError> {
        let mut lines = input.lines();
        let header = match lines.next() {
            None => return Err(TransferError::Empty),
            Some(line) => line.map_err(TransferError::Read)?,
        };
        check_header(&header)?;
        if !options.merge {
            let full = self.nonempty_tables().await?;
            if !full.is_empty() {
                return Err(TransferError::NotEmpty {
                    tables: full.join(", "),
                });
            }
        }
        let mut counts: Counts = Vec::new();
        let mut committed = 0u64;
        let mut batch: Option<Batch> = None;
        let mut line_no = 1u64;
        for line in lines {
            line_no += 1;
            let line = line.map_err(TransferError::Read)?;
            if line.trim().is_empty() {
                continue;
            }
            let malformed = |message: String| TransferError::Malformed {
                line: line_no,
                message,
            };
            let shape =
                || malformed("expected a JSON object with \"table\" and \"row\"".to_owned());
            let value: Value = serde_json::from_str(&line).map_err(|e| {
                malformed(format!(
                    "expected a JSON object with \"table\" and \"row\" ({e})"
                ))
            })?;
            let (Some(name), Some(row)) = (
                value.get("table").and_then(Value::as_str),
                value.get("row").and_then(Value::as_object),
            ) else {
                return Err(shape());
            };
            let Some(table) = table(name) else {
                if is_skipped(name) {
                    continue;
                }
                let known: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
                return Err(malformed(format!(
                    "unknown table `{name}`: this version exports {}",
                    known.join(", ")
                )));
            };
            let values = row_values(table, row, line_no)?;
            let per_batch = options.batch_rows.max(1);
            let same_table = batch.as_ref().is_some_and(|b| b.table.name == table.name);
            if !same_table {
                if let Some(done) = batch.take() {
                    committed += self.insert_batch(&done, options.merge, committed).await?;
                    finish_table(
                        &mut counts,
                        done.table.name,
                        done.rows.len() as u64,
                        progress,
                    );
                }
            }
            let b = batch.get_or_insert_with(|| Batch {
                table,
                rows: Vec::new(),
                first_line: line_no,
                last_line: line_no,
            });
            b.rows.push(values);
            b.last_line = line_no;
            if b.rows.len() >= per_batch {
                committed += self.insert_batch(b, options.merge, committed).await?;
                add_count(&mut counts, table.name, b.rows.len() as u64);
                b.rows.clear();
                b.first_line = line_no + 1;
            }
        }
        if let Some(done) = batch.take() {
            self.insert_batch(&done, options.merge, committed).await?;
            finish_table(
                &mut counts,
                done.table.name,
                done.rows.len() as u64,
                progress,
            );
        }
        if self.backend() == Backend::Postgres {
            self.reset_identities().await?;
        }
        Ok(counts)
    }

    /// Insert a batch in one transaction; returns the rows read (inserted or, merging,
    /// already there).
    async fn insert_batch(
        &self,
        b: &Batch,
        merge: bool,
        committed: u64,
    ) -> Result<u64, TransferError> {
        if b.rows.is_empty() {
            return Ok(0);
        }
        let per_statement = (max_binds(self.backend()) / b.table.columns.len()).max(1);
        let done = with_pool!(self, |pool| {
            async {
                let mut tx = pool.begin().await?;
                for chunk in b.rows.chunks(per_statement) {
                    let sql = insert_sql(b.table, chunk.len(), merge);
                    let mut q = sqlx::query(&sql);
                    for row in chunk {
                        for (c, v) in b.table.columns.iter().zip(row) {
                            q = match c.kind {
                                Kind::Text => q.bind(v.as_str()),
                                Kind::Integer => q.bind(v.as_i64()),
                                Kind::Real => q.bind(v.as_f64()),
                                Kind::Bool => q.bind(v.as_bool()),
                            };
                        }
                    }
                    q.execute(&mut *tx).await?;
                }
                tx.commit().await
            }
            .await
        });
        done.map_err(|source| TransferError::Insert {
            table: b.table.name,
            first: b.first_line,
            last: b.last_line,
            committed,
            source,
        })?;
        Ok(b.rows.len() as u64)
    }

    /// Move each identity sequence past the largest id in its table (PostgreSQL), so
    /// rows inserted after an import get new ids.
    async fn reset_identities(&self) -> Result<(), StoreError> {
        for table in TABLES.iter().filter(|t| t.identity) {
            let sql = format!(
                "SELECT setval(pg_get_serial_sequence('{0}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {0}",
                table.name
            );
            with_pool!(self, |pool| {
                sqlx::query(&sql).execute(pool).await?;
            });
        }
        Ok(())
    }
}

fn add_count(counts: &mut Counts, table: &str, n: u64) {
    match counts.last_mut() {
        Some((t, c)) if t == table => *c += n,
        _ => counts.push((table.to_owned(), n)),
    }
}

fn finish_table(counts: &mut Counts, table: &str, n: u64, progress: &mut dyn FnMut(&str, u64)) {
    add_count(counts, table, n);
    if let Some((_, total)) = counts.last() {
        progress(table, *total);
    }
}

fn check_header(line: &str) -> Result<(), TransferError> {
    let expected = || TransferError::Malformed {
        line: 1,
        message: "expected the export header {\"proximity_export\": 1, \"schema_version\": …}: \
                  is this a file written by `proximity export`?"
            .to_owned(),
    };
    let header: Value = serde_json::from_str(line).map_err(|_| expected())?;
    let (Some(format), Some(schema)) = (
        header.get("proximity_export").and_then(Value::as_i64),
        header.get("schema_version").and_then(Value::as_i64),
    ) else {
        return Err(expected());
    };
    if format != FORMAT_VERSION {
        return Err(TransferError::Malformed {
            line: 1,
            message: format!(
                "export format {format}, but this proximity reads format {FORMAT_VERSION}"
            ),
        });
    }
    let known = latest_known_version();
    if schema > known {
        return Err(TransferError::NewerSchema {
            found: schema,
            known,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
