package org.vlkge.graph;

import org.neo4j.graphdb.Node;

/**
 * One relation of a run ({@code (:VlkgeRelation)}): the dataset relation name, the Neo4j relationship type of
 * its facts, and the backbone's relation vectors as stored, read from the node on first use (a run may have
 * hundreds of relations; a call needs one): {@code vector} (forward) and, for a reciprocal run,
 * {@code inverse_vector} (the relation's inverse, which head queries use).
 */
public final class RelationParams {
    private final String relation;
    private final String type;
    private final Node node;
    private double[] vector;
    private double[] inverseVector;
    private boolean read;
    private boolean inverseRead;

    public RelationParams(String relation, String type, Node node) {
        this.relation = relation;
        this.type = type;
        this.node = node;
    }

    public String relation() {
        return relation;
    }

    public String type() {
        return type;
    }

    /** Whether this relation is called {@code nameOrType}: its dataset name or its relationship type. */
    public boolean isCalled(String nameOrType) {
        return relation.equals(nameOrType) || type.equals(nameOrType);
    }

    /** The stored vector, or null if the node has none (or it is not numeric). */
    public double[] vector() {
        if (!read) {
            vector = Vectors.toDoubles(node.getProperty("vector", null));
            read = true;
        }
        return vector;
    }

    /** The stored {@code inverse_vector}, or null if the node has none (or it is not numeric). */
    public double[] inverseVector() {
        if (!inverseRead) {
            inverseVector = Vectors.toDoubles(node.getProperty("inverse_vector", null));
            inverseRead = true;
        }
        return inverseVector;
    }
}
