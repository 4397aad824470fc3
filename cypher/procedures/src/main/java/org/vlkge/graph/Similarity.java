package org.vlkge.graph;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.neo4j.graphdb.Label;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Result;
import org.neo4j.graphdb.Transaction;
import org.neo4j.graphdb.schema.IndexDefinition;
import org.neo4j.graphdb.schema.IndexSetting;
import org.neo4j.graphdb.schema.IndexType;
import org.neo4j.graphdb.schema.Schema.IndexState;
import org.vlkge.scoring.EmbeddingBlock;
import org.vlkge.scoring.Query;
import org.vlkge.scoring.Ranker;

/**
 * Nearest entities by cosine of the run's embedding property (its slot): through the run's online cosine
 * vector index {@code vlkge_<slot>_<Label>} on one of the node's entity labels, else an exact scan over the
 * nodes of those labels. The run is the one named by {@code runId}, else the active run covering the node.
 * The index search is approximate (HNSW): it is asked for {@code 2k + 10} neighbours, which are re-ranked by
 * exact cosine. Scores are the exact cosine similarity in [-1, 1] either way.
 */
public final class Similarity {
    /** One neighbour. */
    public record Neighbour(Node node, double score) {
    }

    private static final String QUERY_INDEX =
            "CALL db.index.vector.queryNodes($index, $k, $vector) YIELD node RETURN node";

    private final Transaction tx;
    private final String database;
    private final EmbeddingCache cache;

    public Similarity(Transaction tx, String database, EmbeddingCache cache) {
        this.tx = tx;
        this.database = database;
        this.cache = cache;
    }

    public List<Neighbour> similar(Node node, int k, String runId) {
        Run run = RunLoader.forNodes(tx, runId, node);
        String property = run.embeddingProperty();
        double[] v = Vectors.toDoubles(node.getProperty(property, null));
        if (v == null) {
            throw Vectors.missingEmbedding(node, run);
        }
        if (k <= 0) {
            return List.of();
        }
        List<String> labels = new ArrayList<>();
        for (String label : run.entityLabels()) {
            if (node.hasLabel(Label.label(label))) {
                labels.add(label);
            }
        }
        if (labels.isEmpty()) { // a node outside the run's labels, asked about with an explicit runId
            labels.addAll(run.entityLabels());
        }
        String index = findIndex(property, labels, v.length);
        return index != null ? viaIndex(index, property, node, v, k) : exact(labels, property, node, v, k);
    }

    /**
     * The first online cosine vector index {@code vlkge_<property>_<label>} over {@code property} on one of
     * {@code labels} (in order) with {@code width} dimensions, or null.
     */
    public String findIndex(String property, List<String> labels, int width) {
        for (String label : labels) {
            String name = Schema.indexName(property, label);
            IndexDefinition index;
            try {
                index = tx.schema().getIndexByName(name);
            } catch (IllegalArgumentException none) {
                continue;
            }
            if (usable(index, property, label, width)) {
                return name;
            }
        }
        return null;
    }

    private boolean usable(IndexDefinition index, String property, String label, int width) {
        if (index.getIndexType() != IndexType.VECTOR || !index.isNodeIndex() || index.isMultiTokenIndex()) {
            return false;
        }
        List<String> keys = new ArrayList<>();
        index.getPropertyKeys().forEach(keys::add);
        if (!keys.equals(List.of(property)) || !index.getLabels().iterator().next().name().equals(label)) {
            return false;
        }
        Map<IndexSetting, Object> settings = index.getIndexConfiguration();
        Object function = settings.get(IndexSetting.vector_Similarity_Function());
        Object dims = settings.get(IndexSetting.vector_Dimensions());
        if (function != null && !"COSINE".equalsIgnoreCase(function.toString())) {
            return false;
        }
        if (dims instanceof Number n && n.intValue() != width) {
            return false;
        }
        return tx.schema().getIndexState(index) == IndexState.ONLINE;
    }

    private List<Neighbour> viaIndex(String index, String property, Node node, double[] v, int k) {
        List<Neighbour> out = new ArrayList<>();
        double vNorm = Math.sqrt(dot(v, v));
        try (Result result = tx.execute(QUERY_INDEX, Map.of("index", index, "k", overFetch(k), "vector", v))) {
            while (result.hasNext()) {
                Node other = (Node) result.next().get("node");
                if (other.equals(node)) {
                    continue;
                }
                double[] w = Vectors.toDoubles(other.getProperty(property, null));
                if (w == null || w.length != v.length) {
                    continue;
                }
                out.add(new Neighbour(other, cosine(dot(v, w), vNorm, Math.sqrt(dot(w, w)))));
            }
        }
        out.sort((a, b) -> Double.compare(b.score(), a.score()));
        return out.size() > k ? out.subList(0, k) : out;
    }

    @SuppressWarnings("removal") // internal node ids, as the embedding block stores them
    private List<Neighbour> exact(List<String> labels, String property, Node node, double[] v, int k) {
        EmbeddingBlock block = cache.block(tx, database, labels, property, v.length);
        long self = node.getId();
        Ranker.Ranked top = Ranker.top(block, Query.cosine(v), k, id -> id == self);
        List<Neighbour> out = new ArrayList<>();
        for (int i = 0; i < top.size(); i++) {
            out.add(new Neighbour(tx.getNodeById(block.id(top.rows()[i])), top.scores()[i]));
        }
        return out;
    }

    /** How many neighbours to ask the (approximate) index for, to re-rank exactly. */
    static int overFetch(int k) {
        return (int) Math.min(2L * k + 10, 100_000);
    }

    private static double dot(double[] a, double[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) {
            s += a[i] * b[i];
        }
        return s;
    }

    private static double cosine(double dot, double na, double nb) {
        return na == 0 || nb == 0 ? 0 : dot / (na * nb);
    }
}
