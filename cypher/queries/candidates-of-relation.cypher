// Purpose: the visible candidates of one relation whose calibrated probability (the chance a pair scored this
// high is a true missing fact) and score are at least the thresholds, best first.
// Parameters: $relation (relation name or relationship type, e.g. neighbor_of or NEIGHBOR_OF), $min_probability, $min_score, $key_property, $limit
// Defaults: {"min_probability": 0.0, "min_score": -1e30, "key_property": "id", "limit": 25}
// Example: vlkge-graph query candidates-of-relation --param relation=OFFICIAL_LANGUAGE --param min_probability=0.5
MATCH (r:VlkgeRun {active: true})
MATCH (h)-[c:VLKGE_CANDIDATE]->(t)
WHERE $relation IN [c.relation, c.type] AND c.probability >= $min_probability AND c.score >= $min_score
  AND c.generation = r.generation
RETURN h[$key_property] AS head, h.name AS head_name, t[$key_property] AS tail, t.name AS tail_name,
       round(c.score, 4) AS score, round(c.probability, 4) AS probability, c.rank AS rank, c.direction AS direction
ORDER BY c.probability DESC, c.score DESC
LIMIT $limit
