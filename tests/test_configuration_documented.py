"""Every environment variable the settings read is documented in the README's configuration table."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_read_from_the_environment_is_in_the_readme():
    settings_source = (ROOT / "config" / "settings.py").read_text()
    names = set(
        re.findall(r"""(?:os\.environ\.get|env_bool|env_list)\(\s*["']([A-Z0-9_]+)["']""", settings_source)
    )
    assert {
        "DATABASE_URL",
        "DJANGO_SECRET_KEY",
        "QUORUM_GOVERNED_STORE",
    } <= names  # the pattern still matches
    readme = (ROOT / "README.md").read_text()
    configuration = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    missing = sorted(name for name in names if f"`{name}`" not in configuration)
    assert not missing, f"document these in the README's configuration table: {missing}"
