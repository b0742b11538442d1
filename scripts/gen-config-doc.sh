#!/usr/bin/env bash
# Regenerate docs/configuration.md from the binary (certgate serve --help / --print-config).
# Usage: scripts/gen-config-doc.sh [path/to/certgate]   (default build/src/cli/certgate)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-build/src/cli/certgate}"
{
cat <<'DOC'
# Configuration: `certgate serve`

```
DOC
"$bin" serve --help
cat <<'DOC'
```

With no options, `certgate serve` runs on the embedded defaults below. A config file holds
`key = value` lines (`#` starts a comment; quote values with `"..."` to keep spaces); command
line options override it. An unknown key or a bad value stops the start with a message that
names the file, the line and the setting, for example:

```
certgate serve: certgate.conf:3: mqtt_port: expected a port number from 0 to 65535, got '99999'
```

The environment variable `CERTGATE_ADMIN_PASSWORD` sets the password of `management/admin`
at the first start; without it a password is generated and printed once on standard output.

## Every setting, with its default

This is the output of `certgate serve --print-config` (a valid config file; the host name
line shows the machine it was generated on). Regenerate this page with
`scripts/gen-config-doc.sh` after changing a setting.

```ini
DOC
"$bin" serve --print-config
echo '```'
cat <<'DOC'

## Files in the data directory

| file | what |
| --- | --- |
| `certgate.db` (+ `-wal`, `-shm`) | the SQLite database (WAL mode, durable commits) |
| `server-ca.pem`, `server-ca.key` | the server CA (created on first start; give `server-ca.pem` to devices; also served at `GET /server-ca.pem`); it also signs the tenant CRLs |
| `server.pem`, `server.key` | the server certificate (localhost, 127.0.0.1, ::1 and the host name), re-issued when it expires within 30 days; not used when `tls_cert`/`tls_key` are set |
| `jwt/` | device-token signing keys (0600 files in a 0700 directory; see docs/design/tokens.md) |

## Signals

| signal | effect |
| --- | --- |
| SIGTERM, SIGINT | graceful stop: stop accepting, close connections, flush, exit 0 |
| SIGHUP | reload the server certificate and key for new connections |
DOC
} > docs/configuration.md
echo "wrote docs/configuration.md"
