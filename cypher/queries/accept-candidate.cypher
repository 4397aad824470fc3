// Purpose: accept a candidate: create the real fact (with provenance) and remove the candidate(s) of that pair.
// Mode: write
// Parameters: $label, $head, $tail (key values), $relation (name or type), $key_property
// Defaults: {"key_property": "id"}
// Example: vlkge-graph query accept-candidate --param label=Country --param head=country:FRA --param tail=country:BRA --param relation=NEIGHBOR_OF
MATCH (h:$($label)) WHERE h[$key_property] = $head
MATCH (t:$($label)) WHERE t[$key_property] = $tail
MATCH (h)-[c:VLKGE_CANDIDATE]->(t) WHERE $relation IN [c.relation, c.type]
WITH h, t, collect(c) AS cs
WITH h, t, cs, reduce(best = cs[0], x IN cs | CASE WHEN x.score > best.score THEN x ELSE best END) AS best
// run_id is the run holding the candidate's generation, the active one first (runs may share a generation)
WITH h, t, cs, best, COLLECT { MATCH (run:VlkgeRun {generation: best.generation})
     RETURN run.run_id ORDER BY run.active DESC, run.published_at DESC }[0] AS run_id
MERGE (h)-[f:$(best.type)]->(t)
ON CREATE SET f.vlkge_accepted_at = datetime(), f.vlkge_run_id = run_id, f.vlkge_score = best.score
WITH h, t, f, cs
FOREACH (x IN cs | DELETE x)
RETURN h.name AS head, type(f) AS relationship, t.name AS tail, f.vlkge_accepted_at AS accepted_at
