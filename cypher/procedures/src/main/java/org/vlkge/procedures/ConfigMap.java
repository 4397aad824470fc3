package org.vlkge.procedures;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.vlkge.VlkgeException;

/** Typed, validated reading of a procedure's {@code config} map; unknown keys are errors (typos show). */
final class ConfigMap {
    private final String procedure;
    private final Map<String, Object> values;

    ConfigMap(String procedure, Map<String, Object> values, Set<String> allowed) {
        this.procedure = procedure;
        this.values = values == null ? Map.of() : values;
        for (String key : this.values.keySet()) {
            if (!allowed.contains(key)) {
                throw new VlkgeException(procedure + ": unknown config key '" + key + "'; allowed: "
                        + new TreeSet<>(allowed));
            }
        }
    }

    String string(String key, String fallback) {
        Object v = values.get(key);
        if (v == null) {
            return fallback;
        }
        if (v instanceof String s) {
            return s;
        }
        throw wrongType(key, "a string", v);
    }

    long integer(String key, long fallback, long min, long max) {
        Object v = values.get(key);
        if (v == null) {
            return fallback;
        }
        if (!(v instanceof Long || v instanceof Integer)) {
            throw wrongType(key, "an integer", v);
        }
        long n = ((Number) v).longValue();
        if (n < min || n > max) {
            throw new VlkgeException(procedure + ": config." + key + " must be between " + min + " and " + max
                    + ", got " + n);
        }
        return n;
    }

    Double number(String key) {
        Object v = values.get(key);
        if (v == null) {
            return null;
        }
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        throw wrongType(key, "a number", v);
    }

    boolean bool(String key, boolean fallback) {
        Object v = values.get(key);
        if (v == null) {
            return fallback;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        throw wrongType(key, "true or false", v);
    }

    /** A string or a list of strings, as a list (empty when absent). */
    List<String> strings(String key) {
        Object v = values.get(key);
        List<String> out = new ArrayList<>();
        if (v == null) {
            return out;
        }
        if (v instanceof String s) {
            out.add(s);
            return out;
        }
        if (v instanceof List<?> list) {
            for (Object item : list) {
                if (!(item instanceof String s)) {
                    throw wrongType(key, "a string or a list of strings", v);
                }
                out.add(s);
            }
            return out;
        }
        throw wrongType(key, "a string or a list of strings", v);
    }

    private VlkgeException wrongType(String key, String expected, Object value) {
        return new VlkgeException(procedure + ": config." + key + " must be " + expected + ", got " + value);
    }
}
