# A tiny `moe compare` (a dense and an MoE configuration, a few steps with evals), then its
# report.html opened in headless Chromium without network: the table, every chart with its axes,
# legend or colour scale must be in the rendered DOM, the page must log no console message, and a
# screenshot goes to build/test-artifacts/report.png.
source "$(dirname "$0")/common.bash"
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[[ -x $CHROMIUM ]] || fail "no $CHROMIUM (scripts/setup.sh installs Debian's chromium)"
ART="$MOE_BUILD/test-artifacts"
mkdir -p "$ART"

cfg() {  # cfg NAME EXTRA_MODEL_LINES: a tiny configuration file
  printf '[model]\narch = "gpt"\nn_layers = 2\nn_embed = 32\nn_heads = 4\nffn_hidden = 64\nblock_size = 16\n%b\n[train]\nbatch_size = 4\nsteps = 6\neval_every = 3\neval_iters = 2\nckpt_every = 0\nlog_every = 2\n' "$2" >"$WORK/$1.toml"
  echo "$WORK/$1.toml"
}
"$MOE_BIN" compare --configs "$(cfg dense 'moe_layers = "none"')" "$(cfg moe_top2 'top_k = 2')" \
  --threads 2 --quiet --out "$WORK/cmp" >/dev/null
PAGE="$WORK/cmp/report.html"

# Headless, as root in CI (no sandbox), no GPU, no display; every network request fails: all
# names resolve nowhere and the proxy is a closed port.
chrome() {
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
    --no-default-browser-check --disable-extensions --disable-background-networking \
    --disable-dev-shm-usage \
    --disable-component-update --disable-sync --proxy-server=127.0.0.1:9 \
    --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$WORK/chrome-profile" \
    --enable-logging=stderr --v=0 "$@"
}
# Console messages appear in Chromium's log as lines with CONSOLE in them.
console_lines() { grep -a 'CONSOLE' "$1" || true; }

# The console check must be able to fail: a page that logs an error is caught.
printf '<!DOCTYPE html><html><body><script>console.error("probe-error")</script></body></html>' >"$WORK/probe.html"
chrome --dump-dom "file://$WORK/probe.html" >/dev/null 2>"$WORK/probe.log" || fail "chromium failed on the probe page: $(tail -3 "$WORK/probe.log")"
[[ $(console_lines "$WORK/probe.log") == *probe-error* ]] || fail "console messages are not visible in chromium's log"

chrome --dump-dom "file://$PAGE" >"$WORK/dom.html" 2>"$WORK/chrome.log" || fail "chromium failed: $(tail -3 "$WORK/chrome.log")"
[[ -z $(console_lines "$WORK/chrome.log") ]] || fail "console messages: $(console_lines "$WORK/chrome.log")"
chrome --screenshot="$ART/report.png" --window-size=1200,4000 --hide-scrollbars "file://$PAGE" \
  >/dev/null 2>"$WORK/shot.log" || fail "screenshot failed: $(tail -3 "$WORK/shot.log")"
[[ $(head -c 8 "$ART/report.png" | od -An -tx1 | tr -d ' \n') == 89504e470d0a1a0a ]] || fail "$ART/report.png is not a PNG"

"$PY" - "$WORK/dom.html" <<'PYEOF'
import sys
from html.parser import HTMLParser

class Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.svgs, self.tables, self.rows, self.tokens = [], [], [], {}, 0
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "svg":
            self.svgs.append({"id": a.get("id"), "classes": classes, "parts": set(), "series": 0})
        elif self.svgs and tag == "g":
            svg = self.svgs[-1]
            svg["parts"].update(classes)
            svg["series"] += "series" in classes
        if tag == "table":
            self.tables.append(a.get("id"))
            self.rows[a.get("id")] = 0
        if tag == "tr" and self.tables:
            self.rows[self.tables[-1]] += 1
        if tag == "code" and "tok" in classes:
            self.tokens += 1

p = Collect()
p.feed(open(sys.argv[1]).read())
ids = {s["id"]: s for s in p.svgs}
top = ["table-top-tokens-1-layer0", "table-top-tokens-1-layer1"]
assert p.tables == ["summary-table"] + top, f"tables: {p.tables}"
assert p.rows["summary-table"] == 3, f"summary table rows {p.rows}, expected a header and 2 runs"
for t in top:  # a header and one row per expert (8)
    assert p.rows[t] == 9, f"{t} has {p.rows[t]} rows"
assert p.tokens > 0, "no token in the top-token tables"
expected = ["chart-loss", "heatmap-usage-1", "chart-entropy-1", "chart-imbalance-1",
            "chart-load-1-layer0", "chart-load-1-layer1", "chart-aux", "chart-throughput"]
for name in expected:
    assert name in ids, f"no chart {name}; charts: {sorted(ids)}"
assert "heatmap-usage-0" not in ids, "the dense run has a usage heat map"
assert "chart-imbalance-0" not in ids, "the dense run has a load imbalance chart"
for s in p.svgs:
    if "line-chart" in s["classes"]:
        for part in ("x-axis", "y-axis", "legend"):
            assert part in s["parts"], f"{s['id']} lacks {part}"
        assert s["series"] > 0, f"{s['id']} has no series"
    elif "heatmap" in s["classes"]:
        for part in ("col-labels", "row-labels", "cells", "color-scale"):
            assert part in s["parts"], f"{s['id']} lacks {part}"
    else:
        raise AssertionError(f"unexpected svg {s['id']} {s['classes']}")
assert ids["chart-loss"]["series"] == 4, "loss chart: val and train of 2 runs expected"
print(f"report.html: table and {len(p.svgs)} charts rendered ({', '.join(sorted(ids))})")
PYEOF
echo "chromium: no console messages; screenshot $ART/report.png ($(stat -c %s "$ART/report.png") bytes)"
