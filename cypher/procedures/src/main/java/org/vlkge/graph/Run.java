package org.vlkge.graph;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.vlkge.VlkgeException;
import org.vlkge.scoring.Backbone;
import org.vlkge.scoring.Direction;
import org.vlkge.scoring.Query;

/**
 * A published run as the procedures see it: the backbone with its parameters, the relation vectors,
 * where its entity embeddings live, and the descriptive properties of its {@code (:VlkgeRun)} node.
 *
 * @param generation the run's generation number: its candidates carry it ({@code generation}); several runs of
 *     a scope may share one. Null for a run published before generation numbers (a legacy run, until
 *     {@code vlkge-graph init} migrates it): its candidates carry its {@code run_id} instead
 * @param scope the graph the run was published for (each scope has its own active run); null if unnamed
 * @param embeddingProperty the entity property holding this run's embeddings ({@code vlkge_embedding_a} or
 *     {@code _b}; {@code vlkge_embedding} for a run that names none)
 * @param reciprocal whether head queries use each relation's {@code inverse_vector}
 * @param node all properties of the run node (for {@code vlkge.info})
 * @param byRelation relation parameters by dataset relation name
 * @param byType relation parameters by Neo4j relationship type (first one when several share a type)
 */
public record Run(String runId, Long generation, boolean active, String scope, String embeddingProperty,
                  boolean reciprocal, Backbone backbone, List<String> entityLabels, Map<String, Object> node,
                  Map<String, RelationParams> byRelation, Map<String, RelationParams> byType) {

    /** The relation named {@code nameOrType} (a dataset relation name first, else a relationship type), or null. */
    public RelationParams find(String nameOrType) {
        RelationParams params = byRelation.get(nameOrType);
        return params != null ? params : byType.get(nameOrType);
    }

    /**
     * The relation named {@code nameOrType}: a dataset relation name first, else a relationship type; its
     * forward vector is checked against the backbone's width.
     */
    public RelationParams relation(String nameOrType) {
        if (nameOrType == null || nameOrType.isEmpty()) {
            throw new VlkgeException("a relation name (or its relationship type) is required");
        }
        RelationParams params = find(nameOrType);
        if (params == null) {
            throw unknownRelation(nameOrType);
        }
        checkWidth(params, params.vector(), "vector");
        return params;
    }

    /** The error for a relation the run does not have, listing those it has. */
    public VlkgeException unknownRelation(String nameOrType) {
        List<String> known = new ArrayList<>(new TreeSet<>(byRelation.keySet()));
        String shown = known.size() > 20 ? known.subList(0, 20) + " ..." : known.toString();
        return new VlkgeException("unknown relation '" + nameOrType + "' in run '" + runId + "': expected a "
                + "relation name or relationship type of the run, one of " + shown);
    }

    /**
     * The query {@code (anchor, r, ?)} or {@code (?, r, anchor)}, as the Python {@code KGEModel} scores it: a
     * reciprocal run scores a head query as the tail query {@code (anchor, r^-1, ?)} with the relation's
     * {@code inverse_vector}.
     */
    public Query query(double[] anchor, RelationParams relation, Direction direction) {
        if (direction == Direction.HEAD && reciprocal) {
            checkWidth(relation, relation.inverseVector(), "inverse_vector");
            return backbone.query(anchor, relation.inverseVector(), Direction.TAIL);
        }
        return backbone.query(anchor, relation.vector(), direction);
    }

    /**
     * The score of {@code (head, relation, tail)} as its {@code direction} query scores it: the tail query
     * {@code (head, r, ?)}, or the head query {@code (?, r, tail)} (a reciprocal run's uses the inverse vector).
     */
    public double score(double[] head, RelationParams relation, double[] tail, Direction direction) {
        return direction == Direction.TAIL ? backbone.score(query(head, relation, direction), tail)
                : backbone.score(query(tail, relation, direction), head);
    }

    public int entityWidth() {
        return backbone.entityWidth();
    }

    private void checkWidth(RelationParams params, double[] vector, String property) {
        if (vector == null) {
            String why = property.equals("inverse_vector")
                    ? " but the run is reciprocal: head queries need it (republish the run)" : "";
            throw new VlkgeException("relation '" + params.relation() + "' of run '" + runId + "' has no numeric "
                    + property + why);
        }
        if (vector.length != backbone.relationWidth()) {
            throw new VlkgeException("dimension mismatch: relation '" + params.relation() + "' of run '" + runId
                    + "' has " + vector.length + " values in its " + property + " but the "
                    + backbone.key() + " backbone (dim " + backbone.dim() + ") expects "
                    + backbone.relationWidth());
        }
    }
}
