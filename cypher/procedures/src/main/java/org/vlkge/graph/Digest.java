package org.vlkge.graph;

import java.lang.reflect.Array;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.List;
import org.vlkge.VlkgeException;

/**
 * A 64-bit digest of a value: the first 8 bytes (big-endian) of the SHA-256 of its canonical encoding.
 * The encoding is the one {@code vlkge_graph/jobs/fingerprint.py} writes, so Python and the server agree:
 * null {@code N}; a string {@code S<utf-8 length>:<bytes>}; an integer {@code I<decimal>:}; a list
 * {@code L<size>:<items>} (arrays too). Summed (mod 2^64) over rows, digests give an order-independent
 * fingerprint.
 */
public final class Digest {
    private final MessageDigest sha;

    public Digest() {
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /** The digest of {@code value} (strings, integers, lists of those, nulls). */
    public long of(Object value) {
        sha.reset();
        encode(value);
        byte[] d = sha.digest();
        long x = 0;
        for (int i = 0; i < 8; i++) {
            x = (x << 8) | (d[i] & 0xffL);
        }
        return x;
    }

    private void encode(Object value) {
        if (value == null) {
            ascii("N");
        } else if (value instanceof String s) {
            byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
            ascii("S" + bytes.length + ":");
            sha.update(bytes);
        } else if (value instanceof Long || value instanceof Integer) {
            ascii("I" + value + ":");
        } else if (value instanceof List<?> list) {
            ascii("L" + list.size() + ":");
            for (Object item : list) {
                encode(item);
            }
        } else if (value.getClass().isArray()) { // array properties (String[], long[]) arrive as arrays
            int n = Array.getLength(value);
            ascii("L" + n + ":");
            for (int i = 0; i < n; i++) {
                encode(Array.get(value, i));
            }
        } else {
            throw new VlkgeException("vlkge.fingerprint: cannot digest a value of type "
                    + value.getClass().getSimpleName() + " (strings, integers and lists of them only; "
                    + "wrap numbers in toString())");
        }
    }

    private void ascii(String s) {
        sha.update(s.getBytes(StandardCharsets.US_ASCII));
    }

    /** The digest as 16 lower-case hex digits (the unsigned value), as Python prints it. */
    public static String hex(long x) {
        return String.format("%016x", x);
    }
}
