"""Providers are found in backend/providers/ and through the atelier.providers entry points."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.support.server import ROOT


def test_builtin_providers_are_found_offline_first():
    from backend.providers.registry import ProviderRegistry

    registry = ProviderRegistry.discover({})
    assert registry.ids()[0] == "offline"


def test_a_plugin_installed_as_a_package_is_found_through_its_entry_point(tmp_path):
    site = tmp_path / "site"
    (site / "atelier_plugin_demo").mkdir(parents=True)
    (site / "atelier_plugin_demo" / "__init__.py").write_text(
        textwrap.dedent(
            """
            from backend.providers.base import ModelInfo, Provider

            class DemoProvider(Provider):
                id = "demo"
                label = "Demo plugin"

                def models(self):
                    return [ModelInfo(id="demo-1", label="Demo", sizes={"1:1": (8, 8)})]
            """
        )
    )
    dist = site / "atelier_plugin_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: atelier-plugin-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[atelier.providers]\ndemo = atelier_plugin_demo:DemoProvider\n")
    code = "from backend.providers.registry import ProviderRegistry; print(ProviderRegistry.discover({}).ids())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": f"{ROOT}:{site}", "PATH": "/usr/bin:/bin"},
    ).stdout
    assert "'demo'" in out and out.startswith("['offline'")


def test_providers_import_nothing_of_flask_or_socketio():
    code = (
        "import sys, backend.providers.registry as r; r.ProviderRegistry.discover({});"
        "import backend.storage.gallery_index, backend.storage.job_store, backend.storage.metadata;"
        "web = ('flask', 'flask_socketio', 'socketio', 'engineio');"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in web))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
