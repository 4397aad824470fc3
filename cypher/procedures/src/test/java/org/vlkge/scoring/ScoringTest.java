package org.vlkge.scoring;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.vlkge.VlkgeException;
import org.vlkge.scoring.backbones.Backbones;

/** Query (block) scoring equals triple scoring for every backbone; TopK; dimension and option checks. */
class ScoringTest {
    private static final Backbone[] ALL = {
        backbone("transe", 24, 12, 1, true), backbone("transe", 24, 12, 1, false),
        backbone("transe", 24, 7, 2, true), backbone("transe", 24, 7, 2, false),
        backbone("distmult", 24, 0, 2, false), backbone("complex", 13, 0, 2, false),
        backbone("rotate", 13, 9, 1, false), backbone("rotate", 13, 9, 2, false),
    };

    /** The backbone of a run node with these properties (as a publish writes them). */
    static Backbone backbone(String key, int dim, double gamma, int p, boolean normalize) {
        return Backbones.create(new BackboneOptions("run 'test'",
                Map.of("backbone", key, "dim", dim, "gamma", gamma, "p", p, "normalize", normalize)));
    }

    private static double[] random(Random rng, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rng.nextGaussian();
        }
        return v;
    }

    @Test
    void queriesAgreeWithTripleScores() {
        Random rng = new Random(3);
        for (Backbone s : ALL) {
            int w = s.entityWidth();
            int n = 37;
            double[] anchor = random(rng, w);
            double[] r = random(rng, s.relationWidth());
            float[] data = new float[n * w];
            double[][] rows = new double[n][];
            for (int j = 0; j < n; j++) {
                rows[j] = random(rng, w);
                for (int i = 0; i < w; i++) {
                    data[j * w + i] = (float) rows[j][i];
                }
            }
            EmbeddingBlock block = new EmbeddingBlock(new long[n], data, w, n, 0);
            double[] tails = block.score(s.query(anchor, r, Direction.TAIL));
            double[] heads = block.score(s.query(anchor, r, Direction.HEAD));
            float[] fastTails = block.scoreFast(s.query(anchor, r, Direction.TAIL));
            float[] fastHeads = block.scoreFast(s.query(anchor, r, Direction.HEAD));
            for (int j = 0; j < n; j++) {
                String what = s.key() + " row " + j;
                assertEquals(s.score(anchor, r, rows[j]), tails[j], 1e-9, what);
                assertEquals(s.score(rows[j], r, anchor), heads[j], 1e-9, what);
                assertEquals(tails[j], fastTails[j], 1e-5 * Math.max(1, Math.abs(tails[j])), what + " (fast)");
                assertEquals(heads[j], fastHeads[j], 1e-5 * Math.max(1, Math.abs(heads[j])), what + " (fast)");
            }
        }
    }

    @Test
    void rankerReturnsTheExactTopKWithExactScores() {
        Random rng = new Random(4);
        Backbone s = backbone("rotate", 16, 12, 1, false);
        int n = 501;
        int w = s.entityWidth();
        float[] data = new float[n * w];
        for (int i = 0; i < data.length; i++) {
            data[i] = (float) rng.nextGaussian();
        }
        long[] ids = new long[n];
        for (int i = 0; i < n; i++) {
            ids[i] = 1000 + i;
        }
        EmbeddingBlock block = new EmbeddingBlock(ids, data, w, n, 0);
        Query q = s.query(random(rng, w), random(rng, s.relationWidth()), Direction.TAIL);
        double[] exact = block.score(q);
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (a, b) -> Double.compare(exact[b], exact[a]));
        Ranker.Ranked top = Ranker.top(block, q, 10, id -> id == 1000 + order[0]);
        for (int i = 0; i < 10; i++) {
            assertEquals(order[i + 1], top.rows()[i]); // the best row is skipped
            assertEquals(exact[order[i + 1]], top.scores()[i], 0.0);
        }
        assertEquals(0, Ranker.top(block, q, 0, id -> false).size());
        assertEquals(n, Ranker.top(block, q, 10 * n, id -> false).size());
    }

    @Test
    void patchedBlockUpdatesAppendsAndRemovesRows() {
        EmbeddingBlock block = new EmbeddingBlock(new long[] {7, 3, 9}, new float[] {1, 1, 2, 2, 3, 3}, 2, 3, 0);
        java.util.Map<Long, float[]> updates = new java.util.HashMap<>();
        updates.put(3L, new float[] {5, 5}); // changed
        updates.put(9L, null); // removed
        updates.put(11L, new float[] {6, 6}); // new
        updates.put(12L, null); // never there
        EmbeddingBlock patched = block.patched(updates);
        assertEquals(4, patched.count());
        assertEquals(1, patched.removed());
        assertEquals(1, patched.rowOf(3));
        assertEquals(-1, patched.rowOf(9));
        assertEquals(EmbeddingBlock.REMOVED, patched.id(2));
        assertEquals(3, patched.rowOf(11));
        assertArrayEquals(new double[] {5, 5}, patched.row(1), 0);
        assertArrayEquals(new double[] {6, 6}, patched.row(3), 0);
        assertArrayEquals(new double[] {2, 2}, block.row(1), 0, "the original block is unchanged");
        Ranker.Ranked top = Ranker.top(patched, Query.cosine(new double[] {1, 1}), 10, id -> false);
        assertEquals(3, top.size(), "tombstones are never candidates");
    }

    @Test
    void cosineQuery() {
        EmbeddingBlock block = new EmbeddingBlock(new long[] {1, 2, 3, 4}, new float[] {2, 0, 0, 3, 1, 1, 0, 0},
                2, 4, 0);
        double[] cos = block.score(Query.cosine(new double[] {1, 0}));
        assertArrayEquals(new double[] {1, 0, Math.sqrt(0.5), 0}, cos, 1e-12);
    }

    @Test
    void dimensionMismatchIsAnError() {
        Backbone s = backbone("complex", 4, 0, 2, false);
        VlkgeException e = assertThrows(VlkgeException.class,
                () -> s.score(new double[4], new double[8], new double[8]));
        assertTrue(e.getMessage().contains("dimension mismatch"), e.getMessage());
        e = assertThrows(VlkgeException.class, () -> s.query(new double[8], new double[4], Direction.TAIL));
        assertTrue(e.getMessage().contains("relation vector has 4 values"), e.getMessage());
        assertThrows(VlkgeException.class, () -> backbone("transe", 4, 1, 3, true));
        assertThrows(VlkgeException.class, () -> backbone("transh", 4, 1, 2, true));
        assertThrows(VlkgeException.class, () -> Direction.fromKey("sideways"));
    }

    /** The error {@link Backbones#create} throws for a run node with {@code props}. */
    private static String createError(Map<String, Object> props) {
        return assertThrows(VlkgeException.class,
                () -> Backbones.create(new BackboneOptions("run 'r1'", props))).getMessage();
    }

    @Test
    void eachBackboneReadsItsOwnOptionsWithErrorsNamingTheRunAndProperty() {
        assertEquals("run 'r1' (transe) has no numeric 'gamma' property",
                createError(Map.of("backbone", "transe", "dim", 4, "p", 1, "normalize", true)));
        assertEquals("run 'r1' (transe) has no boolean 'normalize' property",
                createError(Map.of("backbone", "transe", "dim", 4, "gamma", 1.0, "p", 1, "normalize", "yes")));
        assertEquals("run 'r1' (rotate) has 'p' = 3; expected one of [1, 2]",
                createError(Map.of("backbone", "rotate", "dim", 4, "gamma", 1.0, "p", 3L)));
        assertEquals("run 'r1' (rotate) has 'p' = 1.5; expected an integer",
                createError(Map.of("backbone", "rotate", "dim", 4, "gamma", 1.0, "p", 1.5)));
        assertEquals("run 'r1' (complex) has no numeric 'dim' property", createError(Map.of("backbone", "complex")));
        assertEquals("run 'r1' (distmult) has 'dim' = 0; the backbone dimension must be positive",
                createError(Map.of("backbone", "distmult", "dim", 0)));
        assertEquals("run 'r1' has unknown backbone 'transh'; expected one of [complex, distmult, rotate, transe]",
                createError(Map.of("backbone", "transh", "dim", 4)));
        assertEquals("run 'r1' has no string 'backbone' property", createError(Map.of("dim", 4)));
        // DistMult and ComplEx read no options; RotatE reads no normalize; p may be stored as a long or 2.0
        assertEquals(4, Backbones.create(new BackboneOptions("run 'r1'", Map.of("backbone", "distmult",
                "dim", 4L))).dim());
        assertEquals("complex", Backbones.create(new BackboneOptions("run 'r1'", Map.of("backbone", "complex",
                "dim", 4))).key());
        assertEquals(8, Backbones.create(new BackboneOptions("run 'r1'", Map.of("backbone", "rotate", "dim", 4,
                "gamma", 6, "p", 2.0))).entityWidth());
    }

    @Test
    void widths() {
        assertEquals(8, backbone("complex", 4, 0, 2, false).entityWidth());
        assertEquals(8, backbone("complex", 4, 0, 2, false).relationWidth());
        assertEquals(8, backbone("rotate", 4, 1, 2, false).entityWidth());
        assertEquals(4, backbone("rotate", 4, 1, 2, false).relationWidth());
        assertEquals(4, backbone("transe", 4, 1, 2, false).relationWidth());
        assertEquals(4, backbone("distmult", 4, 0, 2, false).entityWidth());
    }

    @Test
    void topKKeepsBestWithDeterministicTies() {
        TopK top = new TopK(3);
        double[] scores = {0.5, 2.0, -1.0, 2.0, 1.5, 0.0, 2.0};
        for (int i = 0; i < scores.length; i++) {
            top.offer(i, scores[i], 100 - i);
        }
        // ties on 2.0 break by the smaller key (100 - row): rows 6, 3, 1
        assertArrayEquals(new int[] {6, 3, 1}, top.rowsBestFirst());
        TopK none = new TopK(0);
        none.offer(0, 1.0, 0);
        assertEquals(0, none.size());
        TopK few = new TopK(5);
        few.offer(0, 1.0, 0);
        few.offer(1, 3.0, 1);
        assertArrayEquals(new int[] {1, 0}, few.rowsBestFirst());
    }

    @Test
    void normalizationOfZeroVectorFollowsTorch() {
        // F.normalize divides by max(||x||, eps): a zero vector stays zero.
        Backbone s = backbone("transe", 3, 2.0, 1, true);
        double score = s.score(new double[3], new double[] {3, 0, 4}, new double[] {0, 2, 0});
        assertEquals(2.0 - (0.6 + 1.0 + 0.8), score, 1e-12);
    }
}
