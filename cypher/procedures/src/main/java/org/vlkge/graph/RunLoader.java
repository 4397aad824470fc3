package org.vlkge.graph;

import java.time.Instant;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.neo4j.graphdb.Direction;
import org.neo4j.graphdb.Label;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Relationship;
import org.neo4j.graphdb.ResourceIterator;
import org.neo4j.graphdb.Transaction;
import org.vlkge.VlkgeException;
import org.vlkge.scoring.Backbone;
import org.vlkge.scoring.BackboneOptions;
import org.vlkge.scoring.backbones.Backbones;

/**
 * Loads runs and their relation vectors from the graph, and picks the run a call uses: the one named by
 * {@code runId}, else an active run. Each scope has its own active run, so several runs may be active at
 * once; a call about nodes uses the active run whose {@code entity_labels} cover them (the most recently
 * published one when several do).
 */
public final class RunLoader {
    /** Most recently published first (ties: run id descending). */
    private static final Comparator<Node> NEWEST_FIRST = Comparator
            .comparing((Node n) -> instant(n.getProperty("published_at", null)))
            .thenComparing(n -> String.valueOf(n.getProperty(Schema.RUN_ID, ""))).reversed();

    private RunLoader() {
    }

    /** The run {@code runId}. */
    public static Run byId(Transaction tx, String runId) {
        Node node = tx.findNode(Schema.RUN, "run_id", runId);
        if (node == null) {
            throw new VlkgeException("missing run: no (:VlkgeRun {run_id: '" + runId + "'}) in this database");
        }
        if ("failed".equals(node.getProperty("status", null))) {
            throw new VlkgeException("run '" + runId + "' failed while publishing; its parameters are incomplete");
        }
        return fromNode(node);
    }

    /** The run {@code runId} when given, else every active run (one per scope), newest first; never empty. */
    public static List<Run> runs(Transaction tx, String runId) {
        if (given(runId)) {
            return List.of(byId(tx, runId));
        }
        return activeNodes(tx).stream().map(RunLoader::fromNode).toList();
    }

    /**
     * The run {@code runId} when given; else the active run whose {@code entity_labels} contain a label of
     * every node (else of the first node, else of any), the most recently published when several do.
     */
    public static Run forNodes(Transaction tx, String runId, Node... nodes) {
        if (given(runId)) {
            return byId(tx, runId);
        }
        List<Node> active = activeNodes(tx); // only the chosen run's relations are read
        List<List<Node>> tiers = List.of(
                active.stream().filter(r -> Arrays.stream(nodes).allMatch(n -> covers(r, n))).toList(),
                active.stream().filter(r -> covers(r, nodes[0])).toList(),
                active.stream().filter(r -> Arrays.stream(nodes).anyMatch(n -> covers(r, n))).toList());
        for (List<Node> tier : tiers) {
            if (!tier.isEmpty()) {
                return fromNode(tier.get(0)); // newest first
            }
        }
        List<String> labels = new ArrayList<>();
        for (Node node : nodes) {
            for (Label label : node.getLabels()) {
                if (!labels.contains(label.name())) {
                    labels.add(label.name());
                }
            }
        }
        List<String> shown = active.stream().limit(10).map(r -> "'" + r.getProperty("run_id", "?") + "' (scope "
                + r.getProperty("scope", null) + ", entity_labels " + entityLabels(r) + ")").toList();
        throw new VlkgeException("no active run covers " + (nodes.length == 1 ? Vectors.describe(nodes[0])
                : "these nodes") + ": no active (:VlkgeRun) has one of the labels " + labels + " in its "
                + "entity_labels (active runs: " + String.join(", ", shown) + (active.size() > 10 ? ", ..." : "")
                + "); publish a run over these labels (vlkge-graph sync) or pass a runId");
    }

    /**
     * The run id a candidate belongs to: that of the run holding its {@code generation} (the active one first,
     * else the most recently published; runs of a scope may share a generation), or a legacy candidate's own
     * {@code run_id}; null when no run holds it.
     */
    public static String runIdOf(Transaction tx, Relationship candidate) {
        if (!(candidate.getProperty(Schema.GENERATION, null) instanceof Number generation)) {
            return candidate.getProperty(Schema.RUN_ID, null) instanceof String id ? id : null;
        }
        List<Node> holders = new ArrayList<>();
        try (ResourceIterator<Node> it = tx.findNodes(Schema.RUN, Schema.GENERATION, generation.longValue())) {
            it.forEachRemaining(holders::add);
        }
        holders.sort(NEWEST_FIRST);
        Node best = holders.stream().filter(n -> Boolean.TRUE.equals(n.getProperty("active", null))).findFirst()
                .orElse(holders.isEmpty() ? null : holders.get(0));
        return best == null ? null : (String) best.getProperty(Schema.RUN_ID, null);
    }

    /** The active run nodes, most recently published first (ties: run id descending); never empty. */
    private static List<Node> activeNodes(Transaction tx) {
        List<Node> out = new ArrayList<>();
        try (ResourceIterator<Node> it = tx.findNodes(Schema.RUN, "active", true)) {
            it.forEachRemaining(out::add);
        }
        if (out.isEmpty()) {
            throw new VlkgeException("missing run: no active (:VlkgeRun) in this database; publish one with "
                    + "`vlkge-graph sync`, or pass a runId");
        }
        out.sort(NEWEST_FIRST);
        return out;
    }

    private static boolean covers(Node run, Node entity) {
        List<String> labels = entityLabels(run);
        for (Label label : entity.getLabels()) {
            if (labels.contains(label.name())) {
                return true;
            }
        }
        return false;
    }

    private static List<String> entityLabels(Node run) {
        return run.getProperty("entity_labels", null) instanceof String[] l ? Arrays.asList(l) : List.of();
    }

    private static boolean given(String runId) {
        return runId != null && !runId.isEmpty();
    }

    static Run fromNode(Node node) {
        Map<String, Object> props = node.getAllProperties();
        String runId = string(props, "run_id", null);
        if (runId == null) {
            throw new VlkgeException("a (:VlkgeRun) node has no run_id");
        }
        Backbone backbone = Backbones.create(new BackboneOptions("run '" + runId + "'", props));

        Map<String, RelationParams> byRelation = new HashMap<>();
        Map<String, RelationParams> byType = new HashMap<>();
        for (Relationship has : node.getRelationships(Direction.OUTGOING, Schema.HAS_RELATION,
                Schema.LEGACY_HAS_RELATION)) {
            Node rel = has.getEndNode();
            if (!rel.hasLabel(Schema.RELATION)) {
                continue;
            }
            String name = (String) rel.getProperty("relation", null);
            if (name == null) {
                continue;
            }
            String type = (String) rel.getProperty("type", name);
            RelationParams params = new RelationParams(name, type, rel);
            byRelation.put(name, params);
            byType.putIfAbsent(type, params);
        }
        List<String> labels = entityLabels(node);
        boolean active = Boolean.TRUE.equals(props.get("active"));
        Long generation = props.get(Schema.GENERATION) instanceof Number g ? g.longValue() : null;
        return new Run(runId, generation, active, string(props, "scope", null), embeddingProperty(props, runId),
                Boolean.TRUE.equals(props.get("reciprocal")), backbone,
                labels, new LinkedHashMap<>(props), byRelation, byType);
    }

    /**
     * The run's {@code embedding_property}; {@code vlkge_embedding} when it names none. It must be an
     * embedding property ({@code vlkge_embedding*}): those are the ones whose changes the cache follows.
     */
    private static String embeddingProperty(Map<String, Object> props, String runId) {
        Object v = props.get("embedding_property");
        if (v == null) {
            return Schema.DEFAULT_EMBEDDING;
        }
        if (!(v instanceof String s) || !Schema.isEmbedding(s)) {
            throw new VlkgeException("run '" + runId + "' has embedding_property " + v + ", which is not an entity "
                    + "embedding property: expected vlkge_embedding_a or vlkge_embedding_b (docs/graph-model.md)");
        }
        return s;
    }

    /** A {@code published_at} value as an instant; {@link Instant#MIN} (oldest) when absent or not a datetime. */
    private static Instant instant(Object value) {
        if (value instanceof ZonedDateTime z) {
            return z.toInstant();
        }
        if (value instanceof OffsetDateTime o) {
            return o.toInstant();
        }
        if (value instanceof LocalDateTime l) {
            return l.toInstant(ZoneOffset.UTC);
        }
        return Instant.MIN;
    }

    private static String string(Map<String, Object> props, String key, String fallback) {
        Object v = props.get(key);
        return v instanceof String s ? s : fallback;
    }
}
