// Purpose: the history of sync runs with their status, model, metrics and timings, newest first.
// Parameters: $scope (null: every scope), $limit
// Defaults: {"scope": null, "limit": 20}
// Example: vlkge-graph query run-history --param scope=CountriesMM
MATCH (r:VlkgeRun)
WHERE $scope IS NULL OR r.scope = $scope
RETURN r.run_id AS run_id, r.generation AS generation, r.scope AS scope, r.status AS status, r.active AS active,
       r.backbone AS backbone,
       r.encoder_image AS image_encoder, r.encoder_text AS text_encoder, r.metrics AS metrics,
       r.timings AS timings, toString(r.published_at) AS published_at
ORDER BY r.created_at DESC
LIMIT $limit
