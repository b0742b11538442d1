"""docs/api/tokens.md: every marked block runs as written, in order, in one shell."""
import json
import os
import pathlib
import re
import shutil
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "api" / "tokens.md"
ORDER = ["setup", "token", "use", "publish", "logout"]


def blocks():
    return dict(re.findall(r"<!-- test:([\w-]+) -->\n```sh\n(.*?)```", DOC.read_text(), re.S))


def test_every_block_is_run():
    assert sorted(blocks()) == sorted(ORDER)


def test_token_walkthrough(server, tmp_path, certgate_bin):
    tid, _ = server.create_tenant("tokdoc", password="tenant-secret-1")
    shutil.copy(server.ca_path, tmp_path / "server-ca.pem")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "certgate").symlink_to(certgate_bin)
    script = "set -euo pipefail\n" + "".join("echo '@@@%s'\n%s\n" % (n, blocks()[n])
                                               for n in ORDER)
    env = dict(os.environ, C8Y=server.base, TENANT=tid, AUTH="%s/admin:tenant-secret-1" % tid,
               PATH="%s:%s" % (bindir, os.environ["PATH"]))
    p = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    out = {}
    for part in p.stdout.split("@@@")[1:]:
        name, _, text = part.partition("\n")
        out[name] = text
    assert re.fullmatch(r"[0-9a-f]{40}\n", out["setup"])
    assert json.loads(out["token"]) == {"sub": "device_token-dev-01", "ten": tid}
    assert out["use"] == "device_token-dev-01\n"
    assert out["publish"].count('"topic":"devices/token-dev-01/temperature"') == 2
    assert out["logout"] == "200\n401\n"
