-- The dashboard's reads (crates/store/src/dashboard.rs) with 100k+ results per run.
-- Covering the scorecard sums, run tallies and filter values: an index-only scan grouped
-- in index order, never reading outputs and assertions.
CREATE INDEX results_cells ON results
    (run_id, persona, tool_id, workflow, kind, source, verdict, case_weight, cost_usd, cached);
-- One verdict's results in listing order, with the filter columns: a page of the run
-- page walks this index instead of sorting the run.
CREATE INDEX results_listing ON results
    (run_id, verdict, persona, case_id, tool_id, sample, workflow, kind);
-- A tool's fingerprints run by run (the tool page), across every run.
CREATE INDEX results_fingerprints ON results
    (tool_id, run_id, tool_fingerprint, model_version, verdict);
