#!/usr/bin/env bash
# npm run fuzz: builds the fuzz targets of fuzz/ (cargo-fuzz, libFuzzer) and runs each for a bounded
# time, on the stable toolchain.
#
#   bash scripts/fuzz.sh [--quick] [--seconds N] [--sanitizer none|address] [TARGET…]
#
# Default: 60 s per target (FUZZ_SECONDS overrides); --quick: 10 s per target, what `npm test` runs.
# Seeds come from fuzz/corpus/<target>/ (committed); new finds go to fuzz/corpus-local/<target>/ and
# failing inputs to fuzz/artifacts/<target>/ (both ignored by git). libFuzzer's output is kept in
# fuzz/logs/<target>.log; this script prints a summary, never an input.
source "$(dirname "$0")/lib.sh"


seconds="${FUZZ_SECONDS:-60}"
sanitizer=none
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) seconds="${FUZZ_SECONDS:-10}" ;;
    --seconds) seconds="$2"; shift ;;
    --sanitizer) sanitizer="$2"; shift ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
case "$seconds" in ''|*[!0-9]*) echo "--seconds takes a whole number" >&2; exit 2 ;; esac

ensure_cargo_fuzz
cd "$ROOT/fuzz"
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)

# Without a sanitizer, cargo-fuzz passes only stable flags (-C passes=sancov-module, -C llvm-args=…).
# AddressSanitizer takes -Z sanitizer=address, which stable rustc accepts only with RUSTC_BOOTSTRAP=1
# (its runtime ships with the stable toolchain). Cargo caches rustc's answers in target/.rustc_info.json
# without that variable in the key, failures included: drop the cache so an earlier run without it
# cannot poison this one.
if [ "$sanitizer" != none ]; then export RUSTC_BOOTSTRAP=1; fi
rm -f target/.rustc_info.json

say "building the fuzz targets (sanitizer: $sanitizer)"
cargo fuzz build --sanitizer "$sanitizer"

mkdir -p logs
failed=()
for t in "${targets[@]}"; do
  say "fuzzing $t for ${seconds} s"
  mkdir -p "corpus-local/$t" "corpus/$t"
  dict=()
  [ -f "dict/$t.dict" ] && dict=("-dict=dict/$t.dict")
  log="logs/$t.log"
  # libFuzzer: new finds go to the first corpus directory; -timeout bounds one input, timeout(1) the run.
  if timeout $((seconds + 300)) cargo fuzz run --sanitizer "$sanitizer" "$t" "corpus-local/$t" "corpus/$t" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 "${dict[@]}" >"$log" 2>&1; then
    # "#1234 DONE cov: 578 ft: 1995 corp: 484/40Kb lim: 4096 exec/s: 39613 rss: 32Mb"
    awk -v t="$t" '/DONE/ {
        for (i = 1; i <= NF; i++) { if ($i == "cov:") c = $(i+1); if ($i == "corp:") k = $(i+1); if ($i == "exec/s:") e = $(i+1) }
        sub(/^#/, "", $1); split(k, kk, "/");
        printf "  %s: %s runs (%s/s), coverage %s, corpus %s inputs: no failure\n", t, $1, e, c, kk[1] }' "$log"
  else
    failed+=("$t")
    echo "  $t FAILED:" >&2
    # The panic's place and message (assertions print lengths and positions, never the input).
    grep -A1 -m1 'panicked at' "$log" | sed 's/^/    /' >&2 || true
    grep -m1 -E 'ERROR: libFuzzer|SUMMARY' "$log" | sed 's/^/    /' >&2 || true
    artifact="$(grep -o 'Test unit written to [^ ]*' "$log" | head -1 | sed 's/Test unit written to //')"
    if [ -n "$artifact" ]; then
      echo "    input: ${artifact#"$ROOT/"}; replay: (cd fuzz && cargo fuzz run --sanitizer $sanitizer $t ${artifact#"$ROOT/fuzz/"})" >&2
    fi
    echo "    full log: fuzz/$log" >&2
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing failed: ${failed[*]}" >&2
  exit 1
fi
say "fuzzing: ${#targets[@]} targets, ${seconds} s each, no failure"
