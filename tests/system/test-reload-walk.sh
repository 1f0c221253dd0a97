#!/bin/bash
# A stateful test of reload: a seeded random walk over configs (uprobes on
# the connector, several on one offset, and one tracepoint). Each step
# changes one thing (adds or removes a probe, changes a probe's fetch args,
# filter, labels or decoders, recent_events, the order of the probes, writes
# an invalid config, or nothing at all, often twice in a row), sends SIGHUP
# while a generator floods events whose label sets are new (live, or
# buffered in the kernel while the daemon is stopped), waits for the reload,
# makes a known batch of events, and checks:
#  (a) the kernel holds exactly the config's probes in our group (the lines
#      of uprobe_events), enabled exactly in our instance, with their filters;
#  (b) each probe has kprobe_exporter_probe_up 1, /probes shows the config;
#  (c) no counter of an unchanged metric (or events_total of an unchanged
#      probe) decreases;
#  (d) an unchanged probe counts what the generator made, less what the
#      daemon reports lost; an added or changed one counts the batch exactly;
#  (e) the /events?follow=1 client's seq numbers strictly increase, every
#      gap is announced by {"missed":N}, and it keeps up with the newest;
#  (f) the daemon is alive; the reload metrics and log line say what it did.
# One step is a SIGHUP storm: 50 SIGHUPs within a second, alternating two
# configs. At the end SIGTERM exits 0 and leaves nothing.
#
# KPE_WALK_SEED=N replays a walk (the seed is printed); KPE_WALK_STEPS=N
# sets its length (default 30; 6 under KPE_WRAPPER, i.e. valgrind).
# KPE_WALK_KEEP=DIR keeps the daemon's log and the last config of a failed
# walk there. tests/system/reload_walk.py does the walking.
. "$(dirname "$0")/lib.sh"

kpe_init walk
KPE_WALK_SEED=${KPE_WALK_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
[[ $KPE_WALK_SEED =~ ^[0-9]+$ ]] || fail "KPE_WALK_SEED must be a number, not '$KPE_WALK_SEED'"
if [ -n "${KPE_WRAPPER:-}" ]; then
        KPE_WALK_STEPS=${KPE_WALK_STEPS:-6}
else
        KPE_WALK_STEPS=${KPE_WALK_STEPS:-30}
fi
[[ $KPE_WALK_STEPS =~ ^[0-9]+$ ]] && [ "$KPE_WALK_STEPS" -le 100000 ] ||
        fail "KPE_WALK_STEPS must be a number up to 100000, not '$KPE_WALK_STEPS'"
log "seed $KPE_WALK_SEED, $KPE_WALK_STEPS steps (replay: KPE_WALK_SEED=$KPE_WALK_SEED KPE_WALK_STEPS=$KPE_WALK_STEPS)"

KPE_TP=0
[ -d "$TRACEFS/events/sock/inet_sock_set_state" ] && KPE_TP=1
[ $KPE_TP = 1 ] || log "no tracepoint sock/inet_sock_set_state: the walk uses uprobes only"

export KPE_WALK_SEED KPE_WALK_STEPS KPE_TP KPE_NAME TRACEFS KPE_CONNECTOR KPE_WORK KPE_WALK_KEEP
export KPE_CONFIG="$KPE_WORK/probes.yaml" KPE_OFF KPE_REG
KPE_OFF=$(connector_offset)
KPE_REG=$(arg2_register)
WALK="$(dirname "$0")/reload_walk.py"

python3 "$WALK" init || fail "reload_walk.py init failed"
start_daemon "$KPE_CONFIG"
export KPE_PID KPE_PORT KPE_ERR

# Bounded: each step waits at most a few bounded loops; the whole walk is
# bounded by meson's timeout, and this one.
timeout --foreground -k 10 $((60 + KPE_WALK_STEPS * 60)) python3 "$WALK" walk
rc=$?
[ $rc = 0 ] || {
        assert_daemon_alive "at the end of the walk (seed $KPE_WALK_SEED)"
        fail "the walk found violations (exit $rc; seed $KPE_WALK_SEED, see FAIL lines above)"
}

assert_daemon_alive "at the end of the walk"
stop_daemon TERM || fail "daemon exited with status $? on SIGTERM after the walk (seed $KPE_WALK_SEED)"
assert_no_leftovers "after SIGTERM at the end of the walk (seed $KPE_WALK_SEED)"
log "pass"
