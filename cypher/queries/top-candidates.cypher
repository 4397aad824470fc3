// Purpose: the best candidate links of one node (visible generations only), in and out.
// Parameters: $label (a label of the node), $key (its key value), $key_property, $limit
// Defaults: {"key_property": "id", "limit": 10}
// Example: vlkge-graph query top-candidates --param label=Country --param key=country:FRA
MATCH (n:$($label)) WHERE n[$key_property] = $key
MATCH (r:VlkgeRun {active: true})
MATCH (n)-[c:VLKGE_CANDIDATE {generation: r.generation}]-(other)
RETURN c.relation AS relation, startNode(c) = n AS outgoing, other[$key_property] AS other_key,
       other.name AS other_name, round(c.score, 4) AS score, round(c.probability, 4) AS probability, c.rank AS rank
ORDER BY c.probability DESC, c.score DESC
LIMIT $limit
