"""Every install line in the docs installs this project: a path (a checkout) or the
distribution name in pyproject.toml, never a package index name the project does not own
(``tracelab`` on the index is an unrelated project)."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import REPO_ROOT

PIP = re.compile(r"pip install ([^`\n#;&|(]+)")


def _name() -> str:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["name"]


def _install_targets() -> list[tuple[str, str]]:
    texts = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").rglob("*.md")),
             *sorted((REPO_ROOT / "tracelab").rglob("*.py")), REPO_ROOT / ".ci" / "run"]
    found = []
    for path in texts:
        for match in PIP.finditer(path.read_text()):
            for raw in match.group(1).replace("\\", " ").split():
                word = raw.strip("'\"")
                if word and not word.startswith("-"):
                    found.append((path.name, word))
    return found


def _is_path(word: str) -> bool:
    return word.startswith((".", "/", "~")) or "/" in word.split("[")[0]


def test_install_lines_name_this_project():
    name = _name()
    targets = _install_targets()
    assert len(targets) >= 4  # README's quick start, the Actions recipe, docs, the dask hint
    for where, word in targets:
        requirement = re.split(r"[\[<>=!~ ]", word, maxsplit=1)[0]
        assert _is_path(word) or requirement in (name, "pip"), (
            f"{where}: `pip install {word}` installs a package this project does not publish "
            f"(the distribution is {name!r}); install a checkout by path instead")


def test_distribution_name_is_not_the_unrelated_index_project():
    assert _name() != "tracelab"
