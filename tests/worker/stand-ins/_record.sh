# Sourced by the stand-ins: append "<tool>\t<arg>\t<arg>..." to $STANDIN_DIR/calls.log.
standin_record() {
    [ -n "$STANDIN_DIR" ] || return 0
    {
        printf '%s' "$STANDIN_TOOL"
        for a in "$@"; do printf '\t%s' "$a"; done
        printf '\n'
    } >> "$STANDIN_DIR/calls.log"
}
