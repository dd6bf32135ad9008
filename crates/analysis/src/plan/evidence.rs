//! Loading the planner's evidence from the store: per persona × tool of the program, the
//! latest run with results for that pair. Shared by `proximity plan` and the dashboard, so
//! both plan on the same evidence (like [`crate::staleness::resolve`], it reads the store
//! through its public methods).

use std::collections::BTreeMap;

use proximity_program::Program;
use proximity_store::{ResultRecord, RunRecord, Store, StoreError};

use super::ToolEvidence;

/// The evidence the planner reads: per persona × tool of the program, the latest run
/// with results for that pair, and those results.
pub struct Loaded {
    /// (persona, tool, run, results of the pair).
    pub runs: Vec<(String, String, RunRecord, Vec<ResultRecord>)>,
}

impl Loaded {
    pub fn evidence(&self) -> Vec<ToolEvidence<'_>> {
        self.runs
            .iter()
            .map(|(persona, tool, run, results)| ToolEvidence {
                persona: Some(persona),
                tool,
                run,
                results,
            })
            .collect()
    }

    pub fn run_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.runs.iter().map(|(_, _, r, _)| r.id.clone()).collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

pub async fn load(program: &Program, store: &Store) -> Result<Loaded, StoreError> {
    let pairs = store.run_pairs().await?;
    let mut cache: BTreeMap<String, (RunRecord, Vec<ResultRecord>)> = BTreeMap::new();
    let mut runs = Vec::new();
    for persona in &program.personas {
        for tool in &program.tools {
            // Newest first: the first run with results of this tool for this persona.
            let Some((_, _, run_id, _)) = pairs
                .iter()
                .find(|(p, t, _, _)| t == &tool.id && p == &persona.id)
            else {
                continue;
            };
            if !cache.contains_key(run_id) {
                let run = store.run(run_id).await?;
                let results = store.results(run_id).await?;
                cache.insert(run_id.clone(), (run, results));
            }
            if let Some((run, results)) = cache.get(run_id) {
                let mine: Vec<ResultRecord> = results
                    .iter()
                    .filter(|r| r.tool_id == tool.id && r.persona == persona.id)
                    .cloned()
                    .collect();
                runs.push((persona.id.clone(), tool.id.clone(), run.clone(), mine));
            }
        }
    }
    Ok(Loaded { runs })
}
