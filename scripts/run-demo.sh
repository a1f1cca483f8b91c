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
if ! "$MSND" user list --db "$DB" 2>/dev/null | grep -q '^demo@msnkit.test'; then
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
