// Purpose: a candidate explained: its scores and the existing facts around its head and tail,
//          with the neighbours they share.
// Parameters: $label, $head, $tail (key values), $relation (name or type), $key_property
// Defaults: {"key_property": "id"}
// Example: vlkge-graph query explain-candidate --param label=Country --param head=country:FRA --param tail=country:BRA --param relation=NEIGHBOR_OF
MATCH (h:$($label)) WHERE h[$key_property] = $head
MATCH (t:$($label)) WHERE t[$key_property] = $tail
MATCH (h)-[c:VLKGE_CANDIDATE]->(t) WHERE $relation IN [c.relation, c.type]
// run_id is the run holding the candidate's generation, the active one first (runs may share a generation)
WITH h, t, c, COLLECT { MATCH (run:VlkgeRun {generation: c.generation})
     RETURN run.run_id ORDER BY run.active DESC, run.published_at DESC }[0] AS run_id
OPTIONAL MATCH (h)-[f]-(x) WHERE NOT type(f) STARTS WITH 'VLKGE_'
WITH h, t, c, run_id, collect(DISTINCT type(f) + ' ' + coalesce(x.name, toString(x[$key_property]))) AS head_facts,
     collect(DISTINCT x) AS head_neighbours
OPTIONAL MATCH (t)-[g]-(y) WHERE NOT type(g) STARTS WITH 'VLKGE_'
WITH h, t, c, run_id, head_facts, head_neighbours,
     collect(DISTINCT type(g) + ' ' + coalesce(y.name, toString(y[$key_property]))) AS tail_facts,
     collect(DISTINCT y) AS tail_neighbours
RETURN h.name AS head, c.relation AS relation, t.name AS tail, round(c.score, 4) AS score,
       round(c.probability, 4) AS probability, c.rank AS rank, c.direction AS direction, run_id,
       head_facts, tail_facts,
       [n IN head_neighbours WHERE n IN tail_neighbours | coalesce(n.name, toString(n[$key_property]))] AS shared
