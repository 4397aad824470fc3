package org.vlkge.procedures;

import java.util.stream.Stream;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Transaction;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;
import org.vlkge.VlkgeException;
import org.vlkge.graph.EmbeddingCache;
import org.vlkge.graph.Similarity;

/** {@code vlkge.similar(node, k)}: nearest entities by embedding cosine. */
public class SimilarProcedure {
    @Context
    public Transaction tx;

    @Context
    public GraphDatabaseService db;

    /** One row of {@code vlkge.similar}. */
    public static class Row {
        public Node node;
        public double score;

        Row(Similarity.Neighbour n) {
            node = n.node();
            score = n.score();
        }
    }

    @Procedure(name = "vlkge.similar", mode = Mode.READ)
    @Description("vlkge.similar(node, k = 10 [, runId]) YIELD node, score - the k entities whose embedding (the "
            + "slot of runId, or else of the active run covering the node) is nearest by cosine (score in "
            + "[-1, 1]); uses the run's vector index vlkge_<slot>_<Label> when online")
    public Stream<Row> similar(@Name("node") Node node, @Name(value = "k", defaultValue = "10") long k,
                               @Name(value = "runId", defaultValue = "") String runId) {
        if (node == null) {
            throw new VlkgeException("vlkge.similar: node must be a node, got null");
        }
        if (k < 0 || k > 100_000) {
            throw new VlkgeException("vlkge.similar: k must be between 0 and 100000, got " + k);
        }
        return new Similarity(tx, db.databaseName(), EmbeddingCache.SHARED).similar(node, (int) k, runId).stream()
                .map(Row::new);
    }
}
