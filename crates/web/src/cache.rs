//! The score cells of finished runs, kept in memory: a finished run's results do not
//! change, so its `GROUP BY` runs once per process. A run still running is read afresh;
//! a resumed run has a new status / finish time and is read again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use proximity_store::{RunRecord, RunStatus, ScoreCell, Store, StoreError};

/// A run's cells and the status stamp they were read under.
type Entry = (String, Arc<Vec<ScoreCell>>);

/// Score cells by run.
#[derive(Debug, Default)]
pub struct CellCache {
    runs: Mutex<HashMap<String, Entry>>,
}

fn stamp(run: &RunRecord) -> String {
    format!("{}/{:?}", run.status.as_str(), run.finished_at)
}

impl CellCache {
    /// The score cells of `run`, from memory when it is finished and was read before.
    pub async fn cells(
        &self,
        store: &Store,
        run: &RunRecord,
    ) -> Result<Arc<Vec<ScoreCell>>, StoreError> {
        let stamp = stamp(run);
        if let Ok(map) = self.runs.lock() {
            if let Some((s, cells)) = map.get(&run.id) {
                if *s == stamp {
                    return Ok(cells.clone());
                }
            }
        }
        let cells = Arc::new(store.score_cells(&run.id).await?);
        if run.status != RunStatus::Running {
            if let Ok(mut map) = self.runs.lock() {
                map.insert(run.id.clone(), (stamp, cells.clone()));
            }
        }
        Ok(cells)
    }
}
