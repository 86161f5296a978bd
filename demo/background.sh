# Background processes of a demo script, each in a process group of its own, ended on every exit
# path: `background CMD…` starts one and sets BG_PID (its pid) and BG_GROUP (its process group); a
# pipeline is started as `set -m; A | B & set +m; started` (BG_PID: its last command); `stop GROUP` ends a group (SIGINT, so rtml
# flushes and prints its summary; SIGKILL after 10 s); the EXIT trap stops every group still
# running, so a failure, Ctrl-C or SIGTERM leaves no `--follow` reader, run or server behind.
# Sourced by demo/run.sh; bash only.

BG_GROUPS=()

# Registers the job just started with job control on.
started() {
  BG_PID=$!
  BG_GROUP=$(jobs -p %+)
  BG_GROUPS+=("$BG_GROUP")
}

background() {
  # Job control on just for this start: the job gets its own process group (the script keeps the
  # terminal, so Ctrl-C still reaches the script and its trap).
  set -m
  "$@" &
  set +m
  started
}

stop() {
  local group=$1 i
  kill -INT -- "-$group" 2> /dev/null || return 0
  for i in $(seq 100); do
    kill -0 -- "-$group" 2> /dev/null || return 0
    sleep 0.1
  done
  kill -KILL -- "-$group" 2> /dev/null || true
}

stop_all() {
  local status=$? group
  trap - EXIT INT TERM
  for group in "${BG_GROUPS[@]}"; do stop "$group"; done
  exit "$status"
}

trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
