package org.vlkge.procedures;

import java.util.Map;
import java.util.Set;
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
import org.vlkge.graph.Predictor;
import org.vlkge.scoring.Direction;

/** {@code vlkge.predict(node, relation, config)}: live top-k link prediction. */
public class PredictProcedure {
    static final Set<String> KEYS = Set.of("k", "direction", "targetLabel", "excludeExisting", "excludeSelf", "runId");

    @Context
    public Transaction tx;

    @Context
    public GraphDatabaseService db;

    /** One row of {@code vlkge.predict}. */
    public static class Row {
        public Node node;
        public double score;
        public double probability;
        public long rank;

        Row(Predictor.Prediction p) {
            node = p.node();
            score = p.score();
            probability = p.probability();
            rank = p.rank();
        }
    }

    @Procedure(name = "vlkge.predict", mode = Mode.READ)
    @Description("vlkge.predict(node, relation, {k: 10, direction: 'tail'|'head', targetLabel, "
            + "excludeExisting: true, excludeSelf: true, runId}) YIELD node, score, probability, rank - "
            + "top-k entities completing (node, relation, ?) (or (?, relation, node)) under runId or else the "
            + "active run whose entity_labels cover the node")
    public Stream<Row> predict(@Name("node") Node node, @Name("relation") String relation,
                               @Name(value = "config", defaultValue = "{}") Map<String, Object> config) {
        if (node == null) {
            throw new VlkgeException("vlkge.predict: node must be a node, got null");
        }
        ConfigMap c = new ConfigMap("vlkge.predict", config, KEYS);
        Predictor.Request request = new Predictor.Request(node, relation, (int) c.integer("k", 10, 0, 100_000),
                Direction.fromKey(c.string("direction", "tail")), c.strings("targetLabel"),
                c.bool("excludeExisting", true), c.bool("excludeSelf", true), c.string("runId", null));
        return new Predictor(tx, db.databaseName(), EmbeddingCache.SHARED).predict(request).stream().map(Row::new);
    }
}
