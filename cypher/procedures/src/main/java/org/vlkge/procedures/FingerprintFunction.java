package org.vlkge.procedures;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.UserAggregationFunction;
import org.neo4j.procedure.UserAggregationResult;
import org.neo4j.procedure.UserAggregationUpdate;
import org.vlkge.VlkgeException;
import org.vlkge.graph.Digest;

/**
 * {@code vlkge.fingerprint(entity, facts)}: an order-independent digest of a graph, computed where the graph
 * is. vlkge-graph's change detection compares it with the same digest of a run's snapshot, so "nothing
 * changed" needs no export. Cypher has no hash function, hence this aggregation.
 */
public class FingerprintFunction {

    @UserAggregationFunction(name = "vlkge.fingerprint")
    @Description("vlkge.fingerprint(entity, facts) - aggregates entity rows [key, text, images(, name)] and each "
            + "entity's distinct outgoing facts [[type, tailKey], ...] into {entities, facts, entityDigest, "
            + "factDigest}: counts and sums (mod 2^64) of 64-bit SHA-256 digests, independent of row order")
    public Aggregator fingerprint() {
        return new Aggregator();
    }

    /** Counts and digest sums; a fact is digested as [headKey, type, tailKey]. */
    public static class Aggregator {
        private final Digest digest = new Digest();
        private long entities;
        private long facts;
        private long entitySum;
        private long factSum;

        @UserAggregationUpdate
        public void update(@Name("entity") List<Object> entity, @Name("facts") List<Object> entityFacts) {
            if (entity == null || entity.isEmpty()) {
                throw new VlkgeException("vlkge.fingerprint: entity must be a list starting with the key, got "
                        + entity);
            }
            entities++;
            entitySum += digest.of(entity);
            if (entityFacts == null) {
                return;
            }
            Object head = entity.get(0);
            for (Object fact : entityFacts) {
                if (!(fact instanceof List<?> pair) || pair.size() != 2) {
                    throw new VlkgeException("vlkge.fingerprint: each fact must be [type, tailKey], got " + fact);
                }
                facts++;
                factSum += digest.of(Arrays.asList(head, pair.get(0), pair.get(1)));
            }
        }

        @UserAggregationResult
        public Map<String, Object> result() {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("entities", entities);
            out.put("facts", facts);
            out.put("entityDigest", Digest.hex(entitySum));
            out.put("factDigest", Digest.hex(factSum));
            return out;
        }
    }
}
