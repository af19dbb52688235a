"""`.ci/run`: the README's test command, and no skip in CI but for a missing browser or GPU."""

import importlib.util
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CI_RUN = ROOT / ".ci" / "run"
spec = importlib.util.spec_from_file_location("check_skips", ROOT / ".ci" / "check_skips.py")
check_skips = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_skips)


def test_ci_runs_the_readmes_test_command_with_the_skip_summary_and_checks_the_skips():
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"## Running the tests\s+```bash\n(.+)\n```", readme)[1]
    assert command == "python -m pytest"
    lines = [line.strip() for line in CI_RUN.read_text().splitlines() if not line.lstrip().startswith("#")]
    runs = [line for line in lines if line.startswith(command)]
    assert len(runs) == 1 and " -rs " in f"{runs[0]} "
    report = re.search(r'--junitxml="?(\$\w+)"?', runs[0])[1]
    checks = [line for line in lines if line.startswith("python .ci/check_skips.py")]
    assert checks == [f'python .ci/check_skips.py "{report}"'] and lines.index(checks[0]) > lines.index(runs[0])
    assert "set -euo pipefail" in lines  # a failing test or a forbidden skip stops CI


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.test_a" name="test_runs" time="0.1"/>
<testcase classname="tests.test_report" name="test_page" time="0.0">
  <skipped type="pytest.skip" message="needs Chromium (apt-get install chromium)">test_report.py:169</skipped></testcase>
<testcase classname="tests.test_gpu" name="test_two_gpus" time="0.0">
  <skipped type="pytest.skip" message="needs a GPU">tests/test_gpu.py:3: needs a GPU</skipped></testcase>
<testcase classname="tests.test_b" name="test_known_bug" time="0.0">
  <skipped type="pytest.xfail" message="ray-project/ray#1"/></testcase>
{more}
</testsuite></testsuites>"""


def test_only_a_missing_browser_or_gpu_may_skip(tmp_path, capsys):
    allowed = tmp_path / "allowed.xml"
    allowed.write_text(JUNIT.format(more=""))
    assert check_skips.main([str(allowed)]) == 0
    assert capsys.readouterr().out == "skips: 2, allowed (no browser, no GPU): 2, not allowed: 0\n"
    photos = tmp_path / "photos.xml"
    photos.write_text(JUNIT.format(more='<testcase classname="tests.test_real_photos" name="test_blur" time="0.0">'
                                        '<skipped type="pytest.skip" message="no real photos at ../shared"/></testcase>'))
    assert check_skips.main([str(photos)]) == 1
    captured = capsys.readouterr()
    assert captured.err == "skipped in CI: tests.test_real_photos::test_blur: no real photos at ../shared\n"
    assert "not allowed: 1" in captured.out


@pytest.mark.slow
def test_the_check_reads_the_report_pytest_writes(tmp_path):
    (tmp_path / "test_sample.py").write_text(textwrap.dedent("""
        import pytest

        def test_runs():
            pass

        @pytest.mark.skipif(True, reason="needs Chromium (apt-get install chromium)")
        def test_browser():
            pass

        def test_gpu():
            pytest.skip("needs a GPU: none visible")

        @pytest.mark.xfail(reason="a known bug")
        def test_known_bug():
            assert False
    """))
    report = tmp_path / "report.xml"
    ran = subprocess.run([sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider", f"--junitxml={report}",
                          "--rootdir", str(tmp_path), str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout
    assert "SKIPPED [1] test_sample.py" in ran.stdout  # -rs: the skip summary
    check = [sys.executable, str(ROOT / ".ci" / "check_skips.py"), str(report)]
    assert subprocess.run(check, capture_output=True).returncode == 0
    # A whole module skipped at collection: allowed for a browser, not for a missing module.
    (tmp_path / "test_page.py").write_text("import pytest\npytest.skip('needs Chromium', allow_module_level=True)\n")
    subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={report}",
                    "--rootdir", str(tmp_path), str(tmp_path)], capture_output=True, cwd=tmp_path)
    assert subprocess.run(check, capture_output=True).returncode == 0
    (tmp_path / "test_more.py").write_text("import pytest\nnbclient = pytest.importorskip('no_such_module_here')\n")
    subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--junitxml={report}",
                    "--rootdir", str(tmp_path), str(tmp_path)], capture_output=True, cwd=tmp_path)
    checked = subprocess.run(check, capture_output=True, text=True)
    assert checked.returncode == 1
    assert checked.stderr == "skipped in CI: ::test_more: could not import 'no_such_module_here': No module named 'no_such_module_here'\n"
