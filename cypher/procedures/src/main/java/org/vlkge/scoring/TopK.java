package org.vlkge.scoring;

import java.util.Arrays;

/**
 * The k best (row, score) pairs seen so far: a bounded min-heap on primitive arrays. Higher scores win;
 * among equal scores the smaller tie key (a node id) wins, so results are deterministic.
 */
public final class TopK {
    private final int k;
    private final int[] rows;
    private final double[] scores;
    private final long[] keys;
    private int size;

    public TopK(int k) {
        if (k < 0) {
            throw new IllegalArgumentException("k must be >= 0");
        }
        this.k = k;
        this.rows = new int[k];
        this.scores = new double[k];
        this.keys = new long[k];
    }

    /** Whether a candidate with this score (and tie key) would enter the heap: cheap, call it first. */
    public boolean accepts(double score, long key) {
        if (size < k) {
            return true;
        }
        return k > 0 && better(score, key, scores[0], keys[0]);
    }

    public void offer(int row, double score, long key) {
        if (size < k) {
            rows[size] = row;
            scores[size] = score;
            keys[size] = key;
            siftUp(size++);
        } else if (k > 0 && better(score, key, scores[0], keys[0])) {
            rows[0] = row;
            scores[0] = score;
            keys[0] = key;
            siftDown(0);
        }
    }

    public int size() {
        return size;
    }

    /** Rows best first. */
    public int[] rowsBestFirst() {
        Integer[] order = new Integer[size];
        for (int i = 0; i < size; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> better(scores[a], keys[a], scores[b], keys[b]) ? -1
                : better(scores[b], keys[b], scores[a], keys[a]) ? 1 : 0);
        int[] out = new int[size];
        for (int i = 0; i < size; i++) {
            out[i] = rows[order[i]];
        }
        return out;
    }

    private static boolean better(double s1, long k1, double s2, long k2) {
        return s1 > s2 || (s1 == s2 && k1 < k2);
    }

    private void siftUp(int i) {
        while (i > 0) {
            int parent = (i - 1) >>> 1;
            if (!better(scores[parent], keys[parent], scores[i], keys[i])) {
                return;
            }
            swap(i, parent);
            i = parent;
        }
    }

    private void siftDown(int i) {
        while (true) {
            int l = 2 * i + 1;
            int r = l + 1;
            int worst = i;
            if (l < size && better(scores[worst], keys[worst], scores[l], keys[l])) {
                worst = l;
            }
            if (r < size && better(scores[worst], keys[worst], scores[r], keys[r])) {
                worst = r;
            }
            if (worst == i) {
                return;
            }
            swap(i, worst);
            i = worst;
        }
    }

    private void swap(int a, int b) {
        int r = rows[a];
        rows[a] = rows[b];
        rows[b] = r;
        double s = scores[a];
        scores[a] = scores[b];
        scores[b] = s;
        long key = keys[a];
        keys[a] = keys[b];
        keys[b] = key;
    }
}
