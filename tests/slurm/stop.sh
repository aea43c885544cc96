#!/usr/bin/env bash
# Stop the daemons that tests/slurm/start.sh started under SLURM_ROOT, by the PIDs it recorded
# (a PID is only signalled while it still belongs to the daemon of that name), and remove the
# /etc/slurm/slurm.conf link to this cluster's config.
# Usage: bash tests/slurm/stop.sh SLURM_ROOT
set -u
SLURM_ROOT="${1:?usage: stop.sh SLURM_ROOT}"
RUN="$SLURM_ROOT/run"
export SLURM_CONF="$SLURM_ROOT/etc/slurm.conf"

ours() {  # name -> its PID if the recorded process is still that daemon
  local f="$RUN/$1.pid" pid
  [ -f "$f" ] || return 1
  pid="$(cat "$f")"
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$1" ] && echo "$pid"
}

stop() {  # names...: TERM them all, wait up to 10 s, then KILL what is left
  local name pid pids=()
  for name in "$@"; do
    if pid="$(ours "$name")"; then kill -TERM "$pid"; pids+=("$name:$pid")
    elif [ -f "$RUN/$name.pid" ]; then echo "[stop.sh] $name ($(cat "$RUN/$name.pid")) was not running"
    fi
    rm -f "$RUN/$name.pid"
  done
  for _ in $(seq 100); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "${p#*:}" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for p in "${pids[@]}"; do
    if kill -0 "${p#*:}" 2>/dev/null; then kill -KILL "${p#*:}"; echo "[stop.sh] ${p%%:*} (${p#*:}) killed"
    else echo "[stop.sh] ${p%%:*} (${p#*:}) stopped"; fi
  done
}

# cancel whatever is still queued or running, so that slurmd has no steps left
if ours slurmctld >/dev/null && command -v scancel >/dev/null; then
  timeout 10 scancel --user=root 2>/dev/null || true
fi
stop slurmd slurmctld
stop munged
if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$SLURM_CONF" ]; then
  rm -f /etc/slurm/slurm.conf
fi
