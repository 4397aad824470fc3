package org.vlkge.graph;

import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Transaction;
import org.neo4j.graphdb.event.LabelEntry;
import org.neo4j.graphdb.event.PropertyEntry;
import org.neo4j.graphdb.event.TransactionData;
import org.neo4j.graphdb.event.TransactionEventListener;

/**
 * Reports each commit's embedding changes (node ids by property, for every property named
 * {@code vlkge_embedding*}: both publish slots and the unslotted one) and label changes to the
 * {@link EmbeddingCache}.
 */
public final class EmbeddingChangeListener implements TransactionEventListener<Void> {
    private final EmbeddingCache cache;

    public EmbeddingChangeListener(EmbeddingCache cache) {
        this.cache = cache;
    }

    @Override
    public Void beforeCommit(TransactionData data, Transaction transaction, GraphDatabaseService db) {
        return null;
    }

    @Override
    @SuppressWarnings("removal") // internal node ids, as the embedding blocks store them
    public void afterCommit(TransactionData data, Void state, GraphDatabaseService db) {
        Map<String, Set<Long>> labels = new HashMap<>();
        for (Iterable<LabelEntry> entries : java.util.List.of(data.assignedLabels(), data.removedLabels())) {
            for (LabelEntry e : entries) {
                labels.computeIfAbsent(e.label().name(), l -> new HashSet<>()).add(e.node().getId());
            }
        }
        Map<String, Set<Long>> embeddings = new HashMap<>();
        for (Iterable<PropertyEntry<Node>> entries : java.util.List.of(data.assignedNodeProperties(),
                data.removedNodeProperties())) {
            for (PropertyEntry<Node> e : entries) {
                if (Schema.isEmbedding(e.key())) {
                    embeddings.computeIfAbsent(e.key(), k -> new HashSet<>()).add(e.entity().getId());
                }
            }
        }
        cache.changed(db.databaseName(), embeddings, labels);
    }

    @Override
    public void afterRollback(TransactionData data, Void state, GraphDatabaseService db) {
    }
}
