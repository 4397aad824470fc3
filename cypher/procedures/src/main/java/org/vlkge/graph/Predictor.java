package org.vlkge.graph;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Relationship;
import org.neo4j.graphdb.Transaction;
import org.vlkge.scoring.Direction;
import org.vlkge.scoring.EmbeddingBlock;
import org.vlkge.scoring.Query;
import org.vlkge.scoring.Ranker;

/**
 * Live top-k link prediction: one query against every candidate entity's current embedding (the run's
 * embedding property), so entities that got an embedding after the last sync take part at once. The run is
 * the one named by {@code runId}, else the active run covering the query node. A head query of a reciprocal
 * run is scored as the tail query {@code (node, r^-1, ?)} with the relation's {@code inverse_vector}, as the
 * Python {@code KGEModel} scores it.
 */
public final class Predictor {
    /** What {@link #predict} ranks and what it leaves out. */
    public record Request(Node node, String relation, int k, Direction direction, List<String> targetLabels,
                          boolean excludeExisting, boolean excludeSelf, String runId) {
    }

    /** One ranked candidate. */
    public record Prediction(Node node, double score, double probability, long rank) {
    }

    private final Transaction tx;
    private final String database;
    private final EmbeddingCache cache;

    public Predictor(Transaction tx, String database, EmbeddingCache cache) {
        this.tx = tx;
        this.database = database;
        this.cache = cache;
    }

    @SuppressWarnings("removal") // internal node ids, as the embedding block stores them
    public List<Prediction> predict(Request request) {
        Run run = RunLoader.forNodes(tx, request.runId(), request.node());
        RelationParams relation = run.relation(request.relation());
        double[] anchor = Vectors.embedding(request.node(), run);
        Query query = run.query(anchor, relation, request.direction());
        List<String> labels = request.targetLabels().isEmpty() ? run.entityLabels() : request.targetLabels();
        EmbeddingBlock block = cache.block(tx, database, labels, run.embeddingProperty(), run.entityWidth());
        Set<Long> excluded = excluded(request, relation);

        Ranker.Ranked top = Ranker.top(block, query, request.k(), excluded::contains);
        List<Prediction> out = new ArrayList<>(top.size());
        for (int i = 0; i < top.size(); i++) {
            double score = top.scores()[i];
            out.add(new Prediction(tx.getNodeById(block.id(top.rows()[i])), score,
                    relation.probability(score, request.direction()), i + 1));
        }
        return out;
    }

    /**
     * Ids never proposed: the node itself, and with {@code excludeExisting} its existing facts of the relation's
     * relationship type and its {@code VLKGE_REJECTED} pairs of that relation.
     */
    @SuppressWarnings("removal")
    private Set<Long> excluded(Request request, RelationParams relation) {
        Set<Long> out = new HashSet<>();
        Node node = request.node();
        if (request.excludeSelf()) {
            out.add(node.getId());
        }
        if (!request.excludeExisting()) {
            return out;
        }
        org.neo4j.graphdb.Direction dir = request.direction() == Direction.TAIL
                ? org.neo4j.graphdb.Direction.OUTGOING : org.neo4j.graphdb.Direction.INCOMING;
        for (Relationship fact : node.getRelationships(dir, org.neo4j.graphdb.RelationshipType.withName(
                relation.type()))) {
            out.add(fact.getOtherNodeId(node.getId()));
        }
        for (Relationship rejected : node.getRelationships(dir, Schema.REJECTED)) {
            if (Curation.sameRelation(rejected, relation.relation(), relation.type())) {
                out.add(rejected.getOtherNodeId(node.getId()));
            }
        }
        return out;
    }
}
