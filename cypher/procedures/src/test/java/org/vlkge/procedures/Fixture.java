package org.vlkge.procedures;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import org.vlkge.scoring.Backbone;
import org.vlkge.scoring.BackboneOptions;
import org.vlkge.scoring.backbones.Backbones;

/**
 * A small published state written as docs/graph-model.md describes it: one (:VlkgeRun) of scope {@code label}
 * over entity label {@code label}, with a fresh {@code generation} number from the (:VlkgeCounter) as a publish
 * allocates it, with two (:VlkgeRelation) vectors ({@code likes}, {@code knows}; with
 * {@code inverse_vector}s when the run is reciprocal) and {@code entities} nodes of {@code label} keyed 0..n-1
 * with a random embedding in the run's slot ({@code vlkge_embedding_a} unless told).
 */
final class Fixture {
    static final String SLOT_A = "vlkge_embedding_a";
    static final String SLOT_B = "vlkge_embedding_b";

    /** A run's backbone parameters, as on the (:VlkgeRun) node. */
    record Spec(String key, int dim, double gamma, int p, boolean normalize, boolean reciprocal) {
        /** The run node's backbone properties, as a publish writes them. */
        Map<String, Object> properties() {
            return Map.of("backbone", key, "dim", dim, "gamma", gamma, "p", p, "normalize", normalize);
        }

        Backbone backbone() {
            return Backbones.create(new BackboneOptions("fixture run", properties()));
        }

        Spec asReciprocal() {
            return new Spec(key, dim, gamma, p, normalize, true);
        }

        static Spec of(String backbone, int dim, double gamma, int p, boolean normalize) {
            return new Spec(backbone, dim, gamma, p, normalize, false);
        }
    }

    final String label;
    final String runId;
    final long generation;
    final Spec spec;
    final Backbone backbone;
    final String slot;
    final double[][] embeddings;
    final Map<String, double[]> relations = new LinkedHashMap<>();
    final Map<String, double[]> inverses = new LinkedHashMap<>();

    private Fixture(Harness h, String label, String runId, Spec spec, String slot, double[][] embeddings) {
        this.label = label;
        this.runId = runId;
        this.generation = nextGeneration(h);
        this.spec = spec;
        this.backbone = spec.backbone();
        this.slot = slot;
        this.embeddings = embeddings;
    }

    /** Writes run, relations and entities (in slot A); the run is not made active (see {@link #activate}). */
    static Fixture create(Harness h, String label, Spec spec, int entities, long seed) {
        return create(h, label, spec, entities, seed, SLOT_A);
    }

    static Fixture create(Harness h, String label, Spec spec, int entities, long seed, String slot) {
        Random rng = new Random(seed);
        int width = spec.backbone().entityWidth();
        double[][] emb = new double[entities][];
        for (int i = 0; i < entities; i++) {
            emb[i] = random(rng, width, 1.0);
        }
        Fixture f = new Fixture(h, label, "run-" + UUID.randomUUID(), spec, slot, emb);
        f.randomRelations(rng);
        f.writeRun(h);
        List<Map<String, Object>> rows = new ArrayList<>();
        for (int i = 0; i < entities; i++) {
            rows.add(Map.of("key", i, "e", emb[i]));
        }
        // MERGE: a second fixture over the same label writes its slot on the same nodes
        h.run("UNWIND $rows AS row MERGE (n:" + label + " {key: row.key}) "
                + "SET n." + slot + " = row.e, n.vlkge_run_id = $run", Map.of("rows", rows, "run", f.runId));
        return f;
    }

    /** Another run of the same scope over the same entities and slot (other backbone and relation vectors). */
    static Fixture sameEntities(Harness h, Fixture base, Spec spec, long seed) {
        Fixture f = new Fixture(h, base.label, "run-" + UUID.randomUUID(), spec, base.slot, base.embeddings);
        f.randomRelations(new Random(seed));
        f.writeRun(h);
        return f;
    }

    private void randomRelations(Random rng) {
        double scale = spec.key().equals("rotate") ? 1.5 : 0.7; // phases
        for (String name : List.of("likes", "knows")) {
            relations.put(name, random(rng, backbone.relationWidth(), scale));
        }
        if (spec.reciprocal()) {
            for (String name : List.of("likes", "knows")) {
                inverses.put(name, random(rng, backbone.relationWidth(), scale));
            }
        }
    }

    private void writeRun(Harness h) {
        Map<String, Object> props = new LinkedHashMap<>();
        props.put("run_id", runId);
        props.put("generation", generation);
        props.put("scope", label);
        props.put("status", "published");
        props.put("active", false);
        props.put("embedding_property", slot);
        props.put("reciprocal", spec.reciprocal());
        props.putAll(spec.properties());
        props.put("encoder_image", "efficientnet-lite0");
        props.put("encoder_text", "all-MiniLM-L6-v2");
        props.put("fusion", "average");
        props.put("metrics", "{\"mrr\": 0.42, \"hits@10\": 0.6}");
        props.put("config", "{\"epochs\": 3}");
        props.put("entity_key", "key");
        props.put("entity_labels", new String[] {label});
        List<Map<String, Object>> rels = new ArrayList<>();
        relations.forEach((name, v) -> {
            Map<String, Object> rel = new LinkedHashMap<>(Map.of("relation", name, "type", type(name), "vector", v));
            if (inverses.containsKey(name)) {
                rel.put("inverse_vector", inverses.get(name));
            }
            rels.add(rel);
        });
        h.run("CREATE (r:VlkgeRun) SET r = $props, r.created_at = datetime(), r.published_at = datetime() "
                + "WITH r UNWIND $rels AS rel CREATE (r)-[:VLKGE_HAS_RELATION]->(x:VlkgeRelation {run_id: r.run_id}) "
                + "SET x += rel", Map.of("props", props, "rels", rels));
    }

    /** A fresh generation number, allocated as graph/generation.py does. */
    static long nextGeneration(Harness h) {
        return (long) h.single("MERGE (g:VlkgeCounter {name: 'generation'}) SET g.value = coalesce(g.value, 0) + 1 "
                + "RETURN g.value", Map.of());
    }

    static double[] random(Random rng, int n, double scale) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (rng.nextGaussian() * scale); // float32 values, as a publish stores them
        }
        return v;
    }

    static String type(String relation) {
        return "VT_" + relation.toUpperCase(Locale.ROOT);
    }

    /** Makes this run the active one of its scope (as a publish does; other scopes keep theirs). */
    void activate(Harness h) {
        h.run("MATCH (r:VlkgeRun {scope: $scope}) SET r.active = (r.run_id = $run), "
                + "r.published_at = CASE r.run_id WHEN $run THEN datetime() ELSE r.published_at END",
                Map.of("scope", label, "run", runId));
    }

    /**
     * Keys of the top {@code k} answers by brute-force triple scoring (the reference ranking); a reciprocal
     * run's head query is the tail query with the inverse relation, as the Python KGEModel scores it.
     */
    List<Integer> bruteForce(int key, String relation, boolean tail, int k, java.util.Set<Integer> skip) {
        List<double[]> scored = new ArrayList<>();
        for (int i = 0; i < embeddings.length; i++) {
            if (i == key || skip.contains(i)) {
                continue;
            }
            scored.add(new double[] {queryScore(key, relation, tail, i), i});
        }
        scored.sort((a, b) -> Double.compare(b[0], a[0]));
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < Math.min(k, scored.size()); i++) {
            out.add((int) scored.get(i)[1]);
        }
        return out;
    }

    /** The score of answer {@code other} to the query about {@code key} (tail: (key, r, ?); head: (?, r, key)). */
    double queryScore(int key, String relation, boolean tail, int other) {
        if (tail) {
            return score(key, relation, other);
        }
        if (spec.reciprocal()) {
            return backbone.score(embeddings[key], inverses.get(relation), embeddings[other]);
        }
        return score(other, relation, key);
    }

    double score(int head, String relation, int tail) {
        return backbone.score(embeddings[head], relations.get(relation), embeddings[tail]);
    }
}
