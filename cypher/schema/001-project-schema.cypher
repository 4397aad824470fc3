// Schema for what vlkge-graph itself writes. Applied by `vlkge-graph init`; every statement is
// idempotent (IF NOT EXISTS), so re-running it is harmless. Keys of loaded datasets get their own
// uniqueness constraints when a recipe is loaded (one per dataset label and key property).

// One node per training / publishing run.
CREATE CONSTRAINT vlkge_run_id IF NOT EXISTS FOR (r:VlkgeRun) REQUIRE r.run_id IS UNIQUE;

// The counters numbers are allocated from: `generation` (each run's generation number).
CREATE CONSTRAINT vlkge_counter_name IF NOT EXISTS FOR (g:VlkgeCounter) REQUIRE g.name IS UNIQUE;

// Candidate links: "candidates of relation X above score Y", "candidates of generation G".
// (The index on c.run_id that versions before generation numbers made is dropped by the migration.)
CREATE INDEX vlkge_candidate_relation_score IF NOT EXISTS FOR ()-[c:VLKGE_CANDIDATE]-() ON (c.relation, c.score);
CREATE INDEX vlkge_candidate_generation IF NOT EXISTS FOR ()-[c:VLKGE_CANDIDATE]-() ON (c.generation);

// The publish lock (one sync at a time per database).
CREATE CONSTRAINT vlkge_lock_name IF NOT EXISTS FOR (l:VlkgeLock) REQUIRE l.name IS UNIQUE;

// The dataset relation name behind each relationship type a load wrote, per dataset label: one name per
// type and one type per name (vlkge_graph/graph/relation_names.py).
CREATE CONSTRAINT vlkge_relation_name_type IF NOT EXISTS FOR (n:VlkgeRelationName) REQUIRE (n.label, n.type) IS UNIQUE;
CREATE CONSTRAINT vlkge_relation_name_relation IF NOT EXISTS FOR (n:VlkgeRelationName) REQUIRE (n.label, n.relation) IS UNIQUE;

// Job history (`vlkge-graph jobs history`, cypher/queries/job-history.cypher): one node per job run.
CREATE CONSTRAINT vlkge_job_run_id IF NOT EXISTS FOR (j:VlkgeJobRun) REQUIRE j.id IS UNIQUE;
CREATE INDEX vlkge_job_run_job IF NOT EXISTS FOR (j:VlkgeJobRun) ON (j.job, j.started_at);
CREATE INDEX vlkge_job_run_scope IF NOT EXISTS FOR (j:VlkgeJobRun) ON (j.scope, j.status);
