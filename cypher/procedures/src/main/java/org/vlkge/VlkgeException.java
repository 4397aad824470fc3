package org.vlkge;

/** A user-facing error of a vlkge procedure: its message says what is wrong and what to do. */
public class VlkgeException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public VlkgeException(String message) {
        super(message);
    }
}
