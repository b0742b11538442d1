"""The documentation stays true: generated parts match the binary."""
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_configuration_doc_lists_every_setting(certgate):
    doc = (ROOT / "docs" / "configuration.md").read_text()
    printed = certgate("serve", "--print-config", check=0).stdout
    for line in printed.splitlines():
        if line.startswith("hostname ="):
            continue  # machine-specific
        assert line in doc, ("docs/configuration.md lacks %r: regenerate it with "
                               "scripts/gen-config-doc.sh" % line)


def test_configuration_doc_shows_serve_help(certgate):
    doc = (ROOT / "docs" / "configuration.md").read_text()
    for line in certgate("serve", "--help", check=0).stdout.splitlines():
        assert line in doc, "docs/configuration.md lacks the help line %r" % line
