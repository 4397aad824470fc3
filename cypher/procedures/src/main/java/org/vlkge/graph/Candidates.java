package org.vlkge.graph;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Relationship;
import org.vlkge.VlkgeException;
import org.vlkge.scoring.Direction;

/**
 * The visible published candidates of a node: those of the active runs (one per scope), or of a given run. A
 * candidate belongs to the runs holding its {@code generation}; a legacy run (no generation, published before
 * generation numbers and not migrated yet) holds the candidates carrying its {@code run_id}.
 */
public final class Candidates {
    /**
     * @param relation a relation name or relationship type, or null for all
     * @param direction {@code tail}: candidates where the node is the head; {@code head}: where it is the
     *     tail; null: both
     */
    public record Filter(String relation, Double minScore, Direction direction, long limit) {
    }

    /** One candidate relationship, the node at its other end, its relation and score. */
    public record Candidate(Relationship candidate, Node other, String relation, double score) {
    }

    private Candidates() {
    }

    /** The node's candidates of {@code runs} (by generation) that pass the filter, best first. */
    public static List<Candidate> of(List<Run> runs, Node node, Filter filter) {
        // generation (or a legacy run's id) -> the relation name wanted in that run (null: any relation)
        Map<Object, String> wanted = new HashMap<>();
        for (Run run : runs) {
            RelationParams relation = filter.relation() == null ? null : run.find(filter.relation());
            if (filter.relation() == null || relation != null) {
                wanted.put(run.generation() != null ? run.generation() : run.runId(),
                        relation == null ? null : relation.relation());
            }
        }
        if (filter.relation() != null && wanted.isEmpty()) {
            if (runs.size() == 1) {
                throw runs.get(0).unknownRelation(filter.relation());
            }
            TreeSet<String> known = new TreeSet<>();
            runs.forEach(r -> known.addAll(r.byRelation().keySet()));
            throw new VlkgeException("unknown relation '" + filter.relation() + "': no active run has it (as a "
                    + "relation name or relationship type); they have " + known);
        }
        org.neo4j.graphdb.Direction dir = filter.direction() == null ? org.neo4j.graphdb.Direction.BOTH
                : filter.direction() == Direction.TAIL ? org.neo4j.graphdb.Direction.OUTGOING
                : org.neo4j.graphdb.Direction.INCOMING;
        List<Candidate> out = new ArrayList<>();
        for (Relationship c : node.getRelationships(dir, Schema.CANDIDATE)) {
            Object id = key(c);
            if (id == null || !wanted.containsKey(id)) {
                continue;
            }
            String name = (String) c.getProperty("relation", null);
            String relation = wanted.get(id);
            if (relation != null && !relation.equals(name)) {
                continue;
            }
            Object score = c.getProperty("score", null);
            double s = score instanceof Number n ? n.doubleValue() : Double.NaN;
            if (filter.minScore() != null && !(s >= filter.minScore())) {
                continue;
            }
            out.add(new Candidate(c, c.getOtherNode(node), name, s));
        }
        out.sort(Comparator.comparingDouble(Candidate::score).reversed());
        return filter.limit() < out.size() ? out.subList(0, (int) filter.limit()) : out;
    }

    /** What ties a candidate to its runs: its generation (a Long), else a legacy candidate's run id; or null. */
    private static Object key(Relationship candidate) {
        Object generation = candidate.getProperty(Schema.GENERATION, null);
        if (generation instanceof Number g) {
            return g.longValue();
        }
        return candidate.getProperty(Schema.RUN_ID, null) instanceof String id ? id : null;
    }
}
