package org.vlkge.procedures;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.neo4j.graphdb.Transaction;
import org.vlkge.graph.EmbeddingLoader;

/**
 * In-process timings of vlkge.predict over a WN18RR-sized label: reading the embeddings from the store, and
 * repeated calls. Not part of the default build; run with
 * {@code mvn -q -B test -Dtest=PredictTimingTest -Dgroups=timing -DexcludedGroups=none}. The benchmark of
 * record is benchmarks/bench_procedures.py (over Bolt, on the project's server).
 */
@Tag("timing")
class PredictTimingTest {
    @Test
    void predictOverFortyOneThousandEntities() {
        int n = Integer.getInteger("vlkge.timing.entities", 40_943);
        int dim = 256;
        try (Harness h = new Harness()) {
            String label = Harness.uniqueLabel();
            h.run("CREATE INDEX FOR (n:" + label + ") ON (n.key)", Map.of());
            h.run("CALL db.awaitIndexes(60)", Map.of());
            Fixture f = Fixture.create(h, label, Fixture.Spec.of("distmult", dim, 0, 2, false), 1, 1);
            Fixture t = Fixture.sameEntities(h, f, Fixture.Spec.of("transe", dim, 12, 1, true), 2);
            Random rng = new Random(1);
            for (int start = 1; start < n; start += 2000) {
                List<Map<String, Object>> rows = new ArrayList<>();
                for (int i = start; i < Math.min(n, start + 2000); i++) {
                    rows.add(Map.of("key", i, "e", Fixture.random(rng, dim, 0.3)));
                }
                h.run("UNWIND $rows AS row CREATE (n:" + label + " {key: row.key, vlkge_embedding_a: row.e})",
                        Map.of("rows", rows));
            }
            for (int rep = 0; rep < 3; rep++) {
                try (Transaction tx = h.db.beginTx()) {
                    long t0 = System.nanoTime();
                    int count = EmbeddingLoader.load(tx, List.of(label), Fixture.SLOT_A, dim).count();
                    System.out.printf("read %d embeddings from the store: %.1f ms%n", count,
                            (System.nanoTime() - t0) / 1e6);
                }
            }
            for (Fixture run : List.of(f, t)) {
                double[] ms = new double[40];
                for (int i = 0; i < ms.length; i++) {
                    long t0 = System.nanoTime();
                    h.rows("MATCH (n:" + label + " {key: $key}) CALL vlkge.predict(n, 'likes', {runId: $run}) "
                            + "YIELD node RETURN node.key", Map.of("key", i % n, "run", run.runId));
                    ms[i] = (System.nanoTime() - t0) / 1e6;
                }
                double[] warm = Arrays.copyOfRange(ms, 10, ms.length);
                Arrays.sort(warm);
                System.out.printf("%s vlkge.predict: first call %.1f ms; last 30 calls median %.1f ms, min %.1f ms%n",
                        run.spec.key(), ms[0], warm[warm.length / 2], warm[0]);
            }
        }
    }
}
