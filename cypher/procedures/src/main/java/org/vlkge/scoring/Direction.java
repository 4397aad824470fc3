package org.vlkge.scoring;

import java.util.Locale;
import org.vlkge.VlkgeException;

/** Which end of a triple a query asks for: {@code tail} scores (node, r, ?), {@code head} scores (?, r, node). */
public enum Direction {
    TAIL,
    HEAD;

    public String key() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Direction fromKey(String key) {
        if (key == null) {
            return TAIL;
        }
        for (Direction d : values()) {
            if (d.key().equalsIgnoreCase(key)) {
                return d;
            }
        }
        throw new VlkgeException("direction must be 'tail' or 'head', not '" + key + "'");
    }
}
