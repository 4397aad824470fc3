// Purpose: the entities most similar to a node by its published embedding (cosine, vector index).
// Parameters: $label (the entity label the sync exported, e.g. CountriesMM), $key, $key_property, $limit
// Defaults: {"key_property": "id", "limit": 10}
// Example: vlkge-graph query similar-entities --param label=CountriesMM --param key=country:FRA
MATCH (r:VlkgeRun {active: true}) WHERE $label IN r.entity_labels
MATCH (n:$($label)) WHERE n[$key_property] = $key
CALL db.index.vector.queryNodes('vlkge_' + r.embedding_property + '_' + $label, $limit + 1, n[r.embedding_property])
YIELD node, score
WITH n, node, score WHERE node <> n
RETURN node[$key_property] AS key, node.name AS name, round(score, 4) AS similarity
ORDER BY similarity DESC
LIMIT $limit
