package org.vlkge.procedures;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.neo4j.graphdb.Label;
import org.neo4j.graphdb.Node;
import org.neo4j.graphdb.Transaction;
import org.vlkge.graph.Digest;
import org.vlkge.graph.EmbeddingCache;
import org.vlkge.graph.Schema;
import org.vlkge.scoring.Direction;
import org.vlkge.scoring.ScoreVectorsTest;

/** Every vlkge procedure and function on an in-process Neo4j (neo4j-harness), including each error case. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ProceduresTest {
    private static final double TOL = 1e-4;
    private static final String PREDICT = "MATCH (n:%s {key: $key}) CALL vlkge.predict(n, $relation, $config) "
            + "YIELD node, score, probability, rank RETURN node.key AS key, score, probability, rank";

    private Harness h;

    @BeforeAll
    void start() {
        h = new Harness();
    }

    @AfterAll
    void stop() {
        h.close();
    }

    private Fixture fixture(String backbone, int dim, double gamma, int p, boolean normalize, int n, long seed) {
        return Fixture.create(h, Harness.uniqueLabel(), Fixture.Spec.of(backbone, dim, gamma, p, normalize), n, seed);
    }

    private List<Map<String, Object>> predict(Fixture f, int key, String relation, Map<String, Object> config) {
        Map<String, Object> cfg = new HashMap<>(config);
        cfg.putIfAbsent("runId", f.runId);
        return h.rows(String.format(PREDICT, f.label), Map.of("key", key, "relation", relation, "config", cfg));
    }

    private static List<Integer> keys(List<Map<String, Object>> rows) {
        return rows.stream().map(r -> ((Number) r.get("key")).intValue()).toList();
    }

    /** The message of the innermost cause (the procedure's own exception). */
    private String error(String cypher, Map<String, Object> params) {
        Exception e = assertThrows(Exception.class, () -> h.rows(cypher, params));
        Throwable t = e;
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage();
    }

    // ---- registration -------------------------------------------------------------------------------

    @Test
    void registeredUnderTheAllowlistWithTheRightModes() {
        Map<String, String> modes = new TreeMap<>();
        for (Map<String, Object> row : h.rows("SHOW PROCEDURES YIELD name, mode WHERE name STARTS WITH 'vlkge.' "
                + "RETURN name, mode")) {
            modes.put((String) row.get("name"), (String) row.get("mode"));
        }
        assertEquals(Map.of("vlkge.accept", "WRITE", "vlkge.candidates", "READ", "vlkge.info", "READ",
                "vlkge.predict", "READ", "vlkge.reject", "WRITE", "vlkge.similar", "READ"), modes);
        assertEquals(1L, h.single("SHOW FUNCTIONS YIELD name WHERE name = 'vlkge.score' RETURN count(*)", Map.of()));
    }

    // ---- vlkge.fingerprint --------------------------------------------------------------------------

    /** The digests vlkge_graph/jobs/fingerprint.py computes for the same rows (printed by its digest()). */
    @Test
    void fingerprintMatchesThePythonDigestsWhateverTheRowOrder() {
        String label = Harness.uniqueLabel();
        h.run("CREATE (:" + label + " {id: 'e1', text: $text, images: ['a.png', 'https://x/y.jpg']}), "
                + "(:" + label + " {id: 'e2'}), (:" + label + " {id: 'e3', text: '  '})",
                Map.of("text", "h\u00e9llo\nworld"));
        h.run("MATCH (a:" + label + " {id: 'e1'}), (b:" + label + " {id: 'e2'}) CREATE (a)-[:R]->(b), (a)-[:R]->(b)",
                Map.of());
        String query = "MATCH (n:" + label + ") WHERE n.id <> 'e3' WITH n ORDER BY n.id %s "
                + "OPTIONAL MATCH (n)-[r]->(t) WITH n, collect(DISTINCT CASE WHEN r IS NOT NULL "
                + "THEN [type(r), t.id] END) + CASE WHEN n.id = 'e1' THEN [['R', 'e3']] ELSE [] END AS facts "
                + "RETURN vlkge.fingerprint([n.id, CASE WHEN trim(coalesce(n.text, '')) <> '' THEN n.text END, "
                + "coalesce(n.images, [])], facts) AS fp";
        for (String order : List.of("ASC", "DESC")) {
            @SuppressWarnings("unchecked")
            Map<String, Object> fp = (Map<String, Object>) h.single(String.format(query, order), Map.of());
            assertEquals(Map.of("entities", 2L, "facts", 2L, "entityDigest", "bf6f6a596609a0b4",
                    "factDigest", "839cfd788a359acb"), fp);
        }
        assertEquals(Map.of("entities", 0L, "facts", 0L, "entityDigest", "0000000000000000",
                "factDigest", "0000000000000000"),
                h.single("MATCH (n:" + label + ") WHERE false RETURN vlkge.fingerprint([n.id], []) AS fp", Map.of()));
        assertEquals("f27afbf201f56739", Digest.hex(new Digest().of(Arrays.asList(7L, null, List.of("x")))));
        assertTrue(error("RETURN vlkge.fingerprint([1.5], []) AS fp", Map.of()).contains("wrap numbers in toString()"));
        assertTrue(error("RETURN vlkge.fingerprint(['k'], ['R']) AS fp", Map.of()).contains("[type, tailKey]"));
    }

    // ---- vlkge.score --------------------------------------------------------------------------------

    @Test
    void scoreAndReciprocalHeadQueriesMatchTheSharedPythonVectorsForEveryBackbone() throws IOException {
        JsonNode doc = ScoreVectorsTest.document();
        double tolerance = doc.get("tolerance").asDouble();
        for (JsonNode c : doc.get("cases")) {
            String runId = "vectors-" + c.get("name").asText() + "-" + UUID.randomUUID();
            String heads = Harness.uniqueLabel();
            String tails = Harness.uniqueLabel();
            Map<String, Object> props = new HashMap<>();
            props.put("run_id", runId);
            props.put("scope", heads);
            props.put("status", "published");
            props.put("active", false);
            props.put("embedding_property", Fixture.SLOT_B);
            props.put("reciprocal", true);
            props.putAll(ScoreVectorsTest.runProperties(c));
            props.put("entity_labels", new String[] {heads, tails});
            List<double[]> hv = new ArrayList<>();
            List<double[]> tv = new ArrayList<>();
            c.get("heads").forEach(v -> hv.add(ScoreVectorsTest.vector(v)));
            c.get("tails").forEach(v -> tv.add(ScoreVectorsTest.vector(v)));
            h.run("CREATE (r:VlkgeRun) SET r = $props CREATE (r)-[:VLKGE_HAS_RELATION]->(:VlkgeRelation {run_id: $run, "
                    + "relation: 'r', type: 'R_VEC', vector: $vector, inverse_vector: $inverse}) "
                    + "WITH r UNWIND range(0, size($heads) - 1) AS i "
                    + "CREATE (:" + heads + " {key: i, vlkge_embedding_b: $heads[i]}) "
                    + "CREATE (:" + tails + " {key: i, vlkge_embedding_b: $tails[i]})",
                    Map.of("props", props, "run", runId, "vector", ScoreVectorsTest.vector(c.get("relation")),
                            "inverse", ScoreVectorsTest.vector(c.get("inverse_relation")), "heads", hv, "tails", tv));
            String name = c.get("name").asText();
            // triples are scored forward with `vector`, reciprocal or not
            List<Map<String, Object>> rows = h.rows("MATCH (a:" + heads + "), (b:" + tails + " {key: a.key}) "
                    + "RETURN a.key AS i, vlkge.score(a, 'r', b, $run) AS byName, "
                    + "vlkge.score(a, 'R_VEC', b, $run) AS byType ORDER BY i", Map.of("run", runId));
            assertEquals(hv.size(), rows.size());
            for (Map<String, Object> row : rows) {
                int i = ((Number) row.get("i")).intValue();
                double expected = c.get("scores").get(i).asDouble();
                assertEquals(expected, (double) row.get("byName"), tolerance, name + " " + i);
                assertEquals(expected, (double) row.get("byType"), tolerance, name + " " + i);
            }
            // a head query (?, r, tails[0]) is the tail query (tails[0], r^-1, ?) with `inverse_vector`
            List<Map<String, Object>> ranked = h.rows("MATCH (t:" + tails + " {key: 0}) CALL vlkge.predict(t, 'r', "
                    + "{direction: 'head', targetLabel: $heads, k: 100, runId: $run}) YIELD node, score "
                    + "RETURN node.key AS i, score", Map.of("run", runId, "heads", heads));
            assertEquals(hv.size(), ranked.size());
            for (Map<String, Object> row : ranked) {
                int i = ((Number) row.get("i")).intValue();
                assertEquals(c.get("reciprocal_head_scores").get(i).asDouble(), (double) row.get("score"), tolerance,
                        name + " reciprocal head query " + i);
            }
        }
    }

    @Test
    void scoreUsesTheActiveRunByDefault() {
        Fixture f = fixture("transe", 6, 12, 1, true, 4, 11);
        f.activate(h);
        double s = (double) h.single("MATCH (a:" + f.label + " {key: 0}), (b:" + f.label + " {key: 1}) "
                + "RETURN vlkge.score(a, 'knows', b)", Map.of());
        assertEquals(f.score(0, "knows", 1), s, 1e-9);
    }

    @Test
    void aRunPublishedBeforeTheRenameIsStillReadAndOnlyItsOwnLegacyRelationships() {
        Fixture f = fixture("distmult", 4, 0, 2, false, 4, 12);
        double before = score(f.label, 0, "knows", 1, f.runId);
        // as versions before VLKGE_HAS_RELATION wrote it, plus a user's HAS_RELATION from the run to a user node
        h.run("MATCH (r:VlkgeRun {run_id: $run})-[has:VLKGE_HAS_RELATION]->(x) CREATE (r)-[:HAS_RELATION]->(x) "
                + "DELETE has WITH DISTINCT r CREATE (r)-[:HAS_RELATION]->(:" + f.label + " {relation: 'hates'})",
                Map.of("run", f.runId));
        assertEquals(before, score(f.label, 0, "knows", 1, f.runId), 1e-12);
        String msg = error("MATCH (a:" + f.label + " {key: 0}), (b:" + f.label + " {key: 1}) "
                + "RETURN vlkge.score(a, 'hates', b, $run)", Map.of("run", f.runId));
        assertTrue(msg.contains("unknown relation 'hates'"), msg);
    }

    // ---- vlkge.predict ------------------------------------------------------------------------------

    @Test
    void predictRanksLikeBruteForceForEveryBackboneAndDirection() {
        Object[][] specs = {
            {"transe", 8, 12.0, 1, true}, {"transe", 8, 5.0, 2, false}, {"distmult", 8, 0.0, 2, false},
            {"complex", 5, 0.0, 2, false}, {"rotate", 5, 9.0, 1, false}, {"rotate", 5, 9.0, 2, false},
        };
        for (Object[] s : specs) {
            Fixture f = fixture((String) s[0], (int) s[1], (double) s[2], (int) s[3], (boolean) s[4], 60, 5);
            for (Direction d : Direction.values()) {
                List<Map<String, Object>> rows = predict(f, 3, "likes", Map.of("k", 7, "direction", d.key()));
                String what = s[0] + " p" + s[3] + " " + d.key();
                assertEquals(f.bruteForce(3, "likes", d == Direction.TAIL, 7, Set.of()), keys(rows), what);
                for (int i = 0; i < rows.size(); i++) {
                    Map<String, Object> row = rows.get(i);
                    int other = ((Number) row.get("key")).intValue();
                    double expected = d == Direction.TAIL ? f.score(3, "likes", other) : f.score(other, "likes", 3);
                    double score = (double) row.get("score");
                    assertEquals(expected, score, TOL, what);
                    assertEquals(1 / (1 + Math.exp(-score)), (double) row.get("probability"), 1e-12);
                    assertEquals(i + 1L, row.get("rank"));
                }
            }
        }
    }

    @Test
    void predictDefaultsAndK() {
        Fixture f = fixture("distmult", 8, 0, 2, false, 30, 6);
        assertEquals(10, predict(f, 0, "likes", Map.of()).size());
        assertEquals(29, predict(f, 0, "likes", Map.of("k", 100)).size());
        assertEquals(0, predict(f, 0, "likes", Map.of("k", 0)).size());
        // by relationship type too
        assertEquals(keys(predict(f, 0, "likes", Map.of())), keys(predict(f, 0, Fixture.type("likes"), Map.of())));
        // the node itself only with excludeSelf: false
        assertFalse(keys(predict(f, 0, "likes", Map.of("k", 100))).contains(0));
        assertTrue(keys(predict(f, 0, "likes", Map.of("k", 100, "excludeSelf", false))).contains(0));
    }

    @Test
    void predictExcludesExistingFactsAndRejectedPairs() {
        Fixture f = fixture("distmult", 8, 0, 2, false, 40, 7);
        List<Integer> before = keys(predict(f, 0, "likes", Map.of("k", 5)));
        int fact = before.get(0);
        int rejected = before.get(1);
        int otherRelation = before.get(2);
        h.run("MATCH (a:" + f.label + " {key: 0}), (b:" + f.label + " {key: $fact}), (c:" + f.label
                + " {key: $rej}), (d:" + f.label + " {key: $other}) "
                + "CREATE (a)-[:" + Fixture.type("likes") + "]->(b) "
                + "CREATE (a)-[:VLKGE_REJECTED {relation: 'likes', type: $type, reason: 'wrong'}]->(c) "
                + "CREATE (a)-[:VLKGE_REJECTED {relation: 'knows', type: $otherType}]->(d)",
                Map.of("fact", fact, "rej", rejected, "other", otherRelation, "type", Fixture.type("likes"),
                        "otherType", Fixture.type("knows")));
        List<Integer> after = keys(predict(f, 0, "likes", Map.of("k", 5)));
        assertFalse(after.contains(fact));
        assertFalse(after.contains(rejected));
        assertTrue(after.contains(otherRelation), "a rejection of another relation does not apply");
        assertEquals(f.bruteForce(0, "likes", true, 5, Set.of(fact, rejected)), after);
        assertEquals(before, keys(predict(f, 0, "likes", Map.of("k", 5, "excludeExisting", false))));
        // head direction: facts point at the query node
        List<Integer> heads = keys(predict(f, 0, "likes", Map.of("k", 5, "direction", "head")));
        h.run("MATCH (a:" + f.label + " {key: 0}), (b:" + f.label + " {key: $h}) CREATE (b)-[:"
                + Fixture.type("likes") + "]->(a)", Map.of("h", heads.get(0)));
        assertFalse(keys(predict(f, 0, "likes", Map.of("k", 5, "direction", "head"))).contains(heads.get(0)));
    }

    @Test
    void predictSeesEntitiesAddedAfterPublishAndEmbeddingChanges() {
        Fixture f = fixture("distmult", 8, 0, 2, false, 40, 8);
        predict(f, 0, "likes", Map.of()); // fills the cache
        long[] stats = EmbeddingCache.SHARED.stats();
        predict(f, 0, "likes", Map.of());
        assertEquals(stats[0] + 1, EmbeddingCache.SHARED.stats()[0], "second call is a cache hit");
        // a write that touches no embedding and no label keeps the cache
        h.run("MATCH (a:" + f.label + " {key: 1}), (b:" + f.label + " {key: 2}) CREATE (a)-[:UNRELATED]->(b) "
                + "SET a.note = 'x'", Map.of());
        stats = EmbeddingCache.SHARED.stats();
        predict(f, 0, "likes", Map.of());
        assertEquals(stats[0] + 1, EmbeddingCache.SHARED.stats()[0], "unrelated write keeps the cache");

        // the best possible tail for DistMult: along h * r
        double[] q = new double[8];
        for (int i = 0; i < 8; i++) {
            q[i] = 100 * f.embeddings[0][i] * f.relations.get("likes")[i];
        }
        double[] neg = new double[8];
        for (int i = 0; i < 8; i++) {
            neg[i] = -q[i];
        }
        long loads = EmbeddingCache.SHARED.stats()[1];
        long patches = EmbeddingCache.SHARED.stats()[2];
        h.run("CREATE (:" + f.label + " {key: 1000, vlkge_embedding_a: $e})", Map.of("e", q));
        assertEquals(1000, keys(predict(f, 0, "likes", Map.of())).get(0), "new entity is ranked at once");
        h.run("MATCH (n:" + f.label + " {key: 1000}) SET n.vlkge_embedding_a = $e", Map.of("e", neg));
        assertFalse(keys(predict(f, 0, "likes", Map.of())).contains(1000), "changed embedding is used at once");
        h.run("MATCH (n:" + f.label + " {key: 1000}) SET n.vlkge_embedding_a = $e", Map.of("e", q));
        assertEquals(1000, keys(predict(f, 0, "likes", Map.of())).get(0));
        h.run("MATCH (n:" + f.label + " {key: 1000}) REMOVE n:" + f.label + " SET n:Gone" + f.label, Map.of());
        assertFalse(keys(predict(f, 0, "likes", Map.of())).contains(1000), "label removal is seen at once");
        h.run("MATCH (n:Gone" + f.label + ") SET n:" + f.label, Map.of());
        assertEquals(1000, keys(predict(f, 0, "likes", Map.of())).get(0), "label addition is seen at once");
        h.run("MATCH (n:" + f.label + " {key: 1000}) REMOVE n.vlkge_embedding_a", Map.of());
        assertFalse(keys(predict(f, 0, "likes", Map.of())).contains(1000), "embedding removal is seen at once");
        h.run("MATCH (n:" + f.label + " {key: 1000}) SET n.vlkge_embedding_a = $e", Map.of("e", q));
        assertEquals(1000, keys(predict(f, 0, "likes", Map.of())).get(0));
        h.run("MATCH (n:" + f.label + " {key: 1000}) DETACH DELETE n", Map.of());
        assertFalse(keys(predict(f, 0, "likes", Map.of())).contains(1000), "deletion is seen at once");
        assertEquals(f.bruteForce(0, "likes", true, 10, Set.of()), keys(predict(f, 0, "likes", Map.of())));
        assertEquals(loads, EmbeddingCache.SHARED.stats()[1], "single changes patch the block, no full re-read");
        assertEquals(patches + 8, EmbeddingCache.SHARED.stats()[2]);
        // every embedding rewritten (as a publish does): still the exact ranking
        h.run("MATCH (n:" + f.label + ") SET n.vlkge_embedding_a = [x IN n.vlkge_embedding_a | x * 2.0]", Map.of());
        assertEquals(f.bruteForce(0, "likes", true, 10, Set.of()), keys(predict(f, 0, "likes", Map.of())));

        // uncommitted changes of the calling transaction are seen too
        List<Integer> inTx = h.inRolledBackTx(tx -> {
            tx.execute("CREATE (:" + f.label + " {key: 2000, vlkge_embedding_a: $e})", Map.of("e", q)).close();
            return keys(Harness.rows(tx, String.format(PREDICT, f.label), Map.of("key", 0, "relation", "likes",
                    "config", Map.of("runId", f.runId))));
        });
        assertEquals(2000, inTx.get(0));
        assertFalse(keys(predict(f, 0, "likes", Map.of())).contains(2000));
    }

    @Test
    void predictFloatArrayEmbeddingsAndOtherWidthsAreSkipped() {
        Fixture f = fixture("distmult", 4, 0, 2, false, 10, 9);
        try (Transaction tx = h.db.beginTx()) {
            Node n = tx.createNode(Label.label(f.label));
            n.setProperty("key", 500);
            float[] e = new float[4];
            for (int i = 0; i < 4; i++) {
                e[i] = (float) (50 * f.embeddings[0][i] * f.relations.get("likes")[i]);
            }
            n.setProperty(f.slot, e);
            Node wrong = tx.createNode(Label.label(f.label));
            wrong.setProperty("key", 501);
            wrong.setProperty(f.slot, new double[] {1, 2, 3});
            tx.commit();
        }
        List<Integer> top = keys(predict(f, 0, "likes", Map.of("k", 100)));
        assertEquals(500, top.get(0), "float[] embeddings are read");
        assertFalse(top.contains(501), "an embedding of another width is not a candidate");
    }

    @Test
    void predictTargetLabelAndRunId() {
        Fixture f = fixture("distmult", 6, 0, 2, false, 30, 10);
        Fixture other = Fixture.sameEntities(h, f, Fixture.Spec.of("transe", 6, 12, 1, true), 21);
        String extra = Harness.uniqueLabel();
        h.run("MATCH (n:" + f.label + ") WHERE n.key < 10 SET n:" + extra, Map.of());
        List<Integer> restricted = keys(predict(f, 20, "likes", Map.of("k", 100, "targetLabel", extra)));
        assertEquals(10, restricted.size());
        assertTrue(restricted.stream().allMatch(k -> k < 10));
        List<Integer> both = keys(predict(f, 20, "likes", Map.of("k", 100, "targetLabel", List.of(extra, f.label))));
        assertEquals(29, both.size(), "a node with two target labels is a candidate once");
        assertEquals(other.bruteForce(20, "likes", true, 5, Set.of()),
                keys(predict(other, 20, "likes", Map.of("k", 5))));
        other.activate(h);
        assertEquals(other.bruteForce(20, "likes", true, 5, Set.of()),
                keys(h.rows(String.format(PREDICT, f.label), Map.of("key", 20, "relation", "likes",
                        "config", Map.of("k", 5)))), "the active run by default");
    }

    // ---- vlkge.candidates / accept / reject --------------------------------------------------------

    private Fixture withCandidates() {
        Fixture f = fixture("distmult", 4, 0, 2, false, 6, 12);
        Fixture old = Fixture.sameEntities(h, f, f.spec, 13);
        f.activate(h);
        // node 0: tail candidates 1 (likes, 2.0), 2 (likes, -1.0), 3 (knows, 0.5); head candidate from 4 (likes, 1.0)
        // plus a candidate of an older run that is not visible
        h.run("MATCH (a:" + f.label + " {key: 0}) UNWIND $rows AS row MATCH (b:" + f.label + " {key: row.other}) "
                + "WITH a, b, row, CASE row.out WHEN true THEN [a, b] ELSE [b, a] END AS ends "
                + "WITH ends[0] AS head, ends[1] AS tail, row "
                + "CREATE (head)-[:VLKGE_CANDIDATE {relation: row.rel, type: row.type, score: row.score, "
                + "probability: 1 / (1 + exp(-row.score)), rank: 1, direction: 'tail', generation: row.gen}]->(tail)",
                Map.of("rows", List.of(
                        Map.of("other", 1, "rel", "likes", "type", Fixture.type("likes"), "score", 2.0, "out", true,
                                "gen", f.generation),
                        Map.of("other", 2, "rel", "likes", "type", Fixture.type("likes"), "score", -1.0, "out", true,
                                "gen", f.generation),
                        Map.of("other", 3, "rel", "knows", "type", Fixture.type("knows"), "score", 0.5, "out", true,
                                "gen", f.generation),
                        Map.of("other", 4, "rel", "likes", "type", Fixture.type("likes"), "score", 1.0, "out", false,
                                "gen", f.generation),
                        Map.of("other", 5, "rel", "likes", "type", Fixture.type("likes"), "score", 9.0, "out", true,
                                "gen", old.generation))));
        return f;
    }

    private List<String> candidates(Fixture f, Map<String, Object> config) {
        return h.rows("MATCH (n:" + f.label + " {key: 0}) CALL vlkge.candidates(n, $config) "
                + "YIELD candidate, other, relation, score "
                + "RETURN other.key + ':' + relation + ':' + toString(score) + ':' + type(candidate) AS c",
                Map.of("config", config)).stream().map(r -> (String) r.get("c")).toList();
    }

    @Test
    void candidatesOfTheActiveRunFilteredAndBestFirst() {
        Fixture f = withCandidates();
        String t = ":VLKGE_CANDIDATE";
        assertEquals(List.of("1:likes:2.0" + t, "4:likes:1.0" + t, "3:knows:0.5" + t, "2:likes:-1.0" + t),
                candidates(f, Map.of()));
        assertEquals(List.of("1:likes:2.0" + t, "4:likes:1.0" + t, "2:likes:-1.0" + t),
                candidates(f, Map.of("relation", "likes")));
        assertEquals(List.of("1:likes:2.0" + t, "4:likes:1.0" + t),
                candidates(f, Map.of("relation", Fixture.type("likes"), "minScore", 0)));
        assertEquals(List.of("1:likes:2.0" + t, "3:knows:0.5" + t, "2:likes:-1.0" + t),
                candidates(f, Map.of("direction", "tail")));
        assertEquals(List.of("4:likes:1.0" + t), candidates(f, Map.of("direction", "head")));
        assertEquals(List.of("1:likes:2.0" + t), candidates(f, Map.of("limit", 1)));
    }

    @Test
    void acceptCreatesTheFactWithProvenanceAndRemovesTheCandidate() {
        Fixture f = withCandidates();
        Map<String, Object> row = h.rows("MATCH (:" + f.label + " {key: 0})-[c:VLKGE_CANDIDATE {relation: 'likes'}]->"
                + "(:" + f.label + " {key: 1}) CALL vlkge.accept(c) YIELD relationship "
                + "RETURN type(relationship) AS type, properties(relationship) AS props, "
                + "startNode(relationship).key AS h, endNode(relationship).key AS t", Map.of()).get(0);
        assertEquals(Fixture.type("likes"), row.get("type"));
        assertEquals(0L, ((Number) row.get("h")).longValue());
        assertEquals(1L, ((Number) row.get("t")).longValue());
        @SuppressWarnings("unchecked")
        Map<String, Object> props = (Map<String, Object>) row.get("props");
        assertEquals(f.runId, props.get("vlkge_run_id"));
        assertEquals(2.0, props.get("vlkge_score"));
        assertTrue(props.get("vlkge_accepted_at") instanceof ZonedDateTime);
        assertEquals(0L, h.single("MATCH (:" + f.label + " {key: 0})-[c:VLKGE_CANDIDATE]->(:" + f.label
                + " {key: 1}) RETURN count(c)", Map.of()));
        assertFalse(keys(predict(f, 0, "likes", Map.of("k", 100))).contains(1), "an accepted fact is not predicted");
        // accepting a candidate whose fact already exists keeps the one fact
        h.run("MATCH (a:" + f.label + " {key: 0}), (b:" + f.label + " {key: 1}) CREATE (a)-[:VLKGE_CANDIDATE "
                + "{relation: 'likes', type: $type, score: 3.0, generation: $gen}]->(b)",
                Map.of("type", Fixture.type("likes"), "gen", f.generation));
        h.run("MATCH (:" + f.label + " {key: 0})-[c:VLKGE_CANDIDATE]->(:" + f.label + " {key: 1}) "
                + "CALL vlkge.accept(c) YIELD relationship RETURN relationship", Map.of());
        assertEquals(1L, h.single("MATCH (:" + f.label + " {key: 0})-[r:" + Fixture.type("likes") + "]->(:"
                + f.label + " {key: 1}) RETURN count(r)", Map.of()));
        assertEquals(2.0, h.single("MATCH (:" + f.label + " {key: 0})-[r:" + Fixture.type("likes") + "]->(:"
                + f.label + " {key: 1}) RETURN r.vlkge_score", Map.of()), "the existing fact is left as it was");
    }

    @Test
    void rejectRecordsTheDecisionAndRemovesTheCandidate() {
        Fixture f = withCandidates();
        predict(f, 0, "likes", Map.of("k", 100)); // warm cache: rejection must still be seen
        Map<String, Object> props = h.rows("MATCH (:" + f.label + " {key: 0})-[c:VLKGE_CANDIDATE {relation: 'likes'}]->"
                + "(:" + f.label + " {key: 2}) CALL vlkge.reject(c, 'not plausible') YIELD rejected "
                + "RETURN properties(rejected) AS props, type(rejected) AS type", Map.of()).get(0);
        @SuppressWarnings("unchecked")
        Map<String, Object> p = (Map<String, Object>) props.get("props");
        assertEquals("VLKGE_REJECTED", props.get("type"));
        assertEquals("likes", p.get("relation"));
        assertEquals(Fixture.type("likes"), p.get("type"));
        assertEquals("not plausible", p.get("reason"));
        assertEquals(f.runId, p.get("run_id"));
        assertEquals(-1.0, p.get("score"));
        assertTrue(p.get("rejected_at") instanceof ZonedDateTime);
        assertEquals(List.of("1:likes:2.0:VLKGE_CANDIDATE", "4:likes:1.0:VLKGE_CANDIDATE"),
                candidates(f, Map.of("relation", "likes")));
        assertFalse(keys(predict(f, 0, "likes", Map.of("k", 100))).contains(2), "a rejected pair is not predicted");
        assertTrue(keys(predict(f, 0, "knows", Map.of("k", 100))).contains(2), "only for that relation");
        // reason is optional
        h.run("MATCH (:" + f.label + " {key: 0})-[c:VLKGE_CANDIDATE {relation: 'knows'}]->() "
                + "CALL vlkge.reject(c) YIELD rejected RETURN rejected", Map.of());
        assertNull(h.single("MATCH (:" + f.label + " {key: 0})-[r:VLKGE_REJECTED {relation: 'knows'}]->() "
                + "RETURN r.reason", Map.of()));
    }

    /** Two candidates from node 0 (to 1: score 2.0, to 2: 1.0) carrying {@code property: value}. */
    private void twoCandidates(Fixture f, String property, Object value) {
        String props = "{relation: 'likes', type: $type, score: %s, " + property + ": $v}";
        h.run("MATCH (a:" + f.label + " {key: 0}), (b:" + f.label + " {key: 1}), (c:" + f.label + " {key: 2}) "
                + "CREATE (a)-[:VLKGE_CANDIDATE " + String.format(props, "2.0") + "]->(b) "
                + "CREATE (a)-[:VLKGE_CANDIDATE " + String.format(props, "1.0") + "]->(c)",
                Map.of("type", Fixture.type("likes"), "v", value));
    }

    /** Accepts the candidate 0 -> 1 and rejects 0 -> 2; returns the run ids they recorded. */
    private List<Object> curate(Fixture f) {
        Object accepted = h.single("MATCH (:" + f.label + " {key: 0})-[c:VLKGE_CANDIDATE]->(:" + f.label + " {key: 1}) "
                + "CALL vlkge.accept(c) YIELD relationship RETURN relationship.vlkge_run_id", Map.of());
        Object rejected = h.single("MATCH (:" + f.label + " {key: 0})-[c:VLKGE_CANDIDATE]->(:" + f.label + " {key: 2}) "
                + "CALL vlkge.reject(c, 'no') YIELD rejected RETURN rejected.run_id", Map.of());
        return List.of(accepted, rejected);
    }

    @Test
    void runsSharingAGenerationShareItsCandidatesAndCurationNamesTheActiveOne() {
        Fixture parent = fixture("distmult", 4, 0, 2, false, 4, 15);
        Fixture child = Fixture.sameEntities(h, parent, parent.spec, 16);
        // a refresh run continues its parent's generation and becomes the active run of the scope
        h.run("MATCH (r:VlkgeRun {run_id: $run}) SET r.generation = $g", Map.of("run", child.runId,
                "g", parent.generation));
        child.activate(h);
        twoCandidates(parent, "generation", parent.generation);
        List<String> both = List.of("1:likes:2.0:VLKGE_CANDIDATE", "2:likes:1.0:VLKGE_CANDIDATE");
        assertEquals(both, candidates(parent, Map.of()));
        assertEquals(both, candidates(parent, Map.of("runId", parent.runId)), "the parent holds the same generation");
        assertEquals(parent.generation, h.single("CALL vlkge.info() YIELD runId, generation WHERE runId = $run "
                + "RETURN generation", Map.of("run", child.runId)));
        assertEquals(List.of(child.runId, child.runId), curate(parent), "the active run holding the generation");
    }

    @Test
    void aRunPublishedBeforeGenerationNumbersReadsItsCandidatesByRunId() {
        Fixture f = fixture("distmult", 4, 0, 2, false, 4, 19);
        h.run("MATCH (r:VlkgeRun {run_id: $run}) REMOVE r.generation", Map.of("run", f.runId));
        f.activate(h);
        twoCandidates(f, "run_id", f.runId);
        h.run("MATCH (a:" + f.label + " {key: 0}), (b:" + f.label + " {key: 3}) CREATE (a)-[:VLKGE_CANDIDATE "
                + "{relation: 'likes', type: $type, score: 5.0, run_id: 'an-older-run'}]->(b)",
                Map.of("type", Fixture.type("likes")));
        assertEquals(List.of("1:likes:2.0:VLKGE_CANDIDATE", "2:likes:1.0:VLKGE_CANDIDATE"), candidates(f, Map.of()));
        assertNull(h.single("CALL vlkge.info($run) YIELD generation RETURN generation", Map.of("run", f.runId)));
        assertEquals(List.of(f.runId, f.runId), curate(f));
    }

    @Test
    void curationOnlyTakesCandidates() {
        Fixture f = fixture("distmult", 4, 0, 2, false, 3, 14);
        h.run("MATCH (a:" + f.label + " {key: 0}), (b:" + f.label + " {key: 1}) CREATE (a)-[:KNOWS_X]->(b) "
                + "CREATE (a)-[:VLKGE_CANDIDATE {relation: 'likes', score: 1.0}]->(b)", Map.of());
        String msg = error("MATCH (:" + f.label + ")-[r:KNOWS_X]->() CALL vlkge.accept(r) YIELD relationship "
                + "RETURN relationship", Map.of());
        assertTrue(msg.contains("not a VLKGE_CANDIDATE"), msg);
        msg = error("MATCH (:" + f.label + ")-[r:KNOWS_X]->() CALL vlkge.reject(r, 'x') YIELD rejected "
                + "RETURN rejected", Map.of());
        assertTrue(msg.contains("not a VLKGE_CANDIDATE"), msg);
        msg = error("MATCH (:" + f.label + ")-[r:VLKGE_CANDIDATE]->() CALL vlkge.accept(r) YIELD relationship "
                + "RETURN relationship", Map.of());
        assertTrue(msg.contains("no 'type' property"), msg);
    }

    // ---- vlkge.similar ------------------------------------------------------------------------------

    private static double cosine(double[] a, double[] b) {
        double d = 0, na = 0, nb = 0;
        for (int i = 0; i < a.length; i++) {
            d += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        return d / Math.sqrt(na * nb);
    }

    private List<Integer> bruteForceCosine(Fixture f, int key, int k, Set<Integer> among) {
        return among.stream().filter(i -> i != key)
                .sorted((a, b) -> Double.compare(cosine(f.embeddings[key], f.embeddings[b]),
                        cosine(f.embeddings[key], f.embeddings[a])))
                .limit(k).toList();
    }

    @Test
    void similarByExactCosineWithoutAnIndex() {
        Fixture f = fixture("complex", 4, 0, 2, false, 30, 15);
        f.activate(h);
        List<Map<String, Object>> rows = h.rows("MATCH (n:" + f.label + " {key: 0}) CALL vlkge.similar(n, 5) "
                + "YIELD node, score RETURN node.key AS key, score", Map.of());
        Set<Integer> all = java.util.stream.IntStream.range(0, 30).boxed().collect(Collectors.toSet());
        assertEquals(bruteForceCosine(f, 0, 5, all), keys(rows));
        for (Map<String, Object> row : rows) {
            int key = ((Number) row.get("key")).intValue();
            assertEquals(cosine(f.embeddings[0], f.embeddings[key]), (double) row.get("score"), 1e-6);
        }
    }

    @Test
    void similarUsesTheRunsVectorIndexOnItsSlot() {
        Fixture f = fixture("distmult", 8, 0, 2, false, 30, 16);
        f.activate(h);
        // Only even keys get the second entity label, and only it has the run's index (named by the contract).
        // The query node has both labels, so the exact scan (over all its entity labels) would also find odd
        // keys, while the index finds only even ones.
        String indexed = Harness.uniqueLabel();
        h.run("MATCH (n:" + f.label + ") WHERE n.key % 2 = 0 SET n:" + indexed, Map.of());
        h.run("MATCH (r:VlkgeRun {run_id: $run}) SET r.entity_labels = [$a, $b]",
                Map.of("run", f.runId, "a", f.label, "b", indexed));
        String index = Schema.indexName(f.slot, indexed);
        assertEquals("vlkge_vlkge_embedding_a_" + indexed, index);
        Set<Integer> all = java.util.stream.IntStream.range(0, 30).boxed().collect(Collectors.toSet());
        Set<Integer> even = all.stream().filter(i -> i % 2 == 0).collect(Collectors.toSet());
        String similar = "MATCH (n:" + f.label + " {key: $key}) CALL vlkge.similar(n, $k) "
                + "YIELD node, score RETURN node.key AS key, score";
        // indexes the run does not use: another slot, another name
        h.run("CREATE VECTOR INDEX " + Schema.indexName(Fixture.SLOT_B, indexed) + " IF NOT EXISTS FOR (n:" + indexed
                + ") ON n." + Fixture.SLOT_B + " OPTIONS {indexConfig: {`vector.dimensions`: 8, "
                + "`vector.similarity_function`: 'cosine'}}", Map.of());
        h.run("CREATE VECTOR INDEX other_name_" + indexed + " IF NOT EXISTS FOR (n:" + indexed + ") ON n." + f.slot
                + " OPTIONS {indexConfig: {`vector.dimensions`: 8, `vector.similarity_function`: 'cosine'}}", Map.of());
        h.run("CALL db.awaitIndexes(60)", Map.of());
        assertEquals(bruteForceCosine(f, 0, 4, all), keys(h.rows(similar, Map.of("key", 0, "k", 4))),
                "no index of the run: exact scan");
        // (one index per label and property: the other name goes first)
        h.run("DROP INDEX other_name_" + indexed, Map.of());
        h.run("CREATE VECTOR INDEX " + index + " IF NOT EXISTS FOR (n:" + indexed + ") ON n." + f.slot
                + " OPTIONS {indexConfig: {`vector.dimensions`: 8, `vector.similarity_function`: 'cosine'}}", Map.of());
        try {
            h.run("CALL db.awaitIndexes(60)", Map.of());
            List<Map<String, Object>> rows = h.rows(similar, Map.of("key", 0, "k", 4));
            assertEquals(bruteForceCosine(f, 0, 4, even), keys(rows));
            for (Map<String, Object> row : rows) {
                int key = ((Number) row.get("key")).intValue();
                assertEquals(cosine(f.embeddings[0], f.embeddings[key]), (double) row.get("score"), 1e-6);
            }
            // a node without the indexed label falls back to the exact scan
            assertEquals(bruteForceCosine(f, 1, 3, all), keys(h.rows(similar, Map.of("key", 1, "k", 3))));
        } finally {
            for (String name : List.of(index, Schema.indexName(Fixture.SLOT_B, indexed))) {
                h.run("DROP INDEX " + name + " IF EXISTS", Map.of());
            }
        }
    }

    // ---- vlkge.info ---------------------------------------------------------------------------------

    @Test
    void infoReturnsOneRowPerActiveRun() {
        Fixture f = fixture("rotate", 4, 9, 1, false, 2, 17);
        f.activate(h);
        Fixture g = Fixture.create(h, Harness.uniqueLabel(), Fixture.Spec.of("complex", 3, 0, 2, false).asReciprocal(),
                2, 18, Fixture.SLOT_B);
        g.activate(h);
        List<Map<String, Object>> rows = h.rows("CALL vlkge.info() YIELD runId, scope, status, active, backbone, dim, "
                + "entityWidth, gamma, p, normalize, reciprocal, embeddingProperty, encoderImage, encoderText, "
                + "fusion, metrics, config, entityKey, entityLabels, relations, createdAt, publishedAt, pluginVersion, "
                + "generation "
                + "WHERE scope IN $scopes RETURN * ORDER BY publishedAt", Map.of("scopes", List.of(f.label, g.label)));
        assertEquals(List.of(f.runId, g.runId), rows.stream().map(r -> r.get("runId")).toList());
        Map<String, Object> row = rows.get(0);
        assertEquals(f.label, row.get("scope"));
        assertEquals(f.generation, row.get("generation"));
        assertEquals("published", row.get("status"));
        assertEquals(true, row.get("active"));
        assertEquals("rotate", row.get("backbone"));
        assertEquals(4L, row.get("dim"));
        assertEquals(8L, row.get("entityWidth"));
        assertEquals(9.0, row.get("gamma"));
        assertEquals(1L, row.get("p"));
        assertEquals(false, row.get("reciprocal"));
        assertEquals(Fixture.SLOT_A, row.get("embeddingProperty"));
        assertEquals("efficientnet-lite0", row.get("encoderImage"));
        assertEquals("all-MiniLM-L6-v2", row.get("encoderText"));
        assertEquals("average", row.get("fusion"));
        assertEquals(Map.of("mrr", 0.42, "hits@10", 0.6), row.get("metrics"));
        assertEquals(3L, ((Number) ((Map<?, ?>) row.get("config")).get("epochs")).longValue());
        assertEquals("key", row.get("entityKey"));
        assertEquals(List.of(f.label), row.get("entityLabels"));
        assertEquals(List.of("knows", "likes"), row.get("relations"));
        assertTrue(row.get("createdAt") instanceof ZonedDateTime);
        assertNotNull(row.get("publishedAt"));
        Map<String, Object> other = rows.get(1);
        assertEquals(List.of(g.label, "complex", true, Fixture.SLOT_B), List.of(other.get("scope"),
                other.get("backbone"), other.get("reciprocal"), other.get("embeddingProperty")));
        // by run id, active or not
        Fixture inactive = fixture("distmult", 4, 0, 2, false, 2, 18);
        assertEquals(List.of(Map.of("runId", inactive.runId, "active", false)),
                h.rows("CALL vlkge.info($run) YIELD runId, active RETURN runId, active", Map.of("run", inactive.runId)));
    }

    // ---- runs: scopes, embedding slots, reciprocal relations -----------------------------------------------

    private double score(String label, int head, String relation, int tail, String runId) {
        return (double) h.single("MATCH (a:" + label + " {key: $h}), (b:" + label + " {key: $t}) "
                + "RETURN vlkge.score(a, $rel, b, $run)", Map.of("h", head, "t", tail, "rel", relation, "run", runId));
    }

    @Test
    void eachScopeHasItsActiveRunAndNodesPickTheRunCoveringThem() {
        Fixture a = fixture("distmult", 4, 0, 2, false, 20, 30);
        Fixture b = Fixture.create(h, Harness.uniqueLabel(), Fixture.Spec.of("complex", 4, 0, 2, false), 20, 31,
                Fixture.SLOT_B);
        Fixture older = Fixture.sameEntities(h, a, a.spec, 32); // an inactive run of a's scope
        a.activate(h);
        b.activate(h);
        h.run("MATCH (r:VlkgeRun) WHERE r.run_id IN [$a, $b] SET r.published_at = CASE r.run_id WHEN $a "
                + "THEN datetime('2030-01-01T00:00:00Z') ELSE datetime('2030-01-02T00:00:00Z') END",
                Map.of("a", a.runId, "b", b.runId)); // b is the more recent publish
        List<Map<String, Object>> info = h.rows("CALL vlkge.info() YIELD runId, scope WHERE scope IN $scopes "
                + "RETURN runId, scope ORDER BY scope", Map.of("scopes", List.of(a.label, b.label)));
        assertEquals(Set.of(Map.of("runId", a.runId, "scope", a.label), Map.of("runId", b.runId, "scope", b.label)),
                Set.copyOf(info), "both scopes' runs are active at once");
        // no runId: each node's own run (by its labels)
        assertEquals(a.bruteForce(0, "likes", true, 5, Set.of()), keys(h.rows(String.format(PREDICT, a.label),
                Map.of("key", 0, "relation", "likes", "config", Map.of("k", 5)))));
        assertEquals(b.bruteForce(0, "likes", true, 5, Set.of()), keys(h.rows(String.format(PREDICT, b.label),
                Map.of("key", 0, "relation", "likes", "config", Map.of("k", 5)))));
        assertEquals(a.score(0, "knows", 1), (double) h.single("MATCH (x:" + a.label + " {key: 0}), (y:" + a.label
                + " {key: 1}) RETURN vlkge.score(x, 'knows', y)", Map.of()), 1e-9);
        assertEquals(b.score(0, "knows", 1), (double) h.single("MATCH (x:" + b.label + " {key: 0}), (y:" + b.label
                + " {key: 1}) RETURN vlkge.score(x, 'knows', y)", Map.of()), 1e-9);
        assertEquals(4, keys(h.rows("MATCH (n:" + b.label + " {key: 0}) CALL vlkge.similar(n, 4) YIELD node "
                + "RETURN node.key AS key", Map.of())).size(), "similar reads b's slot");

        // a node with both scopes' labels: the most recently published run covering it (b, which reads slot B)
        h.run("MATCH (n:" + a.label + " {key: 0}) SET n:" + b.label, Map.of());
        String msg = error(String.format(PREDICT, a.label), Map.of("key", 0, "relation", "likes", "config", Map.of()));
        assertTrue(msg.contains("has no vlkge_embedding_b") && msg.contains(b.runId), msg);
        // ... unless the other node is only in a's scope: a run covering both nodes first
        assertEquals(a.score(0, "knows", 1), (double) h.single("MATCH (x:" + a.label + " {key: 0}), (y:" + a.label
                + " {key: 1}) RETURN vlkge.score(x, 'knows', y)", Map.of()), 1e-9);
        assertEquals(a.bruteForce(0, "likes", true, 5, Set.of()), keys(h.rows(String.format(PREDICT, a.label),
                Map.of("key", 0, "relation", "likes", "config", Map.of("k", 5, "runId", a.runId)))));

        // a node no active run covers
        String outside = Harness.uniqueLabel();
        h.run("CREATE (:" + outside + " {key: 0, vlkge_embedding_a: [1.0, 2.0, 3.0, 4.0]})", Map.of());
        msg = error(String.format(PREDICT, outside), Map.of("key", 0, "relation", "likes", "config", Map.of()));
        assertTrue(msg.contains("no active run covers") && msg.contains(outside), msg);

        // candidates: those of every active run, not of inactive ones
        h.run("MATCH (x:" + a.label + " {key: 0}), (y:" + a.label + " {key: 1}), (z:" + b.label + " {key: 2}) "
                + "CREATE (x)-[:VLKGE_CANDIDATE {relation: 'likes', type: $type, score: 1.0, generation: $a}]->(y) "
                + "CREATE (x)-[:VLKGE_CANDIDATE {relation: 'knows', type: $knows, score: 2.0, generation: $b}]->(z) "
                + "CREATE (x)-[:VLKGE_CANDIDATE {relation: 'likes', type: $type, score: 3.0, generation: $old}]->(z)",
                Map.of("type", Fixture.type("likes"), "knows", Fixture.type("knows"), "a", a.generation,
                        "b", b.generation, "old", older.generation));
        assertEquals(List.of("2:knows:2.0:VLKGE_CANDIDATE", "1:likes:1.0:VLKGE_CANDIDATE"),
                candidates(a, Map.of()));
        assertEquals(List.of("1:likes:1.0:VLKGE_CANDIDATE"), candidates(a, Map.of("runId", a.runId)));
        assertEquals(List.of("1:likes:1.0:VLKGE_CANDIDATE"), candidates(a, Map.of("relation", "likes")));
        msg = error("MATCH (n:" + a.label + " {key: 0}) CALL vlkge.candidates(n, {relation: 'hates'}) "
                + "YIELD candidate RETURN candidate", Map.of());
        assertTrue(msg.contains("unknown relation 'hates'"), msg);
    }

    @Test
    void eachRunReadsItsOwnEmbeddingSlotAndTheCacheKeepsThemApart() {
        Fixture a = fixture("distmult", 6, 0, 2, false, 40, 33);
        // the next generation of the same scope, over the same nodes, in the other slot
        Fixture b = Fixture.create(h, a.label, Fixture.Spec.of("distmult", 6, 0, 2, false), 40, 34, Fixture.SLOT_B);
        a.activate(h);
        assertEquals(a.bruteForce(0, "likes", true, 10, Set.of()), keys(predict(a, 0, "likes", Map.of())));
        assertEquals(b.bruteForce(0, "likes", true, 10, Set.of()), keys(predict(b, 0, "likes", Map.of())));
        assertEquals(a.score(3, "likes", 4), score(a.label, 3, "likes", 4, a.runId), 1e-9);
        assertEquals(b.score(3, "likes", 4), score(a.label, 3, "likes", 4, b.runId), 1e-9);
        assertEquals(a.score(3, "likes", 4), score(a.label, 3, "likes", 4, ""), 1e-9, "the active run: a");

        // writing slot B (as the next publish does) leaves slot A's block cached
        predict(a, 0, "likes", Map.of());
        long[] before = EmbeddingCache.SHARED.stats();
        double[] best = new double[6];
        for (int i = 0; i < 6; i++) {
            best[i] = 100 * b.embeddings[0][i] * b.relations.get("likes")[i];
        }
        h.run("MATCH (n:" + a.label + " {key: 7}) SET n.vlkge_embedding_b = $e", Map.of("e", best));
        assertEquals(a.bruteForce(0, "likes", true, 10, Set.of()), keys(predict(a, 0, "likes", Map.of())));
        long[] after = EmbeddingCache.SHARED.stats();
        assertEquals(before[0] + 1, after[0], "slot A's block is still a hit");
        assertEquals(before[2], after[2], "and was not patched");
        assertEquals(7, keys(predict(b, 0, "likes", Map.of())).get(0), "slot B's block sees the change at once");

        // the new generation becomes active; the old slot is removed: the old run cannot score any more
        b.activate(h);
        h.run("MATCH (n:" + a.label + ") REMOVE n.vlkge_embedding_a", Map.of());
        assertEquals(7, keys(h.rows(String.format(PREDICT, a.label), Map.of("key", 0, "relation", "likes",
                "config", Map.of()))).get(0), "the active run: b");
        String msg = error(String.format(PREDICT, a.label), Map.of("key", 0, "relation", "likes",
                "config", Map.of("runId", a.runId)));
        assertTrue(msg.contains("has no vlkge_embedding_a property") && msg.contains(a.runId), msg);
    }

    @Test
    void aRunWithoutEmbeddingPropertyReadsVlkgeEmbedding() {
        Fixture f = Fixture.create(h, Harness.uniqueLabel(), Fixture.Spec.of("distmult", 4, 0, 2, false), 20, 35,
                Schema.DEFAULT_EMBEDDING);
        h.run("MATCH (r:VlkgeRun {run_id: $run}) REMOVE r.embedding_property, r.scope", Map.of("run", f.runId));
        h.run("MATCH (r:VlkgeRun {run_id: $run}) SET r.active = true", Map.of("run", f.runId));
        assertEquals(f.bruteForce(0, "likes", true, 10, Set.of()), keys(predict(f, 0, "likes", Map.of())));
        assertEquals("vlkge_embedding", h.single("CALL vlkge.info($run) YIELD embeddingProperty "
                + "RETURN embeddingProperty", Map.of("run", f.runId)));
        double[] best = new double[4];
        for (int i = 0; i < 4; i++) {
            best[i] = 100 * f.embeddings[0][i] * f.relations.get("likes")[i];
        }
        h.run("MATCH (n:" + f.label + " {key: 9}) SET n.vlkge_embedding = $e", Map.of("e", best));
        assertEquals(9, keys(predict(f, 0, "likes", Map.of())).get(0), "its changes are followed too");
        assertEquals(5, keys(h.rows("MATCH (n:" + f.label + " {key: 0}) CALL vlkge.similar(n, 5) YIELD node "
                + "RETURN node.key AS key", Map.of())).size());
        h.run("MATCH (r:VlkgeRun {run_id: $run}) SET r.active = false", Map.of("run", f.runId));
    }

    @Test
    void anEmbeddingPropertyOutsideTheContractIsAnError() {
        Fixture f = fixture("distmult", 4, 0, 2, false, 3, 36);
        h.run("MATCH (r:VlkgeRun {run_id: $run}) SET r.embedding_property = 'name'", Map.of("run", f.runId));
        String msg = error("MATCH (n:" + f.label + " {key: 0}) CALL vlkge.predict(n, 'likes', {runId: $run}) "
                + "YIELD node RETURN node", Map.of("run", f.runId));
        assertTrue(msg.contains("embedding_property name") && msg.contains("vlkge_embedding_a"), msg);
    }

    @Test
    void aBackboneOptionMissingFromTheRunNodeIsAnErrorNamingRunAndProperty() {
        Fixture f = fixture("transe", 4, 12, 1, true, 3, 38);
        h.run("MATCH (r:VlkgeRun {run_id: $run}) REMOVE r.normalize", Map.of("run", f.runId));
        String msg = error("MATCH (a:" + f.label + " {key: 0}), (b:" + f.label + " {key: 1}) "
                + "RETURN vlkge.score(a, 'likes', b, $run)", Map.of("run", f.runId));
        assertEquals("run '" + f.runId + "' (transe) has no boolean 'normalize' property", msg);
        h.run("MATCH (r:VlkgeRun {run_id: $run}) SET r.backbone = 'transh'", Map.of("run", f.runId));
        msg = error("CALL vlkge.info($run)", Map.of("run", f.runId));
        assertTrue(msg.contains("run '" + f.runId + "' has unknown backbone 'transh'; expected one of [complex, "
                + "distmult, rotate, transe]"), msg);
    }

    @Test
    void reciprocalRunsScoreHeadQueriesWithTheInverseVector() {
        Object[][] specs = {
            {"transe", 8, 12.0, 1, true}, {"distmult", 8, 0.0, 2, false}, {"complex", 5, 0.0, 2, false},
            {"rotate", 5, 9.0, 1, false}, {"rotate", 5, 9.0, 2, false},
        };
        for (Object[] s : specs) {
            Fixture.Spec spec = Fixture.Spec.of((String) s[0], (int) s[1], (double) s[2], (int) s[3], (boolean) s[4]);
            Fixture f = Fixture.create(h, Harness.uniqueLabel(), spec.asReciprocal(), 50, 37);
            String what = s[0] + " p" + s[3];
            for (Direction d : Direction.values()) {
                List<Map<String, Object>> rows = predict(f, 3, "likes", Map.of("k", 7, "direction", d.key()));
                assertEquals(f.bruteForce(3, "likes", d == Direction.TAIL, 7, Set.of()), keys(rows), what + d);
                for (Map<String, Object> row : rows) {
                    int other = ((Number) row.get("key")).intValue();
                    assertEquals(f.queryScore(3, "likes", d == Direction.TAIL, other), (double) row.get("score"),
                            TOL, what + " " + d.key());
                }
            }
            // not the forward head ranking
            List<Integer> forward = new ArrayList<>();
            List<Integer> head = keys(predict(f, 3, "likes", Map.of("k", 7, "direction", "head")));
            for (int i = 0; i < f.embeddings.length; i++) {
                forward.add(i);
            }
            forward.remove(Integer.valueOf(3));
            forward.sort((x, y) -> Double.compare(f.score(y, "likes", 3), f.score(x, "likes", 3)));
            assertFalse(head.equals(forward.subList(0, 7)), what + ": head queries use the inverse relation");
            // triples are always scored forward
            assertEquals(f.score(5, "likes", 3), score(f.label, 5, "likes", 3, f.runId), 1e-9, what);
        }
        // a reciprocal run whose relation lacks its inverse_vector
        Fixture f = Fixture.create(h, Harness.uniqueLabel(), Fixture.Spec.of("distmult", 4, 0, 2, false)
                .asReciprocal(), 5, 38);
        h.run("MATCH (:VlkgeRun {run_id: $run})-[:VLKGE_HAS_RELATION]->(r:VlkgeRelation {relation: 'knows'}) "
                + "REMOVE r.inverse_vector", Map.of("run", f.runId));
        String msg = error(String.format(PREDICT, f.label), Map.of("key", 0, "relation", "knows",
                "config", Map.of("direction", "head", "runId", f.runId)));
        assertTrue(msg.contains("has no numeric inverse_vector") && msg.contains("reciprocal"), msg);
        assertEquals(f.bruteForce(0, "knows", true, 3, Set.of()), keys(predict(f, 0, "knows", Map.of("k", 3))),
                "tail queries need no inverse");
    }

    @Test
    void calibratedProbabilitiesInPredictAndProbabilityFunction() {
        Fixture f = Fixture.create(h, Harness.uniqueLabel(), Fixture.Spec.of("complex", 5, 0.0, 2, false)
                .asReciprocal(), 40, 41);
        String pair = "MATCH (a:" + f.label + " {key: $a}), (b:" + f.label + " {key: $b}) ";
        String probability = pair + "RETURN vlkge.probability(a, 'likes', b, $run, $d) AS p";
        // uncalibrated (an older run): sigmoid of the direction's query score
        double raw = f.queryScore(3, "likes", true, 7);
        assertEquals(1 / (1 + Math.exp(-raw)), (double) h.single(probability,
                Map.of("a", 3, "b", 7, "run", f.runId, "d", "tail")), 1e-12);
        double[] calibration = {0.8, -2.5, 1.3, -4.0};
        h.run("MATCH (:VlkgeRun {run_id: $run})-[:VLKGE_HAS_RELATION]->(r:VlkgeRelation {relation: 'likes'}) "
                + "SET r.calibration = $c", Map.of("run", f.runId, "c", calibration));
        for (Direction d : Direction.values()) {
            int at = d == Direction.TAIL ? 0 : 2;
            for (Map<String, Object> row : predict(f, 3, "likes", Map.of("k", 5, "direction", d.key()))) {
                int other = ((Number) row.get("key")).intValue();
                double score = (double) row.get("score");
                double expected = 1 / (1 + Math.exp(-(calibration[at] * score + calibration[at + 1])));
                assertEquals(expected, (double) row.get("probability"), 1e-12, d.key());
                Map<String, Object> args = d == Direction.TAIL ? Map.of("a", 3, "b", other, "run", f.runId, "d", "tail")
                        : Map.of("a", other, "b", 3, "run", f.runId, "d", "head");
                assertEquals(expected, (double) h.single(probability, args), 1e-9, "vlkge.probability " + d.key());
            }
        }
        double tail = f.queryScore(3, "likes", true, 7);  // the default direction is tail
        assertEquals(1 / (1 + Math.exp(-(0.8 * tail - 2.5))), (double) h.single(
                pair + "RETURN vlkge.probability(a, 'likes', b, $run) AS p", Map.of("a", 3, "b", 7, "run", f.runId)),
                1e-9);
        h.run("MATCH (:VlkgeRun {run_id: $run})-[:VLKGE_HAS_RELATION]->(r:VlkgeRelation {relation: 'likes'}) "
                + "SET r.calibration = [1.0, 2.0]", Map.of("run", f.runId));
        String msg = error(probability, Map.of("a", 3, "b", 7, "run", f.runId, "d", "tail"));
        assertTrue(msg.contains("relation 'likes' has a calibration of 2 values"), msg);
        msg = error(probability, Map.of("a", 3, "b", 7, "run", f.runId, "d", "sideways"));
        assertTrue(msg.contains("direction must be 'tail' or 'head'"), msg);
    }

    // ---- errors -------------------------------------------------------------------------------------

    @Test
    void nodeWithoutEmbedding() {
        Fixture f = fixture("distmult", 4, 0, 2, false, 3, 19);
        h.run("CREATE (:" + f.label + " {key: 99})", Map.of());
        String p = "MATCH (n:" + f.label + " {key: 99}), (m:" + f.label + " {key: 0}) ";
        Map<String, Object> run = Map.of("run", f.runId);
        for (String q : List.of(p + "RETURN vlkge.score(n, 'likes', m, $run)",
                p + "RETURN vlkge.score(m, 'likes', n, $run)",
                p + "CALL vlkge.predict(n, 'likes', {runId: $run}) YIELD node RETURN node",
                p + "CALL vlkge.similar(n, 3, $run) YIELD node RETURN node")) {
            String msg = error(q, run);
            assertTrue(msg.contains("has no vlkge_embedding_a property") && msg.contains(f.runId), msg);
        }
    }

    @Test
    void unknownRelation() {
        Fixture f = fixture("distmult", 4, 0, 2, false, 3, 20);
        String p = "MATCH (n:" + f.label + " {key: 1}), (m:" + f.label + " {key: 0}) ";
        Map<String, Object> run = Map.of("run", f.runId);
        for (String q : List.of(p + "RETURN vlkge.score(n, 'hates', m, $run)",
                p + "CALL vlkge.predict(n, 'hates', {runId: $run}) YIELD node RETURN node",
                p + "CALL vlkge.candidates(n, {relation: 'hates', runId: $run}) YIELD candidate RETURN candidate")) {
            String msg = error(q, run);
            assertTrue(msg.contains("unknown relation 'hates'") && msg.contains("knows"), msg);
        }
    }

    @Test
    void missingRun() {
        Fixture f = fixture("distmult", 4, 0, 2, false, 3, 21);
        String p = "MATCH (n:" + f.label + " {key: 1}), (m:" + f.label + " {key: 0}) ";
        String msg = error(p + "RETURN vlkge.score(n, 'likes', m, 'no-such-run')", Map.of());
        assertTrue(msg.contains("missing run") && msg.contains("no-such-run"), msg);
        msg = error("CALL vlkge.info('no-such-run')", Map.of());
        assertTrue(msg.contains("missing run"), msg);
        // no active run at all (looked at inside a transaction that is rolled back)
        String noActive = h.inRolledBackTx(tx -> {
            tx.execute("MATCH (r:VlkgeRun) SET r.active = false").close();
            Exception e = assertThrows(Exception.class, () -> Harness.rows(tx,
                    p + "CALL vlkge.predict(n, 'likes', {}) YIELD node RETURN node", Map.of()));
            return rootMessage(e);
        });
        assertTrue(noActive.contains("no active (:VlkgeRun)"), noActive);
    }

    private static String rootMessage(Throwable t) {
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage();
    }

    @Test
    void dimensionMismatch() {
        Fixture f = fixture("complex", 4, 0, 2, false, 3, 22);
        h.run("MATCH (n:" + f.label + " {key: 2}) SET n.vlkge_embedding_a = [1.0, 2.0, 3.0, 4.0]", Map.of());
        String p = "MATCH (n:" + f.label + " {key: 2}), (m:" + f.label + " {key: 0}) ";
        Map<String, Object> run = Map.of("run", f.runId);
        for (String q : List.of(p + "RETURN vlkge.score(m, 'likes', n, $run)",
                p + "CALL vlkge.predict(n, 'likes', {runId: $run}) YIELD node RETURN node")) {
            String msg = error(q, run);
            assertTrue(msg.contains("dimension mismatch") && msg.contains("4-value"), msg);
        }
        h.run("MATCH (:VlkgeRun {run_id: $run})-[:VLKGE_HAS_RELATION]->(r:VlkgeRelation {relation: 'knows'}) "
                + "SET r.vector = [1.0, 2.0]", run);
        String msg = error(p.replace("key: 2", "key: 1") + "RETURN vlkge.score(m, 'knows', n, $run)", run);
        assertTrue(msg.contains("dimension mismatch: relation 'knows'"), msg);
    }

    @Test
    void badConfig() {
        Fixture f = fixture("distmult", 4, 0, 2, false, 3, 23);
        String p = "MATCH (n:" + f.label + " {key: 1}) CALL vlkge.predict(n, 'likes', $config) YIELD node RETURN node";
        String msg = error(p, Map.of("config", Map.of("runId", f.runId, "topK", 3)));
        assertTrue(msg.contains("unknown config key 'topK'"), msg);
        msg = error(p, Map.of("config", Map.of("runId", f.runId, "direction", "sideways")));
        assertTrue(msg.contains("direction must be 'tail' or 'head'"), msg);
        msg = error(p, Map.of("config", Map.of("runId", f.runId, "k", "ten")));
        assertTrue(msg.contains("config.k must be an integer"), msg);
        msg = error(p, Map.of("config", Map.of("runId", f.runId, "k", -1)));
        assertTrue(msg.contains("config.k must be between"), msg);
    }
}
