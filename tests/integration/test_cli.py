"""The certgate command line itself: help, version, unknown commands."""


def test_help_lists_every_command(certgate):
    out = certgate("--help", check=0).stdout
    for name in ("verify", "pki", "bench", "version"):
        assert name in out


def test_version(certgate):
    assert certgate("version", check=0).stdout.startswith("certgate ")


def test_unknown_command_is_a_usage_error(certgate):
    proc = certgate("frobnicate", check=2)
    assert "unknown command 'frobnicate'" in proc.stderr


def test_no_arguments_is_a_usage_error(certgate):
    certgate(check=2)
