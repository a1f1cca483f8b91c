#!/usr/bin/env bash
# `make run`: start msnd on an embedded SQLite database with a demo account.
set -euo pipefail
BUILD=${1:-build}
MSND="$BUILD/src/msnd/msnd"
MSNC="$BUILD/src/msnc/msnc"
if [ ! -x "$MSND" ]; then
  echo "msnd is not built yet; running the codec self-check instead."
  exec "$BUILD/lib/msnp/msnp-selfcheck"
fi
DEMO_DIR=${MSNKIT_DEMO_DIR:-msnkit-demo}
mkdir -p "$DEMO_DIR"
DB="$DEMO_DIR/msnd.db"
PORT=${MSNKIT_PORT:-1863}
# The whole list is read first: a reader that stops at the first match
# (grep -q) would end `user list` with SIGPIPE, which pipefail counts as
# failure once the list is longer than a pipe holds.
accounts=$("$MSND" user list --db "$DB" 2>/dev/null) || accounts=""
if [[ $'\n'$accounts != *$'\n'demo@msnkit.test$'\t'* ]]; then
  "$MSND" user add --create --db "$DB" demo@msnkit.test demo123 "Demo User" >/dev/null
  "$MSND" user add --db "$DB" friend@msnkit.test friend123 "Demo Friend" >/dev/null
fi
# The two demo accounts have each other on their contact lists, so that the
# scripted /list below has something to show. Lists change only through the
# protocol: a short-lived msnd, and msnc --batch for each account (it waits
# for the server's answers before logging out). Done once per database.
SEEDED="$DEMO_DIR/contacts-added"
if [ ! -e "$SEEDED" ] && [ -x "$MSNC" ]; then
  rm -f "$DEMO_DIR/ports"
  "$MSND" --listen "127.0.0.1:$PORT" --db "$DB" --port-file "$DEMO_DIR/ports" >"$DEMO_DIR/seed.log" 2>&1 &
  seed_pid=$!
  for _ in $(seq 50); do [ -s "$DEMO_DIR/ports" ] && break; sleep 0.1; done
  # exit status 1: the server refused the change (already on the list): done
  ok=1
  rc=0
  echo "/add friend@msnkit.test Demo Friend" |
    MSNC_PASSWORD=demo123 "$MSNC" --batch --no-reconnect -s "127.0.0.1:$PORT" -u demo@msnkit.test >/dev/null || rc=$?
  [ "$rc" -le 1 ] || ok=0
  rc=0
  echo "/add demo@msnkit.test Demo User" |
    MSNC_PASSWORD=friend123 "$MSNC" --batch --no-reconnect -s "127.0.0.1:$PORT" -u friend@msnkit.test >/dev/null || rc=$?
  [ "$rc" -le 1 ] || ok=0
  kill "$seed_pid" 2>/dev/null || true
  wait "$seed_pid" 2>/dev/null || true
  rm -f "$DEMO_DIR/ports"
  if [ "$ok" = 1 ]; then
    touch "$SEEDED"
  else
    echo "note: the demo contact lists could not be filled (see $DEMO_DIR/seed.log)"
  fi
fi
cat <<MSG
msnd: dispatch, notification and switchboard server on 127.0.0.1:$PORT
  database:  $DB
  accounts:  demo@msnkit.test / demo123     friend@msnkit.test / friend123
  connect:   $BUILD/src/msnc/msnc -s 127.0.0.1:$PORT -u demo@msnkit.test   (asks for the password)
  a friend:  the same with -u friend@msnkit.test in another terminal, then   /chat demo@msnkit.test
  scripted:  echo /list | MSNC_PASSWORD=demo123 $BUILD/src/msnc/msnc --batch -s 127.0.0.1:$PORT -u demo@msnkit.test
  stop:      Ctrl-C (clients get OUT SSD)
MSG
exec "$MSND" --listen "127.0.0.1:$PORT" --db "$DB"
