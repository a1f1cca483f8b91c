#!/usr/bin/env bash
# `make run`: start msnd on an embedded SQLite database with a demo account.
set -euo pipefail
BUILD=${1:-build}
MSND="$BUILD/src/msnd/msnd"
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
