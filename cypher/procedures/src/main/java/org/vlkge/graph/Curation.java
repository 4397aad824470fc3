package org.vlkge.graph;

import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.Objects;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Relationship;
import org.neo4j.graphdb.RelationshipType;
import org.vlkge.VlkgeException;

/**
 * Accepting and rejecting published candidates (docs/graph-model.md, "Curation"). Both remove the
 * candidate; accept creates the real fact with provenance, reject records a {@code VLKGE_REJECTED} link
 * that keeps the pair out of predictions and makes it a hard negative for training.
 */
public final class Curation {
    private Curation() {
    }

    /**
     * Creates {@code (head)-[:<type> {vlkge_accepted_at, vlkge_run_id, vlkge_score}]->(tail)}; returns it.
     * {@code runId} is the candidate's run ({@link RunLoader#runIdOf}); null leaves {@code vlkge_run_id} out.
     */
    public static Relationship accept(Relationship candidate, String runId) {
        checkCandidate(candidate);
        String type = type(candidate);
        Node head = candidate.getStartNode();
        Node tail = candidate.getEndNode();
        Relationship fact = existing(head, tail, RelationshipType.withName(type));
        if (fact == null) { // an existing fact is the user's: kept as it is
            fact = head.createRelationshipTo(tail, RelationshipType.withName(type));
            fact.setProperty(Schema.ACCEPTED_AT, now());
            if (runId != null) {
                fact.setProperty(Schema.ACCEPTED_RUN_ID, runId);
            }
            copy(candidate, "score", fact, Schema.ACCEPTED_SCORE);
        }
        candidate.delete();
        return fact;
    }

    /**
     * Records {@code (head)-[:VLKGE_REJECTED {relation, type, reason, rejected_at, run_id, score}]->(tail)};
     * {@code runId} as for {@link #accept}.
     */
    public static Relationship reject(Relationship candidate, String reason, String runId) {
        checkCandidate(candidate);
        String type = type(candidate);
        String relation = (String) candidate.getProperty("relation", type);
        Node head = candidate.getStartNode();
        Node tail = candidate.getEndNode();
        Relationship rejected = null;
        for (Relationship r : head.getRelationships(org.neo4j.graphdb.Direction.OUTGOING, Schema.REJECTED)) {
            if (r.getEndNode().equals(tail) && sameRelation(r, relation, type)) {
                rejected = r;
                break;
            }
        }
        if (rejected == null) {
            rejected = head.createRelationshipTo(tail, Schema.REJECTED);
        }
        rejected.setProperty("relation", relation);
        rejected.setProperty("type", type);
        if (reason != null) {
            rejected.setProperty("reason", reason);
        } else {
            rejected.removeProperty("reason");
        }
        rejected.setProperty("rejected_at", now());
        if (runId != null) {
            rejected.setProperty(Schema.RUN_ID, runId);
        }
        copy(candidate, "score", rejected, "score");
        candidate.delete();
        return rejected;
    }

    /** Whether a {@code VLKGE_REJECTED} link is about this relation (by name, else by type). */
    static boolean sameRelation(Relationship rejected, String relation, String type) {
        Object r = rejected.getProperty("relation", null);
        if (r != null) {
            return Objects.equals(r, relation);
        }
        return Objects.equals(rejected.getProperty("type", null), type);
    }

    private static Relationship existing(Node head, Node tail, RelationshipType type) {
        for (Relationship r : head.getRelationships(org.neo4j.graphdb.Direction.OUTGOING, type)) {
            if (r.getEndNode().equals(tail)) {
                return r;
            }
        }
        return null;
    }

    private static void checkCandidate(Relationship candidate) {
        if (candidate == null) {
            throw new VlkgeException("a VLKGE_CANDIDATE relationship is required, got null");
        }
        if (!candidate.isType(Schema.CANDIDATE)) {
            throw new VlkgeException(Vectors.describe(candidate) + " is a " + candidate.getType().name()
                    + " relationship, not a VLKGE_CANDIDATE");
        }
    }

    private static String type(Relationship candidate) {
        Object type = candidate.getProperty("type", null);
        if (!(type instanceof String s) || s.isBlank()) {
            throw new VlkgeException(Vectors.describe(candidate) + " has no 'type' property: cannot tell which "
                    + "relationship type the fact has");
        }
        return s;
    }

    private static void copy(Relationship from, String key, Relationship to, String as) {
        Object value = from.getProperty(key, null);
        if (value != null) {
            to.setProperty(as, value);
        }
    }

    private static ZonedDateTime now() {
        return ZonedDateTime.now(ZoneOffset.UTC);
    }
}
