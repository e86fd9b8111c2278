#!/usr/bin/env bash
# The TUI in a real terminal: tmux runs `auditlog tui` on a demo log, send-keys navigates,
# capture-pane shows what a person would see. Exits non-zero if an expected text is missing.
#
#     scripts/tui_tmux_check.sh            # prints the Runs, Run detail and Verify screens
#
# Needs tmux. Builds the demo log (plus a signed checkpoint) in a temporary directory, runs
# the TUI at 120x36 (trusting the checkpoint's key, so its signature is checked), opens a run,
# goes back, opens Verify, then quits; the session and the directory are removed whatever happens.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/auditlog-tui-check.XXXXXX")
SESSION="auditlog-tui-check-$$"
WIDTH=120
HEIGHT=36

cleanup() {
    tmux kill-session -t "$SESSION" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

command -v tmux >/dev/null || { echo "tmux is not installed" >&2; exit 2; }
cd "$WORK"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
"$PYTHON" -m auditlog demo --log demo.db >/dev/null
"$PYTHON" -m auditlog keygen --name tmux-check.example.org --out signer.key >/dev/null
"$PYTHON" -m auditlog checkpoint --log demo.db --key signer.key >/dev/null

capture() { tmux capture-pane -p -t "$SESSION"; }

wait_for() {  # wait_for TEXT [SECONDS]: until the pane shows TEXT
    local text=$1 deadline=$((SECONDS + ${2:-20}))
    until capture | grep -qF -- "$text"; do
        if ((SECONDS >= deadline)); then
            echo "tui_tmux_check: timed out waiting for: $text" >&2
            capture >&2
            exit 1
        fi
        sleep 0.2
    done
}

show() {  # show TITLE: print the pane under a heading
    echo "== $1 =="
    capture
    echo
}

tmux new-session -d -s "$SESSION" -x "$WIDTH" -y "$HEIGHT" \
    "env PYTHONPATH='$PYTHONPATH' TERM=xterm-256color COLORTERM=truecolor '$PYTHON' -m auditlog tui --log demo.db --vkey signer.vkey; sleep 30"

wait_for "of 16 runs"
wait_for "claude-x::mmlu-pro::v1.0"
show "Runs"

tmux send-keys -t "$SESSION" Down Down Enter
wait_for "Event and proof"
wait_for "proven in checkpoint of size 21 signed by tmux-check.example.org (signature checked)"
wait_for "config       none"
show "Run detail"

tmux send-keys -t "$SESSION" Escape
wait_for "of 16 runs"
tmux send-keys -t "$SESSION" v
wait_for "INTERNALLY CONSISTENT"
show "Verify"

tmux send-keys -t "$SESSION" Escape q
for _ in $(seq 50); do
    capture | grep -qF "of 16 runs" || break
    sleep 0.2
done
echo "tui_tmux_check: ok (runs listed, a run opened with its proof, the chain verified internally consistent, its stored checkpoint checked)"
