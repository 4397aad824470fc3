package org.vlkge.graph;

import org.neo4j.graphdb.Label;
import org.neo4j.graphdb.RelationshipType;

/** Names from docs/graph-model.md: what vlkge-graph publishes and the procedures read and write. */
public final class Schema {
    /**
     * Every entity embedding property starts with this: the publish slots {@code vlkge_embedding_a} and
     * {@code vlkge_embedding_b}, and {@code vlkge_embedding} itself, the property a run without an
     * {@code embedding_property} (hand-written data) uses.
     */
    public static final String EMBEDDING_PREFIX = "vlkge_embedding";
    /** The embedding property of a run that names none. */
    public static final String DEFAULT_EMBEDDING = EMBEDDING_PREFIX;
    public static final String EMBEDDING_RUN_ID = "vlkge_run_id";
    /** On run nodes and candidates: the generation number that ties a run's candidates to it. */
    public static final String GENERATION = "generation";
    /** On candidates (and run nodes) of versions before generation numbers: the run id. */
    public static final String RUN_ID = "run_id";
    /** Index names are cut to this length, as the Python publisher cuts them. */
    public static final int MAX_INDEX_NAME = 120;

    public static final Label RUN = Label.label("VlkgeRun");
    public static final Label RELATION = Label.label("VlkgeRelation");
    /** A run's relation parameters: {@code (:VlkgeRun)-[:VLKGE_HAS_RELATION]->(:VlkgeRelation)}. */
    public static final RelationshipType HAS_RELATION = RelationshipType.withName("VLKGE_HAS_RELATION");
    /**
     * The same relationship as versions before the namespacing wrote it. Still read, only from a run node to a
     * {@code VlkgeRelation} node (both the project's own), until {@code vlkge-graph init} or the next publish
     * renames it; a user's {@code HAS_RELATION} between user nodes is never read.
     */
    public static final RelationshipType LEGACY_HAS_RELATION = RelationshipType.withName("HAS_RELATION");
    public static final RelationshipType CANDIDATE = RelationshipType.withName("VLKGE_CANDIDATE");
    public static final RelationshipType REJECTED = RelationshipType.withName("VLKGE_REJECTED");

    /** Provenance properties on a fact created by {@code vlkge.accept}. */
    public static final String ACCEPTED_AT = "vlkge_accepted_at";
    public static final String ACCEPTED_RUN_ID = "vlkge_run_id";
    public static final String ACCEPTED_SCORE = "vlkge_score";

    private Schema() {
    }

    /** Whether a node property is an entity embedding (its changes matter to {@link EmbeddingCache}). */
    public static boolean isEmbedding(String property) {
        return property.startsWith(EMBEDDING_PREFIX);
    }

    /** The cosine vector index over {@code property} on {@code label}: {@code vlkge_<property>_<label>}. */
    public static String indexName(String property, String label) {
        String name = "vlkge_" + property + "_" + label;
        return name.length() > MAX_INDEX_NAME ? name.substring(0, MAX_INDEX_NAME) : name;
    }
}
