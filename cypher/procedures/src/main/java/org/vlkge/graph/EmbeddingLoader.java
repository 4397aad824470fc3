package org.vlkge.graph;

import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.neo4j.graphdb.Label;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.NotFoundException;
import org.neo4j.graphdb.ResourceIterator;
import org.neo4j.graphdb.Transaction;
import org.vlkge.scoring.EmbeddingBlock;

/**
 * Reads one embedding property (a run's {@code embedding_property}) of every node with one of the given labels
 * (every node when none) into one {@link EmbeddingBlock}. Nodes whose embedding has another width are counted,
 * not loaded.
 */
public final class EmbeddingLoader {
    private static final int INITIAL_ROWS = 1024;

    private EmbeddingLoader() {
    }

    @SuppressWarnings("removal") // internal node ids: compact, and valid within the transaction
    public static EmbeddingBlock load(Transaction tx, List<String> labels, String property, int width) {
        Builder builder = new Builder(width);
        if (labels.isEmpty()) {
            try (ResourceIterator<Node> nodes = tx.getAllNodes().iterator()) {
                nodes.forEachRemaining(n -> builder.add(n.getId(), n.getProperty(property, null)));
            }
        } else {
            Set<Long> seen = labels.size() > 1 ? new HashSet<>() : null;
            for (String label : labels) {
                try (ResourceIterator<Node> nodes = tx.findNodes(Label.label(label))) {
                    while (nodes.hasNext()) {
                        Node n = nodes.next();
                        if (seen == null || seen.add(n.getId())) {
                            builder.add(n.getId(), n.getProperty(property, null));
                        }
                    }
                }
            }
        }
        return builder.build();
    }

    /**
     * The current vectors of the given nodes for a block over {@code labels} (all nodes when empty): a node
     * that no longer exists, lacks the labels, or has no {@code property} of {@code width} maps to null.
     */
    @SuppressWarnings("removal")
    public static Map<Long, float[]> read(Transaction tx, Set<Long> ids, List<String> labels, String property,
                                         int width) {
        Map<Long, float[]> out = new HashMap<>();
        for (long id : ids) {
            float[] v = null;
            try {
                Node node = tx.getNodeById(id);
                if (labels.isEmpty() || labels.stream().anyMatch(l -> node.hasLabel(Label.label(l)))) {
                    float[] candidate = new float[width];
                    if (Vectors.copyAsFloats(node.getProperty(property, null), width, candidate, 0)) {
                        v = candidate;
                    }
                }
            } catch (NotFoundException deleted) {
                // gone: removed from the block
            }
            out.put(id, v);
        }
        return out;
    }

    /** Appends rows to growing arrays. */
    static final class Builder {
        private final int width;
        private long[] ids = new long[INITIAL_ROWS];
        private float[] data;
        private int count;
        private int skipped;

        Builder(int width) {
            this.width = width;
            this.data = new float[INITIAL_ROWS * width];
        }

        void add(long id, Object embedding) {
            if (embedding == null) {
                return;
            }
            if (count == ids.length) {
                int rows = ids.length * 2;
                ids = Arrays.copyOf(ids, rows);
                data = Arrays.copyOf(data, rows * width);
            }
            if (Vectors.copyAsFloats(embedding, width, data, count * width)) {
                ids[count++] = id;
            } else {
                skipped++;
            }
        }

        EmbeddingBlock build() {
            return new EmbeddingBlock(ids, data, width, count, skipped);
        }
    }
}
