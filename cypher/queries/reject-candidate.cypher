// Purpose: reject a candidate: record the decision (never proposed again, a hard negative for the next
//          training run) and remove the candidate(s) of that pair.
// Mode: write
// Parameters: $label, $head, $tail (key values), $relation (name or type), $reason, $key_property
// Defaults: {"key_property": "id", "reason": ""}
// Example: vlkge-graph query reject-candidate --param label=Country --param head=country:FRA --param tail=country:BRA --param relation=NEIGHBOR_OF --param reason="not adjacent"
MATCH (h:$($label)) WHERE h[$key_property] = $head
MATCH (t:$($label)) WHERE t[$key_property] = $tail
MATCH (h)-[c:VLKGE_CANDIDATE]->(t) WHERE $relation IN [c.relation, c.type]
WITH h, t, collect(c) AS cs
WITH h, t, cs, cs[0] AS first
// run_id is the run holding the candidate's generation, the active one first (runs may share a generation)
WITH h, t, cs, first, COLLECT { MATCH (run:VlkgeRun {generation: first.generation})
     RETURN run.run_id ORDER BY run.active DESC, run.published_at DESC }[0] AS run_id
MERGE (h)-[x:VLKGE_REJECTED {relation: first.relation}]->(t)
ON CREATE SET x.type = first.type, x.reason = $reason, x.rejected_at = datetime(), x.run_id = run_id,
              x.score = first.score
WITH h, t, x, cs
FOREACH (c IN cs | DELETE c)
RETURN h.name AS head, x.relation AS relation, t.name AS tail, x.reason AS reason
