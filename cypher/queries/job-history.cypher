// Purpose: the history of scheduled and one-shot jobs: what changed, what was done and why, stage times, outcome; newest first.
// Parameters: $job (null: every job), $scope (null: every scope), $limit
// Defaults: {"job": null, "scope": null, "limit": 20}
// Example: vlkge-graph query job-history --param job=nightly-retrain
MATCH (j:VlkgeJobRun)
WHERE ($job IS NULL OR j.job = $job) AND ($scope IS NULL OR j.scope = $scope)
RETURN j.id AS id, j.job AS job, j.scope AS scope, j.trigger AS trigger, j.attempt AS attempt,
       toString(j.started_at) AS started_at, j.status AS status, j.action AS action, j.reason AS reason,
       j.new_entities AS new_entities, j.removed_entities AS removed_entities,
       j.changed_entities AS changed_entities, j.new_facts AS new_facts, j.removed_facts AS removed_facts,
       j.drift AS drift, j.stage_seconds AS stage_seconds, j.seconds AS seconds, j.run_id AS run_id,
       j.error AS error
ORDER BY j.started_at DESC
LIMIT $limit
